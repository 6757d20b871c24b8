"""Write the simulated scene as a static STAC catalog of COGs: one COG per band and date.

The catalog looks like Earth Search's `sentinel-2-l2a` to downstream code: eo, raster
(scale, offset, nodata) and projection fields, the processing-baseline offset from
25 January 2022, eo:cloud_cover. A second collection carries the ground truth.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pystac
import rasterio
import rasterio.features
from affine import Affine
from pyproj import Transformer
from shapely.geometry import mapping, shape
from shapely.ops import transform as shp_transform

from core.classes import CROP_CLASSES, LABEL_NODATA, class_names
from demo import scene
from demo.landscape import Landscape, build_landscape
from demo.spectra import BANDS

GENERATOR_VERSION = 2
CATALOG_VERSION = 2  # the STAC files' layout (written with pystac since 2), not the scene
EPSG = 32632
CENTER = (680200.0, 5151500.0)  # covers the openEO test suite's box near Bolzano
FIRST_DATE, LAST_DATE = dt.date(2021, 9, 1), dt.date(2022, 12, 31)
REVISIT_DAYS = 5  # Sentinel-2A and 2B: 10 days each, half a cycle apart
NEIGHBOUR_TRACK_DAYS = 3  # the adjacent ground track comes 43 of 143 orbits (3 days) later
ORBITS = (22, 65)  # simulated relative orbits of the two tracks over the scene
S2_COLLECTION = "SENTINEL2_L2A"
LABEL_COLLECTION = "CROP_LABELS"

# name: (common name, centre wavelength um, full width um, gsd m)
BAND_INFO: dict[str, tuple[str | None, float | None, float | None, int]] = {
    "B02": ("blue", 0.490, 0.098, 10),
    "B03": ("green", 0.560, 0.045, 10),
    "B04": ("red", 0.665, 0.038, 10),
    "B05": ("rededge", 0.705, 0.019, 20),
    "B06": ("rededge", 0.740, 0.018, 20),
    "B07": ("rededge", 0.783, 0.028, 20),
    "B08": ("nir", 0.842, 0.145, 10),
    "B8A": ("nir08", 0.865, 0.033, 20),
    "B11": ("swir16", 1.610, 0.143, 20),
    "B12": ("swir22", 2.190, 0.242, 20),
    "SCL": (None, None, None, 20),
}
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
]


class Acquisition(NamedTuple):
    """One overpass: when, by which satellite, on which track; `key` seeds its weather."""

    when: dt.datetime
    platform: str
    relative_orbit: int
    key: int


def acquisitions() -> list[Acquisition]:
    """Overpasses as Sentinel-2A and 2B make them over a scene where two tracks overlap.

    Each track is flown every 5 days, alternately by 2A and 2B (10-day repeat each); the
    neighbouring track passes 3 days after the first one, about 10 minutes later in UTC
    (2.5 degrees further west at the same local time). Gaps alternate 3 and 2 days.
    """
    out, day, i = [], FIRST_DATE, 0
    while day <= LAST_DATE:
        platform = f"sentinel-2{'ab'[i % 2]}"
        seconds = 10 * 3600 + 10 * 60 + (i * 37) % 120 - 60
        first = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        out.append(Acquisition(first, platform, ORBITS[0], i))
        second = first + dt.timedelta(days=NEIGHBOUR_TRACK_DAYS, minutes=10)
        if second.date() <= LAST_DATE:
            out.append(Acquisition(second, platform, ORBITS[1], 1000 + i))
        day += dt.timedelta(days=REVISIT_DAYS)
        i += 1
    return out


def describe(size: int, seed: int) -> str:
    """The demo scene in a model card's words."""
    return (
        f"cropcube demo-data (generator {GENERATOR_VERSION}), {size} x {size} px, seed "
        f"{seed}; {len(acquisitions())} dates {FIRST_DATE} to {LAST_DATE}, Sentinel-2A and "
        f"2B over relative orbits {ORBITS[0]} and {ORBITS[1]}"
    )


