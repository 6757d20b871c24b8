"""The read path without warping (sources/cog_reader.py) against odc-stac's warp: the same
values, dates and coordinates; each read block read once however many chunks share it;
odc-stac where the grids do not line up; a broken file named, not a stack trace."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine

from core.errors import Internal
from core.settings import Settings
from formats.blocks import iter_blocks
from sources import catalog as catalog_module
from sources import cog_reader
from sources.catalog import Catalog

BANDS = ["B02", "B05", "B08", "B11", "SCL"]  # 10 m and 20 m reflectance, and the class band
JUNE = ["2022-06-01", "2022-07-01"]


def _both(cat: Catalog, monkeypatch, extent=None, bands=BANDS, span=JUNE):
    """The cube read without warping, then the same cube warped by odc-stac."""
    ours = cat.load("SENTINEL2_L2A", extent, span, bands).compute()
    with monkeypatch.context() as m:
        m.setattr(cog_reader, "plan", lambda *a, **k: None)
        warped = cat.load("SENTINEL2_L2A", extent, span, bands).compute()
    return ours, warped


def _same(ours, warped) -> None:
    assert ours.dims == warped.dims and ours.shape == warped.shape
    for name in ("t", "bands", "y", "x"):
        np.testing.assert_array_equal(ours[name].values, warped[name].values)
    assert ours.attrs == warped.attrs
    np.testing.assert_array_equal(ours.values, warped.values)  # bit for bit, NaN where NaN


@pytest.fixture(scope="module")
def cat(demo_catalog: Path) -> Catalog:
    return Catalog(Settings(stac_url=str(demo_catalog), dask_chunk_px=1024))


def test_whole_scene_equals_the_warp(cat, monkeypatch):
    ours, warped = _both(cat, monkeypatch)
    assert ours.sizes["t"] > 5 and np.isfinite(ours.values).mean() > 0.9
    _same(ours, warped)


def test_box_off_the_20m_grid_equals_the_warp(cat, monkeypatch):
    # West and north edges 10 m off the 20 m grid: each 20 m pixel falls across two
    # output columns differently than on the scene's own grid.
    # A year of dates: 256 px chunks, 10 m read per chunk, 20 m through shared blocks.
    box = {"west": 679010, "east": 680370, "south": 5150330, "north": 5151690, "crs": 32632}
    year = ["2021-09-01", "2022-09-01"]
    ours, warped = _both(cat, monkeypatch, box, ["B02", "B11", "SCL"], year)
    assert ours.sizes["x"] == 136 and ours.sizes["y"] == 136 and ours.sizes["t"] > 100
    _same(ours, warped)


def test_polygon_and_lonlat_box_equal_the_warp(cat, monkeypatch):
    box = {"west": 11.355, "south": 46.495, "east": 11.37, "north": 46.505}
    ours, warped = _both(cat, monkeypatch, box, ["B04", "B8A"], ["2022-05-01", "2022-05-20"])
    _same(ours, warped)


@pytest.mark.parametrize(
    "box",
    [
        None,  # the scene: chunks on the tiles
        # 10 m off the 20 m grid, over the scene's west edge: chunks straddle the blocks
        {"west": 679010, "east": 680370, "south": 5150330, "north": 5151690, "crs": 32632},
    ],
)
def test_each_shared_block_is_read_once(demo_catalog, monkeypatch, box):
    """Chunks of 50 px; a month of dates makes read blocks of whole COG tiles, which hold
    the 200 px scene: computed one chunk at a time, as the writer computes them, each
    band's block is read once, not once per chunk, and let go when the last chunk that
    needs it has taken it."""
    cat = Catalog(Settings(stac_url=str(demo_catalog)))
    reads: list[tuple] = []
    real = cog_reader.read_block

    def counting(plan, rows, cols, threads=1):
        reads.append((plan.key, rows, cols))
        return real(plan, rows, cols, threads)

    monkeypatch.setattr(cog_reader, "read_block", counting)
    monkeypatch.setattr(cog_reader, "CACHE", cog_reader.BlockCache())
    monkeypatch.setattr(catalog_module, "_chunk_px", lambda n_times, max_px: 50)
    cube = cat.load("SENTINEL2_L2A", box, JUNE, ["B05", "B08"])
    n_chunks = np.prod(cube.data.numblocks)
    assert n_chunks >= 9
    assert len(list(iter_blocks(cube.data))) == n_chunks
    assert len(reads) == len(set(reads)), reads  # no block read twice
    if box is None:
        assert sorted(r[0] for r in reads) == ["B05", "B08"], reads  # one block holds all
    assert cog_reader.CACHE.nbytes == 0


def test_chunks_fall_on_the_cog_tiles(demo_catalog, monkeypatch):
    monkeypatch.setattr(catalog_module, "_chunk_px", lambda n_times, max_px: 64)
    cat = Catalog(Settings(stac_url=str(demo_catalog)))
    box = {"west": 679010, "east": 680370, "south": 5150330, "north": 5151690, "crs": 32632}
    cube = cat.load("SENTINEL2_L2A", box, JUNE, ["B02"])
    with rasterio.open(_first_asset(demo_catalog, "B02")) as src:
        col0 = round((box["west"] - src.transform.c) / 10)
        row0 = round((src.transform.f - box["north"]) / 10)
    assert col0 % 64 and row0 % 64  # the box does not start on a chunk edge
    for offset, chunks in ((row0, cube.chunks[2]), (col0, cube.chunks[3])):
        edges = np.cumsum(chunks)[:-1]
        assert len(edges) >= 2 and all((offset + e) % 64 == 0 for e in edges)


def _first_asset(demo_catalog: Path, key: str) -> str:
    coll = pystac.Catalog.from_file(str(demo_catalog)).get_child("SENTINEL2_L2A")
    item = next(iter(coll.get_items()))
    return item.assets[key].get_absolute_href()


def _write(path: Path, data: np.ndarray, west: float, north: float, res: float, epsg=32632):
    profile = dict(
        driver="COG",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype="uint16",
        crs=f"EPSG:{epsg}",
        transform=Affine(res, 0, west, 0, -res, north),
        nodata=0,
        blocksize=64,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _item(tmp: Path, name: str, when: str, west: float, north: float, data: np.ndarray, res):
    href = tmp / f"{name}.tif"
    _write(href, data, west, north, res)
    h, w = data.shape
    bbox = [west, north - h * res, west + w * res, north]
    item = pystac.Item(
        name,
        geometry=None,
        bbox=None,
        datetime=dt.datetime.fromisoformat(when),
        properties={"proj:epsg": 32632, "proj:bbox": bbox},
    )
    item.add_asset(
        "B05",
        pystac.Asset(
            str(href),
            media_type="image/tiff; application=geotiff; profile=cloud-optimized",
            roles=["data"],
            extra_fields={
                "proj:transform": [res, 0, west, 0, -res, north],
                "proj:shape": [h, w],
                "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 1e-4}],
            },
        ),
    )
    return item


def _geometry_lonlat(items):
    from pyproj import Transformer

    to_ll = Transformer.from_crs(32632, 4326, always_xy=True)
    for item in items:
        w, s, e, n = item.properties["proj:bbox"]
        ring = [to_ll.transform(x, y) for x, y in [(w, s), (e, s), (e, n), (w, n), (w, s)]]
        item.geometry = {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}
        lons, lats = zip(*ring, strict=True)
        item.bbox = [min(lons), min(lats), max(lons), max(lats)]


@pytest.fixture
def two_tiles(tmp_path):
    """Two 20 m files of one solar day, overlapping, offset by whole pixels, each with a
    no-data strip; a third item the day after."""
    rng = np.random.default_rng(3)
    a = rng.integers(1, 10000, (90, 110)).astype(np.uint16)
    b = rng.integers(1, 10000, (80, 100)).astype(np.uint16)
    a[:, :15] = 0  # no-data where the second file has data: the second fills it
    b[40:, :] = 0
    c = rng.integers(1, 10000, (90, 110)).astype(np.uint16)
    items = [
        _item(tmp_path, "b", "2022-06-01T10:10:00+00:00", 600040, 5000000, b, 20),
        _item(tmp_path, "a", "2022-06-01T10:05:00+00:00", 600000, 5000100, a, 20),
        _item(tmp_path, "c", "2022-06-02T10:05:00+00:00", 600000, 5000100, c, 20),
    ]
    _geometry_lonlat(items)
    return items


def _load_both(items, monkeypatch, extent):
    cat = Catalog(Settings(stac_url="unused.json", dask_chunk_px=256))
    coll = catalog_module.Collection.from_items(items, "test")
    area = catalog_module.parse_spatial_extent(extent)
    ours = cat.load_items(coll, items, area, ["B05"]).compute()
    with monkeypatch.context() as m:
        m.setattr(cog_reader, "plan", lambda *a, **k: None)
        warped = cat.load_items(coll, items, area, ["B05"]).compute()
    return ours, warped


def test_items_of_one_day_fuse_as_odc_stac_fuses_them(two_tiles, monkeypatch):
    # A 10 m output grid over both files and beyond them, 10 m off the 20 m grid.
    extent = {"west": 599990, "east": 602250, "south": 4998170, "north": 5000110, "crs": 32632}
    days = cog_reader.solar_days(two_tiles, _geobox(two_tiles, extent))
    assert [[i.id for i in g] for _, g in days] == [["a", "b"], ["c"]]
    ours, warped = _load_both(two_tiles, monkeypatch, extent)
    assert ours.sizes["t"] == 2
    assert np.isnan(ours.values).any() and np.isfinite(ours.values).mean() > 0.5
    _same(ours, warped)


def _geobox(items, extent):
    from odc.geo.geobox import GeoBox
    from odc.geo.geom import Geometry

    area = catalog_module.parse_spatial_extent(extent)
    return GeoBox.from_geopolygon(
        Geometry(area.geometry, crs=area.crs), resolution=10, crs="EPSG:32632"
    )


def test_a_fractional_grid_goes_to_the_warp(two_tiles, monkeypatch):
    moved = two_tiles[1].assets["B05"].extra_fields["proj:transform"]
    moved[2] += 5  # half a 20 m pixel, a quarter... not a whole output pixel either
    extent = {"west": 600000, "east": 601000, "south": 4999000, "north": 5000000, "crs": 32632}
    geobox = _geobox(two_tiles, extent)
    days = cog_reader.solar_days(two_tiles, geobox)
    assert cog_reader.plan_band("B05", days, geobox) is None
    assert cog_reader.plan(two_tiles, ["B05"], geobox) is None


def test_another_crs_goes_to_the_warp(two_tiles):
    two_tiles[2].properties["proj:epsg"] = 32633
    extent = {"west": 600000, "east": 601000, "south": 4999000, "north": 5000000, "crs": 32632}
    geobox = _geobox(two_tiles, extent)
    assert cog_reader.plan_band("B05", cog_reader.solar_days(two_tiles, geobox), geobox) is None


def test_a_broken_file_is_named_by_item_not_path(two_tiles, monkeypatch):
    extent = {"west": 600000, "east": 601000, "south": 4999000, "north": 5000000, "crs": 32632}
    Path(two_tiles[2].assets["B05"].href).write_bytes(b"not a tiff")
    cat = Catalog(Settings(stac_url="unused.json", dask_chunk_px=256))
    coll = catalog_module.Collection.from_items(two_tiles, "test")
    cube = cat.load_items(coll, two_tiles, catalog_module.parse_spatial_extent(extent), ["B05"])
    with pytest.raises(Internal) as err:
        cube.compute()
    assert err.value.message == "Could not read band B05 of item c."
    assert str(two_tiles[2].assets["B05"].href) not in json.dumps(err.value.to_dict())


def _cube_of(items):
    extent = {"west": 600000, "east": 601000, "south": 4999000, "north": 5000000, "crs": 32632}
    cat = Catalog(Settings(stac_url="unused.json", dask_chunk_px=256))
    coll = catalog_module.Collection.from_items(items, "test")
    return cat.load_items(coll, items, catalog_module.parse_spatial_extent(extent), ["B05"])


def test_each_file_is_opened_once_and_kept_open(two_tiles, monkeypatch):
    """The same files read again (another cube) are not opened again; a file rewritten in
    place is opened anew and read as it is now."""
    opened: list[str] = []
    real = rasterio.open

    def counting(href, *args, **kwargs):
        opened.append(str(href))
        return real(href, *args, **kwargs)

    monkeypatch.setattr(cog_reader, "HANDLES", cog_reader.Handles(64))
    monkeypatch.setattr(cog_reader.rasterio, "open", counting)
    first = _cube_of(two_tiles).compute()
    assert len(opened) == 1 + 3  # the plan's look at the first file, then each file once
    opened.clear()
    again = _cube_of(two_tiles).compute()
    assert len(opened) == 1  # the plan's look only: the three files were still open
    np.testing.assert_array_equal(first.values, again.values)
    href = Path(two_tiles[2].assets["B05"].href)
    with real(href) as src:
        halved = src.read(1) // 2
    _write(href, halved.astype(np.uint16), 600000, 5000100, 20)
    changed = _cube_of(two_tiles).compute()
    np.testing.assert_array_equal(changed.isel(t=0).values, first.isel(t=0).values)
    assert np.nanmean(changed.isel(t=1).values) < 0.6 * np.nanmean(first.isel(t=1).values)


def test_kept_datasets_stay_within_their_limit(two_tiles):
    handles = cog_reader.Handles(2)
    hrefs = [item.assets["B05"].href for item in two_tiles]
    kept = []
    for href in hrefs:
        with handles.dataset(href, cog_reader._version(href)) as ds:
            kept.append(ds)
    assert [ds.closed for ds in kept] == [True, False, False]  # the least recently used
    with handles.dataset(hrefs[2], cog_reader._version(hrefs[2])) as ds:
        assert ds is kept[2]
    with pytest.raises(ValueError), handles.dataset(hrefs[1], cog_reader._version(hrefs[1])) as ds:
        raise ValueError("a read that failed")
    assert kept[1].closed  # not lent again
    with handles.dataset(hrefs[1], cog_reader._version(hrefs[1])) as ds:
        assert ds is not kept[1] and not ds.closed
