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
        assert src.overviews(1) == [2, 4]  # until a level fits one 256 px tile
        assert src.block_shapes[0] == (256, 256)
    assert layout["LAYOUT"] == "COG"
    assert layout.get("COMPRESSION", "NONE") == compression.upper()
    assert layout.get("PREDICTOR") == (None if compression == "none" else "2")
    assert not list(tmp_path.glob("*.part.tif"))  # the scratch file is gone


def _gdal_cog(values: np.ndarray, path, transform) -> None:
    """The same raster made a COG by GDAL alone, overviews built by GDAL (nearest)."""
    import rasterio.shutil

    plain = path.with_suffix(".plain.tif")
    with rasterio.open(
        plain,
        "w",
        driver="GTiff",
        width=values.shape[2],
        height=values.shape[1],
        count=values.shape[0],
        dtype=values.dtype,
        crs="EPSG:32632",
        transform=transform,
    ) as dst:
        dst.write(values)
    rasterio.shutil.copy(plain, path, driver="COG", overview_resampling="nearest", blocksize=256)


@pytest.mark.parametrize(
    ("height", "width", "chunk"),
    [
        (1024, 1536, 256),
        (1024, 1536, 300),
        (2048, 520, 512),
        (513, 200, 100),
        (515, 2049, 256),
        (250, 200, 256),
    ],
)
def test_overviews_sampled_while_streaming_are_gdals(tmp_path, height, width, chunk):
    """The levels and their sizes are those GDAL would make; every overview pixel is the
    first of its f x f pixels, as in GDAL's own nearest overviews where the sides are
    multiples of f, whatever the chunks (aligned to the factors or not)."""
    rng = np.random.default_rng(1)
    values = rng.integers(0, 250, (2, height, width)).astype(np.uint8)
    cube = xr.DataArray(
        values,
        dims=("bands", "y", "x"),
        coords={
            "bands": ["a", "b"],
            "y": 5e6 - 10.0 * np.arange(height),
            "x": 6e5 + 10.0 * np.arange(width),
        },
        attrs={"crs": "EPSG:32632"},
    ).chunk({"x": chunk, "y": chunk, "bands": 1})
    ours, theirs = tmp_path / "ours.tif", tmp_path / "gdal.tif"
    write_gtiff(cube, ours, {})
    with rasterio.open(ours) as src:
        transform = src.transform
    _gdal_cog(values, theirs, transform)
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        assert a.overviews(1) == b.overviews(1)
        assert a.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        for level, f in enumerate(a.overviews(1)):
            with (
                rasterio.open(ours, overview_level=level) as oa,
                rasterio.open(theirs, overview_level=level) as ob,
            ):
                assert oa.shape == ob.shape
                np.testing.assert_array_equal(
                    oa.read(), values[:, ::f, ::f][:, : height // f, : width // f]
                )
                if height % f == 0 and width % f == 0:
                    np.testing.assert_array_equal(oa.read(), ob.read())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gdal.plain.tif",
        "gdal.tif",
        "ours.tif",
    ]  # no scratch file, level or VRT left


class _Recording:
    """A real dataset that remembers the windows written to it."""

    def __init__(self, dst) -> None:
        self.dst, self.windows = dst, []

    def __getattr__(self, name: str):
        return getattr(self.dst, name)

    def write(self, array, window=None, **kwargs) -> None:
        self.windows.append((window.row_off, window.col_off, window.height, window.width))
        self.dst.write(array, window=window, **kwargs)


@pytest.mark.parametrize("chunk", [256, 100, 300])
def test_every_tile_is_written_once_and_whole(tmp_path, chunk):
    """Blocks that cut the tiles, and bands in separate blocks, still give each tile of the
    raster and of each overview level in one write (a compressed tile written in parts
    is stored once per part)."""
    from formats.overviews import Overviews, _Level

    height, width, bands = 700, 900, 3
    values = np.random.default_rng(2).random((bands, height, width)).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": "float32",
        "crs": "EPSG:32632",
        "transform": rasterio.Affine(10, 0, 6e5, 0, -10, 5e6),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "zstd",
    }
    scratch = tmp_path / "s.tif"
    with rasterio.open(scratch, "w", **profile) as dst:
        pyramid = Overviews(scratch, _Recording(dst), profile)
        pyramid.levels = [_Level(lv.f, _Recording(lv.dst)) for lv in pyramid.levels]
        for b in range(bands):
            for y in range(0, height, chunk):
                for x in range(0, width, chunk):
                    rows, cols = slice(y, min(y + chunk, height)), slice(x, min(x + chunk, width))
                    pyramid.add([b + 1], rows, cols, values[b : b + 1, rows, cols])
        recorded = [(lv.f, lv.dst.windows, lv.dst.height, lv.dst.width) for lv in pyramid.levels]
        pyramid.finish()
    assert [f for f, *_ in recorded] == [1, 2, 4]
    for _, windows, h, w in recorded:
        tiles = [
            (r, c, min(256, h - r), min(256, w - c))
            for r in range(0, h, 256)
            for c in range(0, w, 256)
        ]
        assert sorted(windows) == sorted(tiles)
    for f in [1, 2, 4]:
        with rasterio.open(scratch if f == 1 else tmp_path / f"s.tif.ovr{f}.tif") as src:
            np.testing.assert_array_equal(
                src.read(), values[:, ::f, ::f][:, : height // f, : width // f]
            )