def grid(size: int) -> tuple[Affine, float, float]:
    """The 10 m transform of a size x size scene centred near Bolzano, on the 20 m grid."""
    half = size * 10 / 2
    west = round((CENTER[0] - half) / 20) * 20
    north = round((CENTER[1] + half) / 20) * 20
    return Affine(10, 0, west, 0, -10, north), west, north


def _write_cog(path: Path, data: np.ndarray, transform: Affine, nodata: int, desc: str) -> None:
    profile = dict(
        driver="COG",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=f"EPSG:{EPSG}",
        transform=transform,
        nodata=nodata,
        compress="deflate",
        blocksize=256,
        overview_resampling="nearest",
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, desc)


_LAND: Landscape | None = None


def _init_worker(size: int, seed: int) -> None:
    global _LAND
    _LAND = build_landscape(size, size, seed)


def _render_item(args: tuple[Acquisition, str, int, int]) -> dict[str, Any]:
    pass_, items_dir, size, seed = args
    assert _LAND is not None
    when = pass_.when
    acq = scene.render(_LAND, when, seed, pass_.key)
    t10, west, north = grid(size)
    t20 = Affine(20, 0, west, 0, -20, north)
    item_id = f"S2{pass_.platform[-1].upper()}_32TPS_{when:%Y%m%d}_0_L2A"
    folder = Path(items_dir) / item_id
    folder.mkdir(parents=True, exist_ok=True)
    for band, dn in acq.dn.items():
        _write_cog(folder / f"{band}.tif", dn, t10 if dn.shape[0] == size else t20, 0, band)
    _write_cog(folder / "SCL.tif", acq.scl, t20, 0, "SCL")
    return _item_json(item_id, pass_, size, acq.cloud_cover)


def _bbox(size: int) -> tuple[list[float], list[float]]:
    """Native and WGS84 bounding boxes of the scene."""
    _, west, north = grid(size)
    native = [west, north - size * 10, west + size * 10, north]
    to_ll = Transformer.from_crs(EPSG, 4326, always_xy=True)
    xs = [native[0], native[2], native[0], native[2]]
    ys = [native[1], native[1], native[3], native[3]]
    lon, lat = to_ll.transform(xs, ys)
    return native, [min(lon), min(lat), max(lon), max(lat)]


def _band_asset(band: str, when: dt.date, size: int) -> dict[str, Any]:
    common, center, fwhm, gsd = BAND_INFO[band]
    _, west, north = grid(size)
    n = size * 10 // gsd
    asset: dict[str, Any] = {
        "href": f"./{band}.tif",
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "title": f"{band} {'scene classification' if band == 'SCL' else 'reflectance'}",
        "roles": ["data"],
        "gsd": gsd,
        "proj:shape": [n, n],
        "proj:transform": [gsd, 0, west, 0, -gsd, north],
    }
    if band == "SCL":
        asset["raster:bands"] = [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]
        asset["eo:bands"] = [{"name": "SCL", "description": "scene classification map"}]
    else:
        offset = scene.boa_offset(when)
        asset["raster:bands"] = [
            {
                "nodata": 0,
                "data_type": "uint16",
                "spatial_resolution": gsd,
                "scale": 0.0001,
                "offset": offset / 10000,
            }
        ]
        asset["eo:bands"] = [
            {
                "name": band,
                "common_name": common,
                "center_wavelength": center,
                "full_width_half_max": fwhm,
            }
        ]
    return asset


def _item_json(item_id: str, pass_: Acquisition, size: int, cc: float) -> dict:
    native, ll = _bbox(size)
    when = pass_.when
    baseline = "04.00" if when.date() >= scene.BASELINE_04_START else "03.01"
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": EXTENSIONS,
        "id": item_id,
        "collection": S2_COLLECTION,
        "bbox": ll,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[ll[0], ll[1]], [ll[2], ll[1]], [ll[2], ll[3]], [ll[0], ll[3]], [ll[0], ll[1]]]
            ],
        },
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": pass_.platform,
            "sat:relative_orbit": pass_.relative_orbit,
            "sat:orbit_state": "descending",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cc,
            "proj:epsg": EPSG,
            "proj:bbox": native,
            "s2:processing_baseline": baseline,
            "s2:mgrs_tile": "32TPS",
            "cropcube:simulated": True,
        },
        "links": [],
        "assets": {b: _band_asset(b, when.date(), size) for b in [*BANDS, "SCL"]},
    }


