"""netCDF (CF-1.8): raster cubes as band variables, vector cubes as sampling geometries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from formats import vector
from formats.cube import cast, crs_of, raster_of


def _netcdf_attr(value: Any) -> bool:
    """Whether netCDF can store an attribute value (processes leave dicts and dates)."""
    if isinstance(value, str | int | float | np.number):
        return True
    return isinstance(value, list | tuple | np.ndarray) and all(
        isinstance(v, str | int | float | np.number) for v in np.ravel(value)
    )


def write_netcdf(data: Any, path: Path, options: dict[str, Any]) -> None:
    """CF-1.8 netCDF: one variable per band, the CRS as a grid mapping; vector cubes as
    CF discrete sampling geometries."""
    if vector.geometry_dim(data) is not None:
        vector.write_vector_netcdf(data, path)
        return
    da = cast(raster_of(data, "netCDF"), options, "netCDF")
    crs = crs_of(da)
    da = da.drop_vars([c for c in da.coords if c not in da.dims])
    if "bands" in da.dims:
        ds = da.assign_coords(bands=[str(b) for b in da.bands.values]).to_dataset(dim="bands")
    else:
        ds = da.to_dataset(name=str(da.name or "data"))
    ds = ds.rio.write_crs(crs)
    ds.x.attrs.update(
        standard_name="projection_x_coordinate", long_name="x coordinate", units="m", axis="X"
    )
    ds.y.attrs.update(
        standard_name="projection_y_coordinate", long_name="y coordinate", units="m", axis="Y"
    )
    if "t" in ds.dims:
        ds.t.attrs.update(standard_name="time", long_name="time", axis="T")
    for var in ds.data_vars:
        if var == "spatial_ref":
            continue
        ds[var].attrs = {k: v for k, v in ds[var].attrs.items() if k != "crs" and _netcdf_attr(v)}
        if "bands" not in da.dims:
            # Without bands the grid mapping is listed as a coordinate too, so xarray's
            # open_dataarray reads the one variable; with bands (even one) a reader sees
            # a dataset of band variables, as openEO clients and the test suite expect.
            ds[var].encoding["coordinates"] = "spatial_ref"
    ds.attrs = {
        "Conventions": "CF-1.8",
        "institution": "cropcube openEO backend",
        "source": "cropcube",
    }
    ds.to_netcdf(path, engine="netcdf4")
