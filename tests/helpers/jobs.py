"""Process graphs, polling and error checks shared by the server tests."""

from __future__ import annotations

import time

import psutil
import requests

from helpers.scene import TEST_BOX


def ndvi_graph(
    start: str = "2022-06-01", end: str = "2022-07-01", box: dict | None = None, fmt: str = "GTiff"
) -> dict:
    return {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": box or TEST_BOX,
                "temporal_extent": [start, end],
                "bands": ["B04", "B08"],
            },
        },
        "ndvi": {
            "process_id": "ndvi",
            "arguments": {"data": {"from_node": "load"}, "nir": "B08", "red": "B04"},
        },
        "max": {
            "process_id": "reduce_dimension",
            "arguments": {
                "data": {"from_node": "ndvi"},
                "dimension": "t",
                "reducer": {
                    "process_graph": {
                        "m": {
                            "process_id": "max",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "max"}, "format": fmt},
            "result": True,
        },
    }


def slow_graph(bands: list[str] | None = None) -> dict:
    """Monthly medians of every band (or of `bands`) over the whole scene: several seconds
    of real work."""
    load = {"id": "SENTINEL2_L2A", "spatial_extent": None, "temporal_extent": None}
    if bands:
        load["bands"] = bands
    return {
        "load": {"process_id": "load_collection", "arguments": load},
        "agg": {
            "process_id": "aggregate_temporal_period",
            "arguments": {
                "data": {"from_node": "load"},
                "period": "month",
                "reducer": {
                    "process_graph": {
                        "m": {
                            "process_id": "median",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "agg"}, "format": "netCDF"},
            "result": True,
        },
    }


class Api:
    """A logged-in user of the HTTP API (requests), for what the client does not expose."""

    def __init__(self, url: str, user: str, password: str):
        self.url = url
        token = requests.get(f"{url}/credentials/basic", auth=(user, password), timeout=30)
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer basic//{token.json()['access_token']}"}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.url + path, headers=self.headers, timeout=60, **kwargs)

    def create(self, graph: dict, **fields) -> str:
        r = self.request("POST", "/jobs", json={"process": {"process_graph": graph}, **fields})
        assert r.status_code == 201, r.text
        return r.headers["OpenEO-Identifier"]

    def start(self, job_id: str) -> None:
        r = self.request("POST", f"/jobs/{job_id}/results")
        assert r.status_code == 202, r.text

    def status(self, job_id: str) -> str:
        return self.request("GET", f"/jobs/{job_id}").json()["status"]

    def wait(self, job_id: str, states: set[str], timeout: float = 120) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status(job_id)
            if status in states:
                return status
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} still {self.status(job_id)} after {timeout} s")

    def logs(self, job_id: str, **params) -> list[dict]:
        r = self.request("GET", f"/jobs/{job_id}/logs", params=params)
        assert r.status_code == 200, r.text
        return r.json()["logs"]


def assert_parameter_invalid(
    url: str, headers: dict, graph: dict, parameter: str, words: str
) -> None:
    """POST /result refuses the graph: 400 ProcessParameterInvalid naming `parameter` with
    `words` in the message, and no stack trace."""
    r = requests.post(
        f"{url}/result", json={"process": {"process_graph": graph}}, headers=headers, timeout=120
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "ProcessParameterInvalid", body
    assert f"'{parameter}'" in body["message"] and words in body["message"], body
    assert "Traceback" not in r.text


def job_workers(server) -> list[psutil.Process]:
    """The job workers of a `cropcube serve`: the children of its `cropcube worker`
    supervisor (each running job is a child of one of them)."""
    return [
        worker
        for supervisor in psutil.Process(server.process.pid).children()
        if "worker" in supervisor.cmdline()
        for worker in supervisor.children()
    ]