def _label_item(folder: Path, land: Landscape, size: int) -> dict[str, Any]:
    t10, _, _ = grid(size)
    labels = land.labels
    _write_cog(folder / "labels.tif", labels, t10, LABEL_NODATA, "class")
    to_ll = Transformer.from_crs(EPSG, 4326, always_xy=True).transform
    crop_mask = labels < len(CROP_CLASSES)
    features = []
    for geom, pid in rasterio.features.shapes(land.parcel_id, mask=crop_mask, transform=t10):
        cls = int(land.classes[int(pid)])
        poly = shape(geom)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "parcel_id": int(pid),
                    "class_id": cls,
                    "class_name": CROP_CLASSES[cls],
                    "area_m2": round(poly.area),
                },
                "geometry": mapping(shp_transform(to_ll, poly)),
            }
        )
    (folder / "parcels.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    native, ll = _bbox(size)
    names = class_names()
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            *EXTENSIONS,
            "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
        ],
        "id": "labels",
        "collection": LABEL_COLLECTION,
        "bbox": ll,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[ll[0], ll[1]], [ll[2], ll[1]], [ll[2], ll[3]], [ll[0], ll[3]], [ll[0], ll[1]]]
            ],
        },
        "properties": {
            "datetime": None,
            "start_datetime": "2021-09-01T00:00:00Z",
            "end_datetime": "2022-08-31T23:59:59Z",
            "proj:epsg": EPSG,
            "proj:bbox": native,
            "cropcube:simulated": True,
        },
        "links": [],
        "assets": {
            "class": {
                "href": "./labels.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "title": "land-cover class per 10 m pixel",
                "roles": ["data"],
                "proj:shape": [size, size],
                "proj:transform": list(t10)[:6],
                "raster:bands": [
                    {"nodata": LABEL_NODATA, "data_type": "uint8", "spatial_resolution": 10}
                ],
                "classification:classes": [{"value": k, "name": v} for k, v in names.items()],
            },
            "parcels": {
                "href": "./parcels.geojson",
                "type": "application/geo+json",
                "title": "agricultural parcels with class_id and class_name (EPSG:4326)",
                "roles": ["data"],
            },
        },
    }


def _collection(
    cid: str, title: str, desc: str, ll: list[float], interval: tuple[dt.datetime, dt.datetime]
) -> pystac.Collection:
    start, end = (t.replace(tzinfo=dt.UTC) for t in interval)
    return pystac.Collection(
        cid,
        desc,
        pystac.Extent(pystac.SpatialExtent([ll]), pystac.TemporalExtent([[start, end]])),
        title=title,
        license="CC-BY-4.0",
    )


def _write(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=1))


DEFAULT_SIZE, DEFAULT_SEED = 500, 42


class DemoScene(NamedTuple):
    """A data dir's demo catalog and the scene it holds."""

    catalog: Path
    size: int
    seed: int


def built_scene(data_dir: Path | str) -> tuple[int, int] | None:
    """The (size, seed) of the demo scene a data dir holds, or None."""
    marker = Path(data_dir) / "stac" / "demo-manifest.json"
    if not marker.exists():
        return None
    manifest = json.loads(marker.read_text())
    return manifest["size"], manifest["seed"]


