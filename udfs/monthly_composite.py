"""monthly_composite: 12 clean monthly composites per year from a cloudy Sentinel-2 L2A cube.

An openEO Python UDF (`apply_datacube`), also the implementation of cropcube's
`monthly_composite` process. Self-contained (numpy, numba, scipy, xarray, dask), so the
same file runs through `run_udf` elsewhere and through the openeo client's local runner.

Per pixel and band: observations whose SCL class is masked (optionally dilated) are
dropped; the clear ones of each calendar month give the median, the mean, or the whole
observation with the highest NDVI ("best"); months without a clear observation are filled
by linear interpolation on the dates of the month starts (edge months take the nearest
month), or left NaN. Windows are agricultural years starting in `start_month`
(September, as TimeSen2Crop). The cube is chunked along x and y, never along t.
"""

from functools import partial

import numpy as np
import xarray
from numba import njit, prange

DEFAULT_MASK = (0, 1, 3, 8, 9, 10, 11)
# Compiled kernels are cached next to the file; code run from a string (run_udf) has none.
_CACHE = "__file__" in globals()
METHODS = ("median", "mean", "best")
BLOCK_BYTES = 128 * 2**20  # input bytes of one spatial block (all dates and bands)
OUTPUT_PX = 256  # side up to which output blocks are merged (a COG tile)


