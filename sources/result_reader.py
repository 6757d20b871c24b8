"""Our own raster results read back as lazy cubes, for load_stac of a finished job: netCDF
as write_netcdf makes it (a variable per band) and GeoTIFF as write_gtiff makes it (every
time and band a layer named '2022-06-01T10:20:18 B04', or 'B04' without time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr

RASTER_SUFFIXES = (".tif", ".nc")


def _split(description: str) -> tuple[np.datetime64 | None, str]:
    head, _, rest = description.partition(" ")
    if rest:
        try:
            return np.datetime64(pd.Timestamp(head).tz_localize(None), "ns"), rest
        except ValueError:
            pass
    return None, description


def _from_gtiff(path: Path, chunk_px: int) -> xr.DataArray:
    da = rioxarray.open_rasterio(path, chunks={"x": chunk_px, "y": chunk_px}, mask_and_scale=True)
    crs = da.rio.crs
    names = da.attrs.get("long_name")
    names = [names] if isinstance(names, str) else list(names or [])
    if len(names) != da.sizes["band"]:
        names = [str(i + 1) for i in range(da.sizes["band"])]
    parsed = [_split(n) for n in names]
    da = da.drop_vars("spatial_ref", errors="ignore")
    if all(t is not None for t, _ in parsed):
        times = list(dict.fromkeys(t for t, _ in parsed))
        bands = list(dict.fromkeys(b for _, b in parsed))
        where = {p: i for i, p in enumerate(parsed)}
        layers = [da.isel(band=[where[(t, b)] for b in bands]).drop_vars("band") for t in times]
        cube = xr.concat(layers, dim="t").assign_coords(t=times)
        cube = cube.rename(band="bands").assign_coords(bands=bands)
    else:
        cube = da.drop_vars("band").rename(band="bands").assign_coords(bands=[b for _, b in parsed])
    cube.attrs = {"crs": crs.to_wkt() if crs else None}
    return cube


def _from_netcdf(path: Path, chunk_px: int) -> xr.DataArray:
    ds = xr.open_dataset(path, decode_coords="all", chunks={"x": chunk_px, "y": chunk_px})
    crs = ds.rio.crs
    ds = ds.drop_vars([c for c in ds.coords if c not in ds.dims])
    cube = ds.to_dataarray(dim="bands")
    cube.attrs = {"crs": crs.to_wkt() if crs else None}
    return cube


def open_result(path: Path, chunk_px: int = 1024) -> xr.DataArray:
    """A lazy float cube with dims (t, bands, y, x), t only where the result had one."""
    cube = _from_netcdf(path, chunk_px) if path.suffix == ".nc" else _from_gtiff(path, chunk_px)
    cube = cube.astype(np.float32)
    cube.name = path.stem
    return cube.transpose(*[d for d in ("t", "bands", "y", "x") if d in cube.dims])
