"""The process registry: openeo-processes-dask's standard processes, ours, and overrides."""

import logging

# openeo-processes-dask warns on import that its machine-learning processes (fit_*_random_
# forest and friends, which need xgboost and more) did not load. cropcube does not offer
# them, it has its own, so the warning only reads like a fault: drop that one message.
logging.getLogger("openeo_processes_dask.process_implementations").addFilter(
    lambda record: "machine learning processes" not in record.getMessage()
)