@njit(cache=_CACHE)
def _insertion_median(buf, n):
    for i in range(1, n):
        key = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > key:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = key
    if n % 2 == 1:
        return buf[n // 2]
    return 0.5 * (buf[n // 2 - 1] + buf[n // 2])


@njit(parallel=True, cache=_CACHE)
def _clear_counts(valid, order, bounds):
    """valid (t, y, x) bool -> clear observations per month (months, y, x)."""
    n_months = bounds.shape[0] - 1
    ny, nx = valid.shape[1], valid.shape[2]
    count = np.zeros((n_months, ny, nx), dtype=np.int16)
    for yy in prange(ny):
        for xx in range(nx):
            for m in range(n_months):
                n = 0
                for k in range(bounds[m], bounds[m + 1]):
                    n += valid[order[k], yy, xx]
                count[m, yy, xx] = n
    return count


@njit(parallel=True, cache=_CACHE)
def _composite_band(values, valid, order, bounds, mean, out):
    """One band: values (t, y, x) float32 -> out (months, y, x), the median (or the mean)
    of each month's clear, non-NaN observations; months without any are left as they are.

    order lists the dates month by month, bounds[m]:bounds[m + 1] the slice of month m, so
    each date is visited once per pixel, not once per month.
    """
    n_months = bounds.shape[0] - 1
    ny, nx = values.shape[1], values.shape[2]
    for yy in prange(ny):
        buf = np.empty(values.shape[0], dtype=np.float32)
        for xx in range(nx):
            for m in range(n_months):
                n = 0
                for k in range(bounds[m], bounds[m + 1]):
                    t = order[k]
                    if valid[t, yy, xx]:
                        v = values[t, yy, xx]
                        if not np.isnan(v):
                            buf[n] = v
                            n += 1
                if n == 0:
                    continue
                if mean:
                    total = 0.0
                    for i in range(n):
                        total += buf[i]
                    out[m, yy, xx] = total / n
                else:
                    out[m, yy, xx] = _insertion_median(buf, n)


@njit(parallel=True, cache=_CACHE)
def _best_dates(red, nir, valid, order, bounds):
    """The date of each month's clear observation with the highest NDVI (months, y, x);
    -1 where the month has none."""
    n_months = bounds.shape[0] - 1
    ny, nx = red.shape[1], red.shape[2]
    best = np.full((n_months, ny, nx), -1, dtype=np.int32)
    for yy in prange(ny):
        for xx in range(nx):
            for m in range(n_months):
                best_t = -1
                best_ndvi = -np.inf
                for k in range(bounds[m], bounds[m + 1]):
                    t = order[k]
                    if valid[t, yy, xx]:
                        r = red[t, yy, xx]
                        q = nir[t, yy, xx]
                        ndvi = (q - r) / (q + r) if q + r != 0 else -np.inf
                        if ndvi > best_ndvi or best_t < 0:
                            best_ndvi = ndvi
                            best_t = t
                best[m, yy, xx] = best_t
    return best


@njit(parallel=True, cache=_CACHE)
def _gather(values, best, out):
    """out (months, y, x) = values (t, y, x) at the dates `best` picked (-1: left as is)."""
    n_months, ny, nx = best.shape
    for yy in prange(ny):
        for xx in range(nx):
            for m in range(n_months):
                t = best[m, yy, xx]
                if t >= 0:
                    out[m, yy, xx] = values[t, yy, xx]


@njit(parallel=True, cache=_CACHE)
def _fill_linear(out, days):
    """Interpolate NaN months linearly on `days` (month starts); edges take the nearest."""
    nm, nb, ny, nx = out.shape
    for yy in prange(ny):
        for b in range(nb):
            for xx in range(nx):
                prev = -1
                for m in range(nm):
                    if np.isnan(out[m, b, yy, xx]):
                        continue
                    if prev < 0:
                        for k in range(m):
                            out[k, b, yy, xx] = out[m, b, yy, xx]
                    elif m - prev > 1:
                        a = out[prev, b, yy, xx]
                        z = out[m, b, yy, xx]
                        span = days[m] - days[prev]
                        for k in range(prev + 1, m):
                            w = (days[k] - days[prev]) / span
                            out[k, b, yy, xx] = a + (z - a) * w
                    prev = m
                if prev >= 0:
                    for k in range(prev + 1, nm):
                        out[k, b, yy, xx] = out[prev, b, yy, xx]


def month_windows(times, start_month=9):
    """Month index of every date (agricultural years from `start_month`) and the month starts."""
    stamps = np.asarray(times, dtype="datetime64[M]")
    absolute = stamps.astype(np.int64)  # months since 1970-01
    first = absolute.min()
    calendar = first % 12  # 0 = January
    offset = (calendar - (start_month - 1)) % 12
    origin = first - offset
    index = absolute - origin
    n_months = int((index.max() // 12 + 1) * 12)
    starts = (np.arange(n_months) + origin).astype("datetime64[M]").astype("datetime64[ns]")
    return index.astype(np.int64), starts


def _clear_mask(scl, mask_classes, dilation):
    """True where an observation is clear: SCL known and not in mask_classes, dilated."""
    from scipy import ndimage

    bad = np.isnan(scl)
    for code in mask_classes:  # a few compares: 15 % faster than np.isin on a year's block
        bad |= scl == code
    if dilation > 0:
        structure = np.zeros((1, 3, 3), dtype=bool)
        structure[0] = ndimage.generate_binary_structure(2, 1)
        bad = ndimage.binary_dilation(bad, structure=structure, iterations=dilation)
    return ~bad


_BLOCK_ARGS = (
    "scl_index",
    "order",
    "bounds",
    "days",
    "method",
    "red",
    "nir",
    "mask_classes",
    "dilation",
    "fill",
    "with_count",
)


def composite_block(
    block,
    clear=None,
    *,
    scl_index,
    order,
    bounds,
    days,
    method,
    red,
    nir,
    mask_classes,
    dilation,
    fill,
    with_count,
):
    """One spatial block (t, bands, y, x) -> (months, out bands, y, x), band by band.

    `clear` is the block's clear-observation mask when it was computed outside (dilated
    across block edges); otherwise it comes from the block's SCL band.
    """
    block = np.asarray(block, dtype=np.float32)
    if clear is None:
        clear = _clear_mask(block[:, scl_index], mask_classes, dilation)
    clear = np.asarray(clear)
    bands = [block[:, b] for b in range(block.shape[1]) if b != scl_index]
    n_months = len(bounds) - 1
    out = np.full((n_months, len(bands) + with_count, *clear.shape[1:]), np.nan, np.float32)
    if method == "best":
        best = _best_dates(bands[red], bands[nir], clear, order, bounds)
        for b, values in enumerate(bands):
            _gather(values, best, out[:, b])
    else:
        for b, values in enumerate(bands):
            _composite_band(values, clear, order, bounds, method == "mean", out[:, b])
    if fill == "linear":
        _fill_linear(out[:, : len(bands)], days)
    if with_count:
        out[:, -1] = _clear_counts(clear, order, bounds)
    return out


def _with_clear(block, clear, func):
    return func(block, clear[:, 0])


def _dilated_clear(scl, mask_classes, dilation):
    """The clear mask of an SCL block with `dilation` extra pixels each side, trimmed."""
    d = dilation
    return _clear_mask(scl, mask_classes, dilation)[:, d:-d, d:-d]


def merged_chunks(chunks, most=OUTPUT_PX):
    """Consecutive chunk sizes joined while their sum stays within `most`.

    A long series is loaded in small chunks (half a COG tile for a year) to bound what each
    core holds; the composite has 12 dates, so its blocks can be whole tiles again: what
    comes after (classifiers, UDFs through run_udf, the writer) sees as few block edges as
    from whole-tile chunks, and each input chunk is still computed once, one at a time.
    """
    out = []
    for size in chunks:
        if out and out[-1] + size <= most:
            out[-1] += size
        else:
            out.append(size)
    return tuple(out)


def composite(
    cube,
    start_month=9,
    method="median",
    mask_classes=DEFAULT_MASK,
    mask_dilation=0,
    fill="linear",
    valid_count=False,
    scl_band="SCL",
    red_band="B04",
    nir_band="B08",
):
    """The monthly composites of a (t, bands, y, x) DataArray, lazily when it is dask-backed."""
    import dask.array as da

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if fill not in ("linear", "none"):
        raise ValueError("fill must be 'linear' or 'none'")
    cube = cube.transpose("t", "bands", "y", "x")
    bands = [str(b) for b in cube["bands"].values]
    if scl_band not in bands:
        raise ValueError(f"the cube has no '{scl_band}' band to mask with")
    scl_index = bands.index(scl_band)
    out_bands = [b for b in bands if b != scl_band]
    red = nir = 0
    if method == "best":
        missing = [b for b in (red_band, nir_band) if b not in out_bands]
        if missing:
            raise ValueError(f"method 'best' needs bands {red_band} and {nir_band}")
        red, nir = out_bands.index(red_band), out_bands.index(nir_band)
    month, starts = month_windows(cube["t"].values, start_month)
    n_months = len(starts)
    order = np.argsort(month, kind="stable")
    bounds = np.searchsorted(month[order], np.arange(n_months + 1)).astype(np.int64)
    days = ((starts - starts[0]) / np.timedelta64(1, "D")).astype(np.float64)
    labels = out_bands + (["valid_count"] if valid_count else [])
    args = (
        scl_index,
        order,
        bounds,
        days,
        method,
        red,
        nir,
        tuple(mask_classes),
        int(mask_dilation),
        fill,
        valid_count,
    )
    block_func = partial(composite_block, **dict(zip(_BLOCK_ARGS, args, strict=True)))
    data = cube.data
    if isinstance(data, da.Array):
        # Whole time series per block, so keep the blocks' area bounded instead; blocks
        # near that size stay as loaded, so each load chunk is read once, by one block.
        side = max(64, int(np.sqrt(BLOCK_BYTES / (4 * data.shape[0] * data.shape[1]))))
        chunks = {0: -1, 1: -1}
        chunks.update({axis: side for axis in (2, 3) if max(data.chunks[axis]) > 2 * side})
        data = data.rechunk(chunks)
        chunks = ((n_months,), (len(labels),), data.chunks[2], data.chunks[3])
        depth = int(mask_dilation)
        if depth:
            # Dilation reaches `depth` pixels into the neighbours, so only the SCL band is
            # read with their edges (mirrored at the cube's edges, where a mirrored pixel
            # dilates exactly as the real one it mirrors); the reflectances are not.
            # SCL from the cube as loaded, not from `data`, whose chunks may hold all
            # bands (the readers' do): slicing those would read every band's halo.
            scl = cube.data[:, scl_index].rechunk({0: -1, 1: data.chunks[2], 2: data.chunks[3]})
            scl = da.overlap.overlap(
                scl, depth={0: 0, 1: depth, 2: depth}, boundary={1: "reflect", 2: "reflect"}
            )
            clear = scl.map_blocks(
                _dilated_clear,
                tuple(mask_classes),
                depth,
                dtype=bool,
                chunks=(data.chunks[0], data.chunks[2], data.chunks[3]),
            )
            result = da.map_blocks(
                _with_clear, data, clear[:, None], block_func, dtype=np.float32, chunks=chunks
            )
        else:
            result = da.map_blocks(block_func, data, dtype=np.float32, chunks=chunks)
        result = result.rechunk({2: merged_chunks(chunks[2]), 3: merged_chunks(chunks[3])})
    else:
        result = block_func(data)
    coords = {
        k: v
        for k, v in cube.coords.items()
        if k not in ("t", "bands") and "t" not in v.dims and "bands" not in v.dims
    }
    coords.update({"t": starts, "bands": labels})
    return xarray.DataArray(
        result,
        dims=("t", "bands", "y", "x"),
        coords=coords,
        attrs=dict(cube.attrs),
        name="monthly_composite",
    )


def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:
    """openEO UDF entry point; `context` holds the process parameters (see the spec)."""
    return composite(cube, **(context or {}))
