"""The job log's check of a Dask cluster's workers, and the environment the docs recommend."""

from __future__ import annotations

from pathlib import Path

import dask
import distributed.nanny

from backend.jobs.dask_workers import WORKER_ENVIRONMENT, advice, worker_settings

REPO = Path(__file__).resolve().parents[2]
CLEAN = {"profiler": False, "malloc_trim": None}
DEFAULTS = {"profiler": True, "malloc_trim": "65536"}


def test_workers_as_recommended_get_no_advice():
    assert advice({"tcp://a:1": CLEAN, "tcp://b:2": CLEAN}) is None


def test_advice_names_what_slows_which_workers_and_how_to_start_them():
    line = advice({"tcp://a:1": CLEAN, "tcp://b:2": DEFAULTS})
    assert "the statistical profiler on (1 of 2)" in line
    assert "MALLOC_TRIM_THRESHOLD_=65536 (the nanny's default)" in line
    for key, value in WORKER_ENVIRONMENT.items():
        assert f'{key}="{value}"' in line
    only_trim = advice({"tcp://a:1": {"profiler": False, "malloc_trim": "65536"}})
    assert "profiler" not in only_trim.split(", which")[0]


def test_worker_settings_read_this_process(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with dask.config.set({"distributed.worker.profile.enabled": True}):
        assert worker_settings() == DEFAULTS
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        assert worker_settings() == CLEAN


def test_the_recommended_environment_takes_the_nannys_setting_out(monkeypatch):
    """What a nanny started in WORKER_ENVIRONMENT gives its worker: dask parses the variable
    at import and merges it into its defaults, as here."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    key = "distributed.nanny.pre-spawn-environ"
    defaults = dask.config.get(key)
    assert "MALLOC_TRIM_THRESHOLD_" in distributed.nanny._get_env_variables(key)
    (variable,) = [k for k in WORKER_ENVIRONMENT if k.endswith("__PRE_SPAWN_ENVIRON")]
    (parsed,) = dask.config.collect_env({variable: WORKER_ENVIRONMENT[variable]}).values()
    with dask.config.set({key: {**defaults, **parsed["nanny"]["pre_spawn_environ"]}}):
        spawned = distributed.nanny._get_env_variables(key)
    assert "MALLOC_TRIM_THRESHOLD_" not in spawned
    assert spawned["OMP_NUM_THREADS"] == "1"  # the nanny's other settings stay


def test_docs_give_the_same_environment():
    text = (REPO / "docs" / "guide" / "jobs.md").read_text()
    for key, value in WORKER_ENVIRONMENT.items():
        assert f'{key}="{value}"' in text, key
