"""Collections: their openEO metadata and `load_collection` data access over STAC + COGs.

Metadata (bands, dimensions) comes from specs/collections/<ID>.json, extents from the
STAC collection itself. Pixels are read lazily by odc-stac into dask arrays, converted to
float32 reflectance with each item's own scale and offset (the processing-baseline offset
differs between items), no-data to NaN, and class bands (SCL) kept as class values.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import odc.stac
import pyproj
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry
from odc.geo.xr import rasterize, xr_coords
from shapely.geometry import box
from shapely.ops import unary_union

from core.errors import (
    CollectionNotFound,
    NoDataAvailable,
    ProcessGraphComplexity,
    ProcessParameterInvalid,
)
from core.settings import Settings
from sources import cog_reader
from sources.extents import Area, parse_spatial_extent, parse_temporal_extent
from sources.reflectance import to_reflectance
from sources.stac_source import StacSource, epsg_of, item_time

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs" / "collections"
CHUNK_BYTES = 16 * 2**20  # float32 bytes of one band of one load chunk, all dates
CHUNK_STEP_PX = 256  # chunk sides are multiples of the COG tile, or half of one (below)


@dataclass
class Collection:
    """One openEO collection backed by one STAC collection."""

    id: str
    stac_id: str
    spec: dict[str, Any]
    process: str = "load_collection"  # named in errors

    @staticmethod
    def matching_items(items: list[pystac.Item], bands: Sequence[str] | None) -> list[pystac.Item]:
        """Items of one kind for load_stac (a catalog may mix collections): those with every
        requested band (asset key, eo:bands name or common name), or without a band list
        the largest group of items that share one set of data assets."""

        def names(item: pystac.Item) -> set[str]:
            out = set()
            for key, asset in _data_assets(item):
                eo = (asset.extra_fields.get("eo:bands") or [{}])[0]
                out |= {key, eo.get("name"), eo.get("common_name")} - {None}
            return out

        if bands is not None and not isinstance(bands, str):
            return [i for i in items if set(bands) <= names(i)]
        groups = Counter(frozenset(k for k, _ in _data_assets(i)) for i in items)
        if not groups:
            return []
        common = groups.most_common(1)[0][0]
        return [i for i in items if frozenset(k for k, _ in _data_assets(i)) == common]

    @classmethod
    def from_items(cls, items: list[pystac.Item], name: str) -> Collection:
        """A collection for load_stac: the bands are the items' data assets, the
        resolution the finest of theirs; every band is scaled per its raster:bands."""
        bands: dict[str, dict[str, Any]] = {}
        steps = []
        for item in items:
            for key, asset in _data_assets(item):
                eo = asset.extra_fields.get("eo:bands") or [{}]
                bands.setdefault(
                    key,
                    {
                        "name": key,
                        **(
                            {"common_name": eo[0]["common_name"]}
                            if eo[0].get("common_name")
                            else {}
                        ),
                    },
                )
                transform = asset.extra_fields.get("proj:transform") or item.properties.get(
                    "proj:transform"
                )
                gsd = (
                    asset.extra_fields.get("gsd")
                    or item.properties.get("gsd")
                    or (abs(transform[0]) if transform else None)
                )
                if gsd:
                    steps.append(float(gsd))
        if not bands:
            raise ProcessParameterInvalid(
                process="load_stac",
                parameter="url",
                reason="the items have no GeoTIFF or JPEG 2000 data assets",
            )
        if not steps:
            raise ProcessParameterInvalid(
                process="load_stac",
                parameter="url",
                reason="the items give no resolution (gsd or proj:transform)",
            )
        spec = {
            "id": name,
            "summaries": {"eo:bands": list(bands.values())},
            "cube:dimensions": {"x": {"step": min(steps)}, "t": {}},
            "extent": {
                "spatial": {"bbox": [_items_bbox(items)]},
                "temporal": {"interval": [_items_interval(items)]},
            },
        }
        return cls(name, name, spec, process="load_stac")

    @property
    def bands(self) -> list[dict[str, Any]]:
        return self.spec["summaries"]["eo:bands"]

    @property
    def has_time(self) -> bool:
        return "t" in self.spec["cube:dimensions"]

    @property
    def resolution(self) -> float:
        return float(self.spec["cube:dimensions"]["x"].get("step") or 10)

    def band_kind(self, name: str) -> str:
        """'reflectance' (scaled, no-data to NaN) or 'class' (values kept)."""
        return self.spec.get("cropcube:bands", {}).get(name, {}).get("kind", "reflectance")

    def asset_aliases(self, name: str) -> list[str]:
        """Asset keys other catalogs use for a band (Earth Search: 'red', 'rededge1', ...)."""
        return self.spec.get("cropcube:bands", {}).get(name, {}).get("asset_aliases", [])

    def resolve_bands(self, requested: Sequence[str] | None) -> list[str]:
        """Band names for names or common names; an unknown one is a parameter error."""
        names = [b["name"] for b in self.bands]
        if requested is None:
            return names
        if isinstance(requested, str) or not isinstance(requested, Sequence) or not requested:
            raise ProcessParameterInvalid(
                process=self.process,
                parameter="bands",
                reason="expected a non-empty list of band names",
            )
        out = []
        for req in requested:
            match = [b["name"] for b in self.bands if req in (b["name"], b.get("common_name"))]
            if len(match) != 1:
                why = "ambiguous common name" if match else "no such band"
                raise ProcessParameterInvalid(
                    process=self.process,
                    parameter="bands",
                    reason=f"{why} '{req}' in collection '{self.id}'; bands are {', '.join(names)}",
                )
            out.append(match[0])
        return out


class Catalog:
    """The collections this backend serves, and the loader behind load_collection."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.source = StacSource(
            settings.catalog_url, settings.stac_page_size, settings.stac_cache_s
        )

    @cached_property
    def _collections(self) -> dict[str, Collection]:
        found = {}
        for path in sorted(SPECS_DIR.glob("*.json")):
            spec = json.loads(path.read_text())
            cid = spec["id"]
            stac_id = self.settings.collection_map.get(cid, cid)
            stac = self.source.collection(stac_id)
            if stac is None:
                continue
            spec["extent"] = stac.extent.to_dict()
            found[cid] = Collection(cid, stac_id, spec)
        return found

    def ids(self) -> list[str]:
        return list(self._collections)

    def get(self, collection_id: str) -> Collection:
        try:
            return self._collections[collection_id]
        except KeyError:
            raise CollectionNotFound(identifier=collection_id) from None

    def items(self, collection_id: str) -> list[pystac.Item]:
        """Every item of a collection, for assets beside its bands (e.g. parcels)."""
        coll = self.get(collection_id)
        return self.source.search(coll.stac_id, _collection_area(coll).lonlat_bounds(), None, None)

    def describe(self, collection_id: str, base_url: str) -> dict[str, Any]:
        """The STAC collection document openEO clients expect, with links."""
        doc = {
            k: copy.deepcopy(v)
            for k, v in self.get(collection_id).spec.items()
            if not k.startswith("cropcube:")
        }
        doc["links"] = [
            {
                "rel": "self",
                "href": f"{base_url}/collections/{collection_id}",
                "type": "application/json",
            },
            {"rel": "root", "href": f"{base_url}/", "type": "application/json"},
            {"rel": "parent", "href": f"{base_url}/collections", "type": "application/json"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "href": f"{base_url}/collections/{collection_id}/queryables",
                "type": "application/schema+json",
            },
        ]
        return doc

    def queryables(self, collection_id: str, base_url: str) -> dict[str, Any]:
        props = self.get(collection_id).spec.get("cropcube:queryables", {})
        return {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"{base_url}/collections/{collection_id}/queryables",
            "type": "object",
            "title": f"Queryables of {collection_id}",
            "properties": props,
            "additionalProperties": False,
        }

    def load(
        self,
        collection_id: str,
        spatial_extent: Any = None,
        temporal_extent: Any = None,
        bands: Sequence[str] | None = None,
        keep_item: Callable[[dict[str, Any]], bool] | None = None,
        max_values: int | None = None,
        note: Callable[[str], None] | None = None,
    ) -> xr.DataArray:
        """A lazy (t, bands, y, x) float32 cube; see the module docstring. note(text) hears
        how many items were found and how they are read (a job's log)."""
        coll = self.get(collection_id)
        start, end = parse_temporal_extent(temporal_extent) if temporal_extent else (None, None)
        asked = parse_spatial_extent(spatial_extent)
        search = asked or _collection_area(coll)
        items = self.source.search(coll.stac_id, search.lonlat_bounds(), start, end)
        return self.load_items(coll, items, asked, bands, keep_item, max_values, note)

    def load_items(
        self,
        coll: Collection,
        items: list[pystac.Item],
        asked: Area | None,
        bands: Sequence[str] | None = None,
        keep_item: Callable[[dict[str, Any]], bool] | None = None,
        max_values: int | None = None,
        note: Callable[[str], None] | None = None,
    ) -> xr.DataArray:
        """The cube of the items found for a collection (load_collection, load_stac), over
        the area asked for (a parsed spatial extent), or the items' own without one."""
        names = coll.resolve_bands(bands)
        area = asked or _collection_area(coll)
        if keep_item is not None:
            items = [i for i in items if keep_item(i.properties)]
        if not items:
            raise NoDataAvailable(
                f"No data in collection '{coll.id}' for the requested extent and "
                f"filters; the collection covers {_extent_text(coll)}."
            )
        epsg = Counter(epsg_of(i.properties) for i in items).most_common(1)[0][0]
        if asked is None:
            area = _native_area(items, epsg) or area
        footprint = Geometry(area.geometry, crs=area.crs)
        geobox = GeoBox.from_geopolygon(footprint, resolution=coll.resolution, crs=f"EPSG:{epsg}")
        n_times = len({item_time(i).date() for i in items}) if coll.has_time else 1
        values = n_times * len(names) * geobox.shape[0] * geobox.shape[1]
        if max_values is not None and values > max_values:
            raise ProcessGraphComplexity(
                f"The request would load {values:,} values ({n_times} dates x {len(names)} "
                f"bands x {geobox.shape[0]} x {geobox.shape[1]} pixels), more than the "
                f"{max_values:,} allowed for synchronous processing. Use a batch job, or "
                "a smaller extent, fewer dates or fewer bands."
            )
        cube, how = self._read(coll, items, names, geobox)
        if note is not None:
            note(f"{len(items)} items, {how}")
        if area.polygons:
            inside = rasterize(footprint.to_crs(f"EPSG:{epsg}"), geobox)
            cube = cube.where(inside.rename({inside.dims[0]: "y", inside.dims[1]: "x"}).data)
        return cube

    def _read(
        self, coll: Collection, items: list[pystac.Item], names: list[str], geobox: GeoBox
    ) -> tuple[xr.DataArray, str]:
        """The cube, and how its files are read."""
        keys = [_asset_key(items[0], coll, n) for n in names]
        n_times = len({item_time(i).date() for i in items}) if coll.has_time else 1
        chunk = _chunk_px(n_times, self.settings.dask_chunk_px)
        kinds = [coll.band_kind(n) for n in names]
        planned = cog_reader.plan(items, keys, geobox)
        if planned is not None:
            times, plans = planned
            scalings = [
                cog_reader.Scaling(*_scale_offset(items, key, np.array(times)), mask=True)
                if kind != "class"
                else cog_reader.Scaling(np.ones(len(times)), np.zeros(len(times)), mask=False)
                for key, kind in zip(keys, kinds, strict=True)
            ]
            data = cog_reader.cube(
                plans,
                scalings,
                geobox,
                chunk,
                self.settings.read_threads,
                self.settings.read_cache_mb * 2**20,
            )
            how = "read on their own grids"
        else:  # the files do not line up with the output grid: warp
            times, data = _warped(items, keys, kinds, geobox, chunk)
            how = "warped to the cube's grid (odc-stac)"
        common = {b["name"]: b.get("common_name", "") for b in coll.bands}
        cube = xr.DataArray(
            data,
            dims=("t", "bands", "y", "x"),
            coords={
                "t": np.array(times, "datetime64[ns]"),
                "bands": names,
                "common_name": ("bands", [common[n] for n in names]),
                **xr_coords(geobox),
            },
        )
        cube.attrs = {"crs": geobox.crs.to_wkt()}
        cube.name = coll.id
        if not coll.has_time:
            cube = cube.isel(t=0, drop=True)
        return cube, how


