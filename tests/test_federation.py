"""cropcube in an openEO federation: the real openeo-aggregator (PyPI) in front of two cropcube
servers on loopback with different collections, one OpenID Connect provider for all three,
driven with the `openeo` client as a federation's user drives it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openeo
import pytest
import rasterio
import requests

from helpers.aggregator import start_aggregator, stop_aggregator
from helpers.bad_inputs import load_graph
from helpers.oidc import OPAQUE_DEVICE, device_display, start_provider
from helpers.reference import ndvi_stack
from helpers.scene import TEST_BOX
from helpers.serverctl import start_server, stop_server

pytestmark = pytest.mark.heavy


def only_collections(catalog: Path, ids: list[str], out: Path) -> Path:
    """A root catalog of some of the demo catalog's collections: a member's own data."""
    doc = json.loads(catalog.read_text())
    doc["links"] = [
        {**link, "href": str((catalog.parent / link["href"]).resolve())}
        for link in doc["links"]
        if link["rel"] == "child" and Path(link["href"]).parent.name in ids
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "catalog.json").write_text(json.dumps(doc))
    return out / "catalog.json"


@pytest.fixture(scope="module")
def federation(demo_catalog, tmp_path_factory):
    """The provider, member `s2` (Sentinel-2, no UDF sandbox), member `labels` (the crop
    labels, run_udf on), and the aggregator in front of them."""
    tmp = tmp_path_factory.mktemp("federation")
    provider = start_provider(tmp)
    settings = provider.settings()
    env = {"CROPCUBE_OIDC_PROVIDERS": json.dumps(settings), "CROPCUBE_WORKERS": "1"}
    members = {}
    try:
        members["s2"] = start_server(
            tmp / "s2",
            {
                **env,
                "CROPCUBE_STAC_URL": str(
                    only_collections(demo_catalog, ["SENTINEL2_L2A"], tmp / "s2-stac")
                ),
                "CROPCUBE_UDF_SANDBOX": "off",
                "CROPCUBE_SYNC_MAX_VALUES": "20000000",
            },
        )
        members["labels"] = start_server(
            tmp / "labels",
            {
                **env,
                "CROPCUBE_STAC_URL": str(
                    only_collections(demo_catalog, ["CROP_LABELS"], tmp / "labels-stac")
                ),
            },
        )
        agg = start_aggregator(
            tmp, {name: m.root + "/" for name, m in members.items()}, settings[0]
        )
    except Exception:
        for m in members.values():
            stop_server(m)
        provider.stop()
        raise
    yield {"provider": provider, "members": members, "aggregator": agg}
    stop_aggregator(agg)
    for m in members.values():
        stop_server(m)
    provider.stop()


@pytest.fixture(scope="module")
def user(federation):
    """dora, logged in at the aggregator through the device flow (opaque tokens: the
    aggregator checks them at the provider's userinfo endpoint, as do the members)."""
    answered: list[str] = []
    return openeo.connect(federation["aggregator"].url).authenticate_oidc_device(
        client_id=OPAQUE_DEVICE,
        provider_id="local",
        display=device_display("dora", answered),
        max_poll_time=60,
    )


def test_the_aggregator_merges_collections_and_processes(federation, user):
    collections = user.get("/collections").json()
    assert collections["federation:missing"] == []
    by_id = {c["id"]: c for c in collections["collections"]}
    assert set(by_id) == {"SENTINEL2_L2A", "CROP_LABELS"}
    s2 = user.describe_collection("SENTINEL2_L2A")
    assert s2["summaries"]["federation:backends"] == ["s2"]
    assert user.describe_collection("CROP_LABELS")["summaries"]["federation:backends"] == ["labels"]
    processes = user.get("/processes").json()
    assert processes["federation:missing"] == []
    by_id = {p["id"]: p for p in processes["processes"]}
    assert {"load_collection", "monthly_composite", "lstm_classify", "run_udf"} <= set(by_id)
    # run_udf only where users' code can run: the s2 member has no sandbox.
    assert by_id["run_udf"]["federation:backends"] == ["labels"]
    assert sorted(by_id["ndvi"]["federation:backends"]) == ["labels", "s2"]


def test_a_synchronous_graph_goes_to_the_member_with_its_collection(
    federation, user, demo_catalog, tmp_path
):
    cube = user.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-07-01"],
        bands=["B04", "B08"],
    )
    out = tmp_path / "ndvi.tif"
    cube.ndvi(nir="B08", red="B04").reduce_dimension(dimension="t", reducer="max").download(
        out, format="GTiff"
    )
    expected = np.nanmax(ndvi_stack(demo_catalog, "2022-06-01", "2022-07-01", TEST_BOX), axis=0)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    # The s2 member computed it, for dora as the provider knows her.
    members = federation["members"]
    assert "result r-" in members["s2"].log.read_text()
    assert "of local:dora" in members["s2"].log.read_text()
    assert "result r-" not in members["labels"].log.read_text()
    labels = user.load_collection("CROP_LABELS", spatial_extent=TEST_BOX)
    out = tmp_path / "labels.tif"
    labels.download(out, format="GTiff")
    assert "result r-" in members["labels"].log.read_text()
    # A member's openEO error comes through the aggregator as the member said it.
    bad = load_graph(bands=["B99"])
    with pytest.raises(openeo.rest.OpenEoApiError) as err:
        user.download(bad, tmp_path / "none.tif")
    assert err.value.http_status_code == 400 and err.value.code == "ProcessParameterInvalid"
    assert "B99" in err.value.message
    # Members answer the federation's health checks without a login.
    for member in members.values():
        assert requests.get(f"{member.url}/health", timeout=10).json()["status"] == "ok"


def test_a_batch_job_through_the_aggregator(federation, user, tmp_path):
    cube = user.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=TEST_BOX,
        temporal_extent=["2022-06-01", "2022-06-15"],
        bands=["B04", "B08"],
    )
    job = cube.ndvi(nir="B08", red="B04").max_time().create_job(out_format="GTiff", title="fed")
    assert job.job_id.startswith("s2-")  # the aggregator's id: member and the member's id
    job.start_and_wait(max_poll_interval=1)
    assert job.status() == "finished"
    messages = [e["message"] for e in job.logs()]
    assert messages[0] == "Job created." and any("finished" in m for m in messages)
    paths = job.get_results().download_files(tmp_path)
    tif = next(p for p in paths if p.suffix == ".tif")
    with rasterio.open(tif) as src:
        assert src.read(1).shape == (84, 96)
    assert job.job_id in [j["id"] for j in user.list_jobs()]
    job.delete()
    assert job.job_id not in [j["id"] for j in user.list_jobs()]


def test_a_user_defined_process_through_the_aggregator(federation, user):
    graph = {
        "double": {
            "process_id": "multiply",
            "arguments": {"x": {"from_parameter": "x"}, "y": 2},
            "result": True,
        }
    }
    udp = user.save_user_defined_process(
        "double", graph, parameters=[{"name": "x", "schema": {"type": "number"}}]
    )
    assert "double" in [p["id"] for p in user.list_user_defined_processes()]
    result = user.execute(
        {"d": {"process_id": "double", "arguments": {"x": 21}, "namespace": "user", "result": True}}
    )
    assert result == 42
    udp.delete()
