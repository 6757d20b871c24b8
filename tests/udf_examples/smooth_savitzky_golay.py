# The openEO Python client's documented smoothing UDF (apply_dimension over t).
import xarray
from openeo.udf import XarrayDataCube
from scipy.signal import savgol_filter


def apply_datacube(cube: XarrayDataCube, context: dict) -> XarrayDataCube:
    array: xarray.DataArray = cube.get_array()
    filled = array.interpolate_na(dim="t")
    smoothed_array = savgol_filter(filled.values, 5, 2, axis=0)
    return XarrayDataCube(
        array=xarray.DataArray(smoothed_array, dims=array.dims, coords=array.coords)
    )
