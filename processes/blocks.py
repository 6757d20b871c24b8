"""A cube through a function that takes and returns labelled cubes, one spatial block at a
time: what run_udf (and apply_neighborhood) need where openeo-processes-dask only hands
unlabelled arrays to callbacks.

Each block holds the whole of every other dimension (t, bands), optionally with a margin of
neighbours (no-data beyond the cube's edge), and is computed as one dask task, so memory
follows the block size, not the scene. The first block is computed at once to learn what
the function returns (its dims, labels and dtype); every other block must agree, and the
margins are cut off again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

SPATIAL = ("y", "x")
Function = Callable[[xr.DataArray], xr.DataArray]


class BlockMismatch(Exception):
    """A block's result disagrees with the first block's, or with the block it came from;
    the message says how, for the user."""


@dataclass(frozen=True)
class Layout:
    """Where the blocks are: per spatial dim, the (start, stop) spans and the margin."""

    spans: dict[str, list[tuple[int, int]]]
    margin: dict[str, int]


def layout(
    cube: xr.DataArray, size: dict[str, int] | None = None, margin: dict[str, int] | None = None
) -> Layout:
    """Blocks of `size` px (default: the cube's own dask chunks, else the whole extent)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    chunks = cube.chunksizes if cube.chunks is not None else {}
    for dim in SPATIAL:
        if dim not in cube.dims:
            continue
        n = cube.sizes[dim]
        if size and dim in size:
            step = max(1, size[dim])
            spans[dim] = [(i, min(i + step, n)) for i in range(0, n, step)] or [(0, 0)]
        elif dim in chunks:
            edges = np.cumsum((0, *chunks[dim]))
            spans[dim] = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        else:
            spans[dim] = [(0, n)]
    return Layout(spans, {d: int((margin or {}).get(d, 0)) for d in spans})


def _padded(cube: xr.DataArray, margin: dict[str, int]) -> xr.DataArray:
    """The cube with `margin` no-data pixels on each side, their coordinates extrapolated."""
    widths = {d: (m, m) for d, m in margin.items() if m}
    if not widths:
        return cube
    padded = cube.pad(widths, mode="constant", constant_values=np.nan)
    coords = {}
    for dim, m in margin.items():
        values = cube[dim].values.astype("float64")
        step = values[1] - values[0] if len(values) > 1 else 1.0
        before = values[0] - step * np.arange(m, 0, -1)
        after = values[-1] + step * np.arange(1, m + 1)
        coords[dim] = np.concatenate([before, values, after])
    return padded.assign_coords(coords)


def _windows(cube: xr.DataArray, plan: Layout) -> dict[tuple[int, ...], xr.DataArray]:
    padded = _padded(cube, plan.margin)
    dims = list(plan.spans)
    out: dict[tuple[int, ...], xr.DataArray] = {}
    for index in np.ndindex(*(len(plan.spans[d]) for d in dims)):
        sel = {}
        for dim, i in zip(dims, index, strict=True):
            start, stop = plan.spans[dim][i]
            sel[dim] = slice(start, stop + 2 * plan.margin[dim])  # padded coordinates
        out[index] = padded.isel(sel)
    return out


@dataclass(frozen=True)
class Template:
    """What every block's result looks like: dims (spatial last), the non-spatial labels
    and sizes, the dtype."""

    dims: tuple[str, ...]
    sizes: dict[str, int]
    coords: dict[str, np.ndarray]
    dtype: np.dtype


def _template(result: xr.DataArray, spatial: list[str]) -> Template:
    others = [d for d in result.dims if d not in spatial]
    coords = {str(d): result[d].values for d in others if d in result.coords}
    sizes = {str(d): int(result.sizes[d]) for d in others}
    return Template((*map(str, others), *spatial), sizes, coords, result.dtype)


def _conform(
    result: Any, window: xr.DataArray, plan: Layout, template: Template | None, where: str
) -> xr.DataArray:
    """The block's result with its spatial dims checked against the window, its margin cut
    off and its other labels checked against the template."""
    if not isinstance(result, xr.DataArray):
        raise BlockMismatch(f"{where}: the result is {type(result).__name__}, not a data cube")
    for dim in plan.spans:
        if dim not in result.dims:
            raise BlockMismatch(f"{where}: the result lacks the dimension '{dim}'")
        if result.sizes[dim] != window.sizes[dim]:
            raise BlockMismatch(
                f"{where}: the result has {result.sizes[dim]} values along '{dim}' where the "
                f"block it was given has {window.sizes[dim]}; the spatial grid must stay"
            )
    cut = {d: slice(m, window.sizes[d] - m) for d, m in plan.margin.items() if m}
    result = result.drop_vars([d for d in plan.spans if d in result.coords]).isel(cut)
    if template is not None:
        if set(result.dims) != set(template.dims):
            raise BlockMismatch(
                f"{where}: the result has the dimensions {', '.join(map(str, result.dims))}, "
                f"the first block's had {', '.join(template.dims)}"
            )
        for dim, n in template.sizes.items():
            if result.sizes[dim] != n or (
                dim in template.coords
                and dim in result.coords
                and not np.array_equal(result[dim].values, template.coords[dim])
            ):
                raise BlockMismatch(f"{where}: other labels along '{dim}' than the first block's")
        result = result.transpose(*template.dims).astype(template.dtype, copy=False)
    return result


def _block(
    function: Function, window: xr.DataArray, plan: Layout, template: Template, where: str
) -> np.ndarray:
    return np.asarray(_conform(function(window), window, plan, template, where).values)


def apply_blocks(
    cube: xr.DataArray,
    function: Function,
    plan: Layout,
    guess: xr.DataArray | None = None,
) -> xr.DataArray:
    """The blocks' results assembled lazily into one cube of the input's spatial grid.

    `guess`, where given, stands in for the first block's result (an estimate, which must
    not run anything); otherwise the first block runs now and is reused.
    """
    windows = _windows(cube, plan)
    spatial = list(plan.spans)
    first_index = next(iter(windows))
    if guess is None:
        first = _conform(
            function(windows[first_index].compute()), windows[first_index], plan, None, "block 1"
        )
        template = _template(first, spatial)
        first_values = first.transpose(*template.dims).values
    else:
        template, first_values = _template(guess, spatial), None
    grid: dict[tuple[int, ...], Any] = {}
    for n, (index, window) in enumerate(windows.items(), start=1):
        shape = [template.sizes[d] for d in template.dims if d not in spatial]
        shape += [
            plan.spans[d][i][1] - plan.spans[d][i][0] for d, i in zip(spatial, index, strict=True)
        ]
        if index == first_index and first_values is not None:
            grid[index] = da.from_array(first_values, chunks=first_values.shape)
            continue
        piece = dask.delayed(_block, pure=False)(function, window, plan, template, f"block {n}")
        grid[index] = da.from_delayed(piece, tuple(shape), dtype=template.dtype)
    nested = _nest(grid, [len(plan.spans[d]) for d in spatial])
    data = da.block(nested) if spatial else grid[()]
    coords: dict[str, Any] = {d: cube[d].values for d in spatial if d in cube.coords}
    coords.update(template.coords)
    out = xr.DataArray(
        data, dims=template.dims, coords=coords, attrs=dict(cube.attrs), name=cube.name
    )
    order = [d for d in cube.dims if d in out.dims] + [d for d in out.dims if d not in cube.dims]
    return out.transpose(*order)


def _nest(grid: dict[tuple[int, ...], Any], counts: list[int]) -> Any:
    if not counts:
        return grid[()]

    def level(prefix: tuple[int, ...], depth: int) -> Any:
        if depth == len(counts):
            return grid[prefix]
        return [level((*prefix, i), depth + 1) for i in range(counts[depth])]

    return level((), 0)
