"""The GTiff writer: a COG that gives back every value it was handed, whatever compression."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr

from formats.gtiff import write_gtiff


@pytest.mark.parametrize("compression", ["deflate", "zstd", "lzw", "none"])
def test_every_compression_is_lossless_and_a_cog(tmp_path, compression):
    rng = np.random.default_rng(0)
    values = rng.random((3, 600, 700)).astype(np.float32)
    values[0, :5, :5] = np.nan
    cube = xr.DataArray(
        values,
        dims=("bands", "y", "x"),
        coords={
            "bands": ["a", "b", "c"],
            "y": 5e6 - 10.0 * np.arange(600),
            "x": 6e5 + 10.0 * np.arange(700),
        },
        attrs={"crs": "EPSG:32632"},
    ).chunk({"x": 256, "y": 256})
    path = tmp_path / "out.tif"
    write_gtiff(cube, path, {"compression": compression})
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(), values)
        layout = src.tags(ns="IMAGE_STRUCTURE")
        assert src.overviews(1) == [2]
    assert layout["LAYOUT"] == "COG"
    assert layout.get("COMPRESSION", "NONE") == compression.upper()
    assert layout.get("PREDICTOR") == (None if compression == "none" else "2")
    assert not list(tmp_path.glob("*.part.tif"))  # the scratch file is gone
