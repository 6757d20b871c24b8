"""Output formats: GTiff (COG), netCDF (CF) and JSON; what /file_formats lists and the writers.

Writers take the value a process graph produced and a target path; dask-backed cubes are
computed while writing, chunk by chunk where the format allows it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil as rio_shutil
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.windows import Window

from backend import vector_formats
from backend.errors import FormatUnsupported, ProcessParameterInvalid
from backend.png import hex_rgb, write_png

CLASS_NODATA = 255  # no-data of uint8 class maps
_DTYPES = ["byte", "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]


@dataclass(frozen=True)
class OutputFormat:
    """One entry of GET /file_formats with the function that writes it."""

    name: str
    title: str
    media_type: str
    extension: str
    gis_data_types: list[str]
    parameters: dict[str, Any]
    writer: Callable[[Any, Path, dict[str, Any]], None]
    aliases: tuple[str, ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        return {"title": self.title, "gis_data_types": self.gis_data_types,
                "parameters": self.parameters}


def _label(value: Any) -> str:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
    return str(value)


def _crs(da: xr.DataArray) -> Any:
    crs = da.rio.crs
    return crs if crs is not None else da.attrs.get("crs")


def _raster(data: Any, fmt: str) -> xr.DataArray:
    if not isinstance(data, xr.DataArray) or not {"x", "y"} <= set(data.dims):
        raise FormatUnsupported(f"{fmt} needs a raster data cube with x and y dimensions; "
                                "save other results as JSON.")
    return data


def _cast(da: xr.DataArray, options: dict[str, Any], fmt: str) -> xr.DataArray:
    dtype = options.get("datatype")
    if dtype is None:
        if da.dtype == bool:
            return da.astype(np.uint8)
        if da.dtype == np.float64:
            return da.astype(np.float32)
        if da.dtype == np.int64:
            return da.astype(np.int32)
        return da
    if dtype not in _DTYPES:
        raise ProcessParameterInvalid(process="save_result", parameter="options",
                                      reason=f"{fmt} datatype must be one of {_DTYPES}")
    return da.astype("uint8" if dtype == "byte" else dtype)


def _distributed_client() -> Any:
    """The dask.distributed client that computes, or None for the local schedulers."""
    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def _compute_alone(block: Any) -> Any:
    return dask.compute(block, scheduler="sync")[0]


def iter_blocks(array: Any, threads: int | None = None):
    """Yield (slices, numpy block) of a dask or numpy array as blocks finish, a few at a time.

    At most threads + 1 blocks are in flight (each computed on its own, the sync scheduler
    in a thread, or a future on a dask.distributed client), so inputs stream through and
    memory stays flat however large the raster: a graph with many inputs per output block
    (whole time series) cannot make dask read ahead into memory. The price: work shared by
    several output blocks (a load chunk larger than an output block) is done once per
    block, so processes keep output blocks aligned with their inputs. The blocks come back
    to this process, so the writer never travels to the workers.
    """
    if not isinstance(array, da.Array):
        yield tuple(slice(0, n) for n in array.shape), np.asarray(array)
        return
    offsets = [np.cumsum((0, *c)) for c in array.chunks]
    delayed = array.to_delayed()
    blocks = [(tuple(slice(int(offsets[d][i]), int(offsets[d][i + 1]))
                     for d, i in enumerate(index)), delayed[index])
              for index in np.ndindex(*delayed.shape)]
    client = _distributed_client()
    if client is not None:
        threads = threads or sum(client.nthreads().values())
    threads = max(1, threads or os.cpu_count() or 1)
    if len(blocks) <= threads and client is None:
        # Too few blocks to stream: let the threaded scheduler parallelise inside them.
        yield from zip([b[0] for b in blocks], dask.compute(*[b[1] for b in blocks]),
                       strict=True)
        return
    with contextlib.ExitStack() as stack:
        if client is not None:
            submit = client.compute
        else:
            pool = ThreadPoolExecutor(threads)
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            submit = partial(pool.submit, _compute_alone)
        pending: deque = deque()
        for slices, block in blocks:
            pending.append((slices, submit(block)))
            if len(pending) > threads:
                done_slices, future = pending.popleft()
                yield done_slices, future.result()
        while pending:
            done_slices, future = pending.popleft()
            yield done_slices, future.result()


def _write_classes(dst: Any, band: int, classes: list[dict[str, Any]]) -> None:
    """Class names as band tags (CLASS_<id>=name) and, for 8-bit bands, a colour table."""
    dst.update_tags(band, **{f"CLASS_{c['value']}": c["name"] for c in classes})
    if dst.dtypes[band - 1] == "uint8":
        dst.write_colormap(band, {c["value"]: hex_rgb(c.get("color_hint", "808080")) + (255,)
                                  for c in classes})


def write_gtiff(data: Any, path: Path, options: dict[str, Any]) -> None:
    """A COG; every other dimension (t, bands) is laid into bands named '2022-06-01 B04'.

    Blocks are written into a tiled GTiff as they are computed, then GDAL copies it into a
    COG, so the raster never sits in memory whole.
    """
    da_ = _cast(_raster(data, "GTiff"), options, "GTiff")
    other = [d for d in da_.dims if d not in ("y", "x")]
    da_ = da_.transpose(*other, "y", "x")
    if other:
        index = pd.MultiIndex.from_product([da_[d].values for d in other])
        names = [" ".join(_label(v) for v in (key if isinstance(key, tuple) else (key,)))
                 for key in index]
    else:
        names = [str(da_.name or "band")]
    layers = da_.data.reshape((len(names), da_.sizes["y"], da_.sizes["x"]))
    compress = str(options.get("compression", "deflate")).lower()
    if compress not in ("deflate", "lzw", "zstd", "none"):
        raise ProcessParameterInvalid(process="save_result", parameter="options",
                                      reason="compression must be deflate, lzw, zstd or none")
    floating = np.issubdtype(da_.dtype, np.floating)
    classes = da_.attrs.get("classification:classes") or []
    class_bands = [i for i, n in enumerate(names) if n == "class"] if classes else []
    nodata = np.nan if floating else (CLASS_NODATA if class_bands else None)
    profile = {
        "driver": "GTiff", "width": da_.sizes["x"], "height": da_.sizes["y"],
        "count": len(names), "dtype": da_.dtype.name, "crs": _crs(da_),
        "transform": da_.rio.transform(recalc=True), "nodata": nodata,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": compress,
        "BIGTIFF": "IF_SAFER",
    }
    tmp = path.with_name(path.name + ".part.tif")
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            for i, name in enumerate(names, start=1):
                dst.set_band_description(i, name)
            dst.update_tags(PRODUCER="cropcube")
            for i in class_bands:
                _write_classes(dst, i + 1, classes)
            for (bands, rows, cols), block in iter_blocks(layers):
                dst.write(block, indexes=list(range(bands.start + 1, bands.stop + 1)),
                          window=Window(cols.start, rows.start, cols.stop - cols.start,
                                        rows.stop - rows.start))
        rio_shutil.copy(tmp, path, driver="COG", compress=compress.upper(), BIGTIFF="IF_SAFER",
                        overview_resampling="nearest")
    finally:
        tmp.unlink(missing_ok=True)


def _netcdf_attr(value: Any) -> bool:
    """Whether netCDF can store an attribute value (processes leave dicts and dates)."""
    if isinstance(value, str | int | float | np.number):
        return True
    return isinstance(value, list | tuple | np.ndarray) and all(
        isinstance(v, str | int | float | np.number) for v in np.ravel(value))


def write_netcdf(data: Any, path: Path, options: dict[str, Any]) -> None:
    """CF-1.8 netCDF: one variable per band, the CRS as a grid mapping; vector cubes as
    CF discrete sampling geometries."""
    if vector_formats.geometry_dim(data) is not None:
        vector_formats.write_vector_netcdf(data, path)
        return
    da = _cast(_raster(data, "netCDF"), options, "netCDF")
    crs = _crs(da)
    da = da.drop_vars([c for c in da.coords if c not in da.dims])
    if "bands" in da.dims:
        ds = da.assign_coords(bands=[str(b) for b in da.bands.values]).to_dataset(dim="bands")
    else:
        ds = da.to_dataset(name=str(da.name or "data"))
    ds = ds.rio.write_crs(crs)
    ds.x.attrs.update(standard_name="projection_x_coordinate", long_name="x coordinate",
                      units="m", axis="X")
    ds.y.attrs.update(standard_name="projection_y_coordinate", long_name="y coordinate",
                      units="m", axis="Y")
    if "t" in ds.dims:
        ds.t.attrs.update(standard_name="time", long_name="time", axis="T")
    for var in ds.data_vars:
        if var == "spatial_ref":
            continue
        ds[var].attrs = {k: v for k, v in ds[var].attrs.items()
                         if k != "crs" and _netcdf_attr(v)}
        if "bands" not in da.dims:
            # Without bands the grid mapping is listed as a coordinate too, so xarray's
            # open_dataarray reads the one variable; with bands (even one) a reader sees
            # a dataset of band variables, as openEO clients and the test suite expect.
            ds[var].encoding["coordinates"] = "spatial_ref"
    ds.attrs = {"Conventions": "CF-1.8", "institution": "cropcube openEO backend",
                "source": "cropcube"}
    ds.to_netcdf(path, engine="netcdf4")


def to_json_value(value: Any) -> Any:
    """JSON-compatible form of any process result (NaN and NaT as null)."""
    if vector_formats.geometry_dim(value) is not None:
        return vector_formats.json_value(value, to_json_value)
    if isinstance(value, xr.DataArray):
        value = value.compute()
        return {
            "dims": list(value.dims),
            "coords": {d: [to_json_value(v) for v in value[d].values] for d in value.dims
                       if d in value.coords},
            "data": to_json_value(value.values),
        }
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return to_json_value(value[()])
    if isinstance(value, np.ndarray | list | tuple | set):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if hasattr(value, "compute"):
        return to_json_value(value.compute())
    if hasattr(value, "model_dump"):  # pydantic models: temporal intervals, bounding boxes
        return to_json_value(value.model_dump(mode="json"))
    if hasattr(value, "__geo_interface__"):  # shapely geometries, GeoDataFrames
        return to_json_value(value.__geo_interface__)
    if isinstance(value, np.datetime64 | pd.Timestamp | dt.datetime | dt.date):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: Any, path: Path, options: dict[str, Any]) -> None:
    path.write_text(json.dumps(to_json_value(data)))


FORMATS: list[OutputFormat] = [
    OutputFormat(
        "GTiff", "GeoTIFF (Cloud Optimized)", "image/tiff; application=geotiff", "tif",
        ["raster"],
        {"datatype": {"type": "string", "enum": _DTYPES,
                      "description": "Cast the data to this type (default: float32 for "
                      "floating-point data)."},
         "compression": {"type": "string", "enum": ["deflate", "lzw", "zstd", "none"],
                         "default": "deflate", "description": "Compression of the tiles."}},
        write_gtiff, ("gtiff", "geotiff", "tiff", "tif", "cog")),
    OutputFormat(
        "netCDF", "netCDF (CF-1.8; vector cubes as discrete sampling geometries)",
        "application/x-netcdf", "nc", ["raster", "vector"],
        {"datatype": {"type": "string", "enum": _DTYPES,
                      "description": "Cast the data to this type."}},
        write_netcdf, ("netcdf", "nc", "netcdf4")),
    OutputFormat(
        "PNG", "PNG picture (class maps with a legend)", "image/png", "png", ["raster"], {},
        write_png, ("png",)),
    OutputFormat(
        "GeoJSON", "GeoJSON (vector cubes: a feature per geometry, a property per date "
        "and band)", "application/geo+json", "geojson", ["vector"], {},
        vector_formats.write_geojson, ("geojson",)),
    OutputFormat(
        "CSV", "CSV (vector cubes: a row per geometry and date, a column per band)",
        "text/csv", "csv", ["vector", "table"], {}, vector_formats.write_csv, ("csv",)),
    OutputFormat(
        "JSON", "JSON", "application/json", "json", ["raster", "vector", "table", "other"], {},
        write_json, ("json",)),
]


def lookup(name: str) -> OutputFormat | None:
    """A format by its name or an alias, case-insensitively."""
    if not isinstance(name, str):
        return None
    key = name.lower()
    return next((f for f in FORMATS if key == f.name.lower() or key in f.aliases), None)
