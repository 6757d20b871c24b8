"""The process registry: openeo-processes-dask's standard processes, ours, and overrides."""
