"""Band names resolve to the asset keys other STAC catalogs use (Earth Search style)."""

from __future__ import annotations

import datetime as dt

import pystac
import pytest

from core.errors import ProcessParameterInvalid
from core.settings import Settings
from sources.catalog import Catalog, _asset_key


def _earth_search_like_item() -> pystac.Item:
    item = pystac.Item("S2B_32TPS_20220601_0_L2A", None, None, dt.datetime(2022, 6, 1), {})
    for key, name in [
        ("blue", "blue"),
        ("red", "red"),
        ("rededge1", "rededge1"),
        ("rededge2", "rededge2"),
        ("rededge3", "rededge3"),
        ("nir", "nir"),
        ("nir08", "nir08"),
        ("swir16", "swir16"),
        ("scl", "scl"),
    ]:
        item.add_asset(
            key,
            pystac.Asset(
                f"https://example.invalid/{key}.tif", extra_fields={"eo:bands": [{"name": name}]}
            ),
        )
    return item


def test_asset_keys_of_another_catalog(demo_catalog):
    coll = Catalog(Settings(stac_url=str(demo_catalog))).get("SENTINEL2_L2A")
    item = _earth_search_like_item()
    resolved = {
        b: _asset_key(item, coll, b)
        for b in ("B02", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "SCL")
    }
    assert resolved == {
        "B02": "blue",
        "B04": "red",
        "B05": "rededge1",
        "B06": "rededge2",
        "B07": "rededge3",
        "B08": "nir",
        "B8A": "nir08",
        "B11": "swir16",
        "SCL": "scl",
    }
    with pytest.raises(ProcessParameterInvalid):
        _asset_key(item, coll, "B12")