def _warped(
    items: list[pystac.Item], keys: list[str], kinds: list[str], geobox: GeoBox, chunk: int
) -> tuple[np.ndarray, da.Array]:
    """The dates and the (t, bands, y, x) float32 cube as odc-stac warps them."""
    ds = odc.stac.load(
        items,
        bands=keys,
        geobox=geobox,
        groupby="solar_day",
        resampling="nearest",
        chunks={"x": chunk, "y": chunk, "time": -1},
    )
    times = ds["time"].values
    layers = []
    for key, kind in zip(keys, kinds, strict=True):
        raw = ds[key].data
        if kind == "class":
            layers.append(raw.astype(np.float32))
            continue
        scale, offset = _scale_offset(items, key, times)
        nodata = ds[key].attrs.get("nodata")
        layers.append(
            raw.map_blocks(
                to_reflectance, scale=scale, offset=offset, nodata=nodata, dtype=np.float32
            )
        )
    return times, da.stack(layers, axis=1)


def _chunk_px(n_times: int, max_px: int) -> int:
    """Side of the load chunks: whole time series per chunk, each about CHUNK_BYTES.

    Time-series processes (composites, classifiers) need every date of a pixel at once;
    loading all dates per chunk lets them consume one chunk each, and bounding the chunk's
    area keeps a long series from filling memory. Sides are whole COG tiles (256 px), or
    half a tile where the series is so long that a whole one would be much over
    CHUNK_BYTES: a year of 5-day revisits (146 dates) gives 128 px, a chunk of 105 MB for
    11 bands instead of 421 MB, which is what each core holds while it composites. A tile
    that several chunks share is still decoded once: the reader keeps its block until the
    last of them has taken it. (monthly_composite merges its output back to blocks of at
    least a tile; docs/benchmarks.md has the figures.)
    """
    side = np.sqrt(CHUNK_BYTES / (4 * max(1, n_times)))
    step = CHUNK_STEP_PX if side >= 0.75 * CHUNK_STEP_PX else CHUNK_STEP_PX // 2
    return int(min(max_px, max(step, round(side / step) * step)))