def ensure_demo_data(
    data_dir: Path | str,
    size: int | None = None,
    seed: int | None = None,
    say: Callable[[str], None] = print,
) -> DemoScene:
    """The data dir's demo scene: the one it was built with, unless another size or seed is
    asked for (then that one is built); the defaults where it holds none. Says when it
    builds, which takes a while."""
    found = built_scene(data_dir)
    size = size if size is not None else found[0] if found else DEFAULT_SIZE
    seed = seed if seed is not None else found[1] if found else DEFAULT_SEED
    if not _up_to_date(Path(data_dir) / "stac", size, seed):
        say(
            f"building the demo data ({size} x {size} px of 10 m, seed {seed}, "
            f"{len(acquisitions())} dates) in {Path(data_dir) / 'stac'} ..."
        )
        start = time.perf_counter()
        catalog = build_demo_data(data_dir, size=size, seed=seed)
        say(f"demo data built in {time.perf_counter() - start:.1f} s")
    else:
        catalog = build_demo_data(data_dir, size=size, seed=seed)
    return DemoScene(catalog, size, seed)


def _manifest(size: int, seed: int) -> dict[str, int]:
    return {"generator": GENERATOR_VERSION, "catalog": CATALOG_VERSION, "size": size, "seed": seed}


def _up_to_date(root: Path, size: int, seed: int) -> bool:
    marker = root / "demo-manifest.json"
    return marker.exists() and json.loads(marker.read_text()) == _manifest(size, seed)


def build_demo_data(
    data_dir: Path | str,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    workers: int | None = None,
) -> Path:
    """Build (or reuse) the demo catalog under data_dir/stac and return catalog.json's path."""
    if size % 2 or size < 100:
        raise ValueError("size must be an even number of 10 m pixels, at least 100")
    data_dir = Path(data_dir).resolve()  # pystac writes relative hrefs against it
    root = data_dir / "stac"
    if _up_to_date(root, size, seed):
        return root / "catalog.json"
    tmp = data_dir / "stac.building"
    shutil.rmtree(tmp, ignore_errors=True)
    s2_dir, label_dir = tmp / S2_COLLECTION, tmp / LABEL_COLLECTION
    s2_dir.mkdir(parents=True)
    passes = acquisitions()
    times = [p.when for p in passes]
    jobs = [(p, str(s2_dir), size, seed) for p in passes]
    with ProcessPoolExecutor(
        workers or os.cpu_count() or 1, initializer=_init_worker, initargs=(size, seed)
    ) as pool:
        items = list(pool.map(_render_item, jobs, chunksize=4))
    _, ll = _bbox(size)
    catalog = pystac.Catalog(
        "cropcube-demo", "cropcube's embedded demo data (simulated Sentinel-2 L2A)"
    )
    s2 = _collection(
        S2_COLLECTION,
        "Sentinel-2 L2A (simulated, Bolzano)",
        "Deterministic simulation of Sentinel-2 L2A surface reflectance over farmland in the "
        "Adige valley near Bolzano: 16 TimeSen2Crop crop classes, clouds, shadows, cirrus "
        "and snow with their SCL codes. Not real satellite data.",
        ll,
        (times[0], times[-1]),
    )
    s2.add_items(pystac.Item.from_dict(item, migrate=False) for item in items)
    (label_dir / "labels").mkdir(parents=True)
    labels = _collection(
        LABEL_COLLECTION,
        "Crop-type ground truth of the simulated scene",
        "Class per 10 m pixel (16 TimeSen2Crop crops, 16-20 other cover) and the agricultural "
        "parcels as GeoJSON, for the agricultural year September 2021 to August 2022.",
        ll,
        (dt.datetime(2021, 9, 1), dt.datetime(2022, 8, 31, 23, 59, 59)),
    )
    labels.add_item(
        pystac.Item.from_dict(
            _label_item(label_dir / "labels", build_landscape(size, size, seed), size),
            migrate=False,
        )
    )  # keep the extension versions the items declare
    catalog.add_children([s2, labels])
    # pystac lays the files out as the band files already lie: <collection>/<item>/<item>.json
    catalog.normalize_hrefs(f"{tmp}/")  # the slash: "stac.building" is a folder
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    _write(tmp / "demo-manifest.json", _manifest(size, seed))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root / "catalog.json"
