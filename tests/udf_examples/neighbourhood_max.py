# A focal UDF for apply_neighborhood: the maximum of each 5 x 5 window, which needs a
# margin of 2 px from the neighbouring blocks (no-data outside the cube counts as -1).
import numpy as np
import xarray
from scipy import ndimage


def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:
    values = np.nan_to_num(cube.values, nan=-1.0)
    return cube.copy(data=ndimage.maximum_filter(values, size=(1, 1, 5, 5)))
