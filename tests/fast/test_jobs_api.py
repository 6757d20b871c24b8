"""The batch-job API without a worker: create, edit, list, page, own, estimate."""

from __future__ import annotations

import pytest

from helpers.jobs import ndvi_graph
from helpers.scene import TEST_BOX

API = "/openeo/1.2"
BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SCL"]


def _create(client, headers, graph: dict, **fields) -> str:
    r = client.post(
        f"{API}/jobs", json={"process": {"process_graph": graph}, **fields}, headers=headers
    )
    assert r.status_code == 201, r.data
    return r.headers["OpenEO-Identifier"]


def test_create_patch_list_delete(client, alice_headers):
    body = {
        "process": {"process_graph": ndvi_graph()},
        "title": "t1",
        "description": "d",
        "plan": "free",
        "budget": 5,
        "log_level": "warning",
        "custom-option": 1,
    }
    r = client.post(f"{API}/jobs", json=body, headers=alice_headers)
    assert r.status_code == 201
    job_id = r.headers["OpenEO-Identifier"]
    assert r.headers["Location"] == f"http://localhost{API}/jobs/{job_id}"
    doc = client.get(f"{API}/jobs/{job_id}", headers=alice_headers).json
    assert doc["status"] == "created" and doc["budget"] == 5 and doc["log_level"] == "warning"
    assert doc["process"]["process_graph"]["load"]["process_id"] == "load_collection"
    assert doc["created"].endswith("Z") and doc["updated"].endswith("Z")
    patch = client.patch(f"{API}/jobs/{job_id}", json={"title": "t2"}, headers=alice_headers)
    assert patch.status_code == 204
    assert client.get(f"{API}/jobs/{job_id}", headers=alice_headers).json["title"] == "t2"
    r = client.patch(f"{API}/jobs/{job_id}", json={"status": "finished"}, headers=alice_headers)
    assert r.status_code == 400 and r.json["code"] == "PropertyNotEditable"
    assert client.patch(f"{API}/jobs/{job_id}", json={}, headers=alice_headers).status_code == 204
    r = client.post(f"{API}/jobs", json={"title": "no graph"}, headers=alice_headers)
    assert r.status_code == 400 and r.json["code"] == "ProcessGraphMissing"
    r = client.get(f"{API}/jobs/{job_id}/results", headers=alice_headers)
    assert r.status_code == 400 and r.json["code"] == "JobNotFinished"
    ids = [_create(client, alice_headers, ndvi_graph(), title=f"page {i}") for i in range(3)]
    page = client.get(f"{API}/jobs?limit=2", headers=alice_headers).json
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    nxt = client.get(page["links"][0]["href"], headers=alice_headers).json
    assert nxt["jobs"][0]["id"] == ids[0]
    assert client.delete(f"{API}/jobs/{job_id}", headers=alice_headers).status_code == 204
    assert client.get(f"{API}/jobs/{job_id}", headers=alice_headers).status_code == 404


def test_unset_optional_fields_are_left_out_not_null(client, alice_headers):
    """The spec allows null, but its validators (the official suite's) reject it."""
    job_id = _create(client, alice_headers, ndvi_graph())
    listed = client.get(f"{API}/jobs", headers=alice_headers).json["jobs"][0]
    one = client.get(f"{API}/jobs/{job_id}", headers=alice_headers).json
    for doc in (listed, one):
        assert None not in doc.values(), doc
        assert not {"title", "description", "plan", "budget"} & set(doc)
        assert {"id", "status", "created"} <= set(doc)


def test_jobs_belong_to_their_user(client, alice_headers, bob_headers):
    job_id = _create(client, alice_headers, ndvi_graph(), title="alice's")
    for method, path in [
        ("GET", ""),
        ("GET", "/logs"),
        ("GET", "/results"),
        ("POST", "/results"),
        ("DELETE", "/results"),
        ("GET", "/estimate"),
        ("DELETE", ""),
    ]:
        r = client.open(f"{API}/jobs/{job_id}{path}", method=method, headers=bob_headers)
        assert r.status_code == 404 and r.json["code"] == "JobNotFound", (method, path)
    r = client.patch(f"{API}/jobs/{job_id}", json={"title": "mine"}, headers=bob_headers)
    assert r.status_code == 404
    listed = client.get(f"{API}/jobs", headers=bob_headers).json["jobs"]
    assert job_id not in [j["id"] for j in listed]
    assert client.get(f"{API}/jobs/{job_id}", headers=alice_headers).json["title"] == "alice's"


def _load(collection: str = "SENTINEL2_L2A", **args) -> dict:
    return {
        "process_id": "load_collection",
        "arguments": {"id": collection, "spatial_extent": TEST_BOX, **args},
    }


