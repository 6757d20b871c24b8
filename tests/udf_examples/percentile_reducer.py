# A reducer UDF (reduce_dimension over t): a percentile of each pixel's clear dates.
import xarray


def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:
    return cube.quantile(context["q"], dim="t", skipna=True).drop_vars("quantile")