def _scale_offset(
    items: list[pystac.Item], key: str, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and offset per output time, from the item nearest in time (same solar day)."""
    stamps = np.array([np.datetime64(item_time(i).replace(tzinfo=None), "ns") for i in items])
    scale = np.ones(len(times), np.float32)
    offset = np.zeros(len(times), np.float32)
    for k, t in enumerate(times):
        item = items[int(np.argmin(np.abs(stamps - t)))]
        band = (item.assets[key].extra_fields.get("raster:bands") or [{}])[0]
        scale[k] = band.get("scale", 1.0)
        offset[k] = band.get("offset", 0.0)
    return scale, offset


def _asset_key(item: pystac.Item, coll: Collection, name: str) -> str:
    """The item's asset key for a band: the name itself, a known alias, or its eo:bands name."""
    wanted = {name.lower(), *(a.lower() for a in coll.asset_aliases(name))}
    for key, asset in item.assets.items():
        eo = (asset.extra_fields.get("eo:bands") or [{}])[0]
        if key.lower() in wanted or eo.get("name") == name:
            return key
    raise ProcessParameterInvalid(
        process=coll.process,
        parameter="bands",
        reason=f"band '{name}' has no asset in item {item.id}",
    )


def _native_area(items: list[pystac.Item], epsg: int) -> Area | None:
    """The union of the items' native bounding boxes (proj:bbox) in their CRS."""
    boxes = [i.properties.get("proj:bbox") for i in items if epsg_of(i.properties) == epsg]
    if not boxes or any(b is None for b in boxes):
        return None
    return Area(unary_union([box(*b[:4]) for b in boxes]), pyproj.CRS.from_epsg(epsg))


def _data_assets(item: pystac.Item) -> list[tuple[str, pystac.Asset]]:
    """Raster data assets: role data (or none) and a GeoTIFF or JPEG 2000 media type."""
    return [
        (k, a)
        for k, a in item.assets.items()
        if "data" in (a.roles or ["data"])
        and any(t in (a.media_type or "image/tiff") for t in ("tiff", "jp2"))
    ]


def _items_bbox(items: list[pystac.Item]) -> list[float]:
    boxes = [i.bbox for i in items if i.bbox]
    if not boxes:
        return [-180.0, -90.0, 180.0, 90.0]
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _items_interval(items: list[pystac.Item]) -> list[str | None]:
    times = sorted(item_time(i) for i in items)
    return (
        [f"{times[0]:%Y-%m-%dT%H:%M:%SZ}", f"{times[-1]:%Y-%m-%dT%H:%M:%SZ}"]
        if times
        else [None, None]
    )


def _collection_area(coll: Collection) -> Area:
    bbox = coll.spec["extent"]["spatial"]["bbox"][0]
    return Area(box(*bbox[:4]), pyproj.CRS.from_epsg(4326))


def _extent_text(coll: Collection) -> str:
    bbox = coll.spec["extent"]["spatial"]["bbox"][0]
    interval = coll.spec["extent"]["temporal"]["interval"][0]
    return (
        f"lon {bbox[0]:.4f} to {bbox[2]:.4f}, lat {bbox[1]:.4f} to {bbox[3]:.4f}, "
        f"time {interval[0]} to {interval[1]}"
    )