def _fit_graph() -> dict:
    return {
        "load": _load(temporal_extent=["2021-09-01", "2022-09-01"], bands=BANDS),
        "comp": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "load"}}},
        "lab": _load("CROP_LABELS", temporal_extent=None),
        "fit": {
            "process_id": "fit_lstm_classifier",
            "arguments": {
                "predictors": {"from_node": "comp"},
                "target": {"from_node": "lab"},
                "epochs": 200,
                "hidden": 48,
            },
        },
        "save": {
            "process_id": "save_ml_model",
            "arguments": {"data": {"from_node": "fit"}},
            "result": True,
        },
    }


def test_estimate_sizes_the_result_without_computing(client, alice_headers):
    job_id = _create(client, alice_headers, ndvi_graph())
    est = client.get(f"{API}/jobs/{job_id}/estimate", headers=alice_headers).json
    assert est["costs"] == 0 and est["size"] == 84 * 96 * 4  # float32 NDVI of the box


def test_estimate_of_a_training_job_trains_nothing(client, alice_headers):
    """200 epochs of training would take minutes; the estimate plans the model instead."""
    job_id = _create(client, alice_headers, _fit_graph())
    r = client.get(f"{API}/jobs/{job_id}/estimate", headers=alice_headers)
    assert r.status_code == 200, r.json
    # The planned model has the asked shape: 2 LSTM layers (default) of 48 units over the
    # 9 bands the classifier reads, a head to 16 classes, a mean and scale per band.
    lstm = 4 * 48 * (9 + 48 + 2) + 4 * 48 * (48 + 48 + 2)
    head = 2 * 48 * 16 + 16
    assert r.json["size"] == 4 * (lstm + head + 2 * 9)  # float32


def test_estimate_of_a_job_that_uses_a_model_still_being_trained(client, alice_headers):
    trainer = _create(client, alice_headers, _fit_graph())
    user = {
        "m": {"process_id": "load_ml_model", "arguments": {"id": trainer}},
        "load": _load(temporal_extent=["2021-09-01", "2022-09-01"], bands=BANDS),
        "comp": {"process_id": "monthly_composite", "arguments": {"data": {"from_node": "load"}}},
        "c": {
            "process_id": "lstm_classify",
            "arguments": {"data": {"from_node": "comp"}, "model": {"from_node": "m"}},
        },
        "s": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "c"}, "format": "GTiff"},
            "result": True,
        },
    }
    job_id = _create(client, alice_headers, user)
    r = client.get(f"{API}/jobs/{job_id}/estimate", headers=alice_headers)
    assert r.status_code == 200, r.json
    assert r.json["size"] == 84 * 96  # one uint8 class band
    # Running it now still fails as it should: the model is not there yet.
    r = client.post(
        f"{API}/result", json={"process": {"process_graph": user}}, headers=alice_headers
    )
    assert r.status_code == 400 and "not finished" in r.json["message"]


@pytest.mark.parametrize("ref", ["j-doesnotexist", "https://127.0.0.1/model.pt"])
def test_estimate_refuses_models_that_cannot_be_had(client, alice_headers, ref):
    graph = {"m": {"process_id": "load_ml_model", "arguments": {"id": ref}, "result": True}}
    job_id = _create(client, alice_headers, graph)
    r = client.get(f"{API}/jobs/{job_id}/estimate", headers=alice_headers)
    assert r.status_code == 400 and r.json["code"] == "ProcessParameterInvalid", r.json


@pytest.mark.parametrize(
    ("fit", "arguments", "weights"),
    [
        # bidirectional LSTM of 16 units over 5 inputs, a head to 3 quantiles
        ("fit_ndvi_forecaster", {"hidden": 16}, 2 * 4 * 16 * (5 + 16 + 2) + 2 * 16 * 3 + 3),
        ("fit_unet_segmenter", {"widths": "8,16"}, None),
    ],
)
def test_estimates_of_the_other_training_processes(client, alice_headers, fit, arguments, weights):
    graph = _fit_graph()
    graph["fit"] = {"process_id": fit, "arguments": {**arguments, "epochs": 500}}
    if fit == "fit_ndvi_forecaster":
        graph["fit"]["arguments"]["data"] = {"from_node": "load"}
        graph.pop("comp"), graph.pop("lab")
    else:
        graph["fit"]["arguments"].update(
            predictors={"from_node": "comp"}, target={"from_node": "lab"}
        )
    job_id = _create(client, alice_headers, graph)
    r = client.get(f"{API}/jobs/{job_id}/estimate", headers=alice_headers)
    assert r.status_code == 200, r.json
    if weights is not None:
        assert r.json["size"] == 4 * weights
    else:  # a U-Net of two levels over 12 months x 10 bands: thousands of weights, not more
        assert 4 * 10_000 < r.json["size"] < 4 * 200_000
