"""Standard processes where openeo-processes-dask's implementation is wrong or missing for
plain JSON values (one plain function per process, themed modules, as upstream does); the
registry lists these instead of upstream's. Cubes still go to upstream's code."""

from processes.standard import arrays, comparison, cubes, math, text

OVERRIDES = {
    **arrays.IMPLEMENTATIONS,
    **comparison.IMPLEMENTATIONS,
    **cubes.IMPLEMENTATIONS,
    **math.IMPLEMENTATIONS,
    **text.IMPLEMENTATIONS,
}
