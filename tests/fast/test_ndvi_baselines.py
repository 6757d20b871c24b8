"""The NDVI baselines of the ndvi_forecast evaluation, on hand-made series and on the real
eo-learn stack (where the issue quotes measured figures for the same definitions)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.shared import eolearn_cube
from training import ndvi_baselines as nb
from udfs import ndvi_forecast as nf

MONTHS = np.arange("2015-01", "2017-01", dtype="datetime64[M]")


def test_persistence_and_climatology_by_hand():
    values = np.full((24, 1, 1), np.nan)
    values[[0, 3, 12, 15], 0, 0] = [0.2, 0.5, 0.4, 0.7]
    pers = nb.persistence(values, horizon=1)[:, 0, 0]
    assert np.isnan(pers[0]) and pers[1] == 0.2 and pers[3] == 0.2 and pers[4] == 0.5
    assert nb.persistence(values, horizon=3)[3, 0, 0] == 0.2
    assert nb.persistence(values, horizon=4)[4, 0, 0] == 0.2
    clim = nb.climatology(values, MONTHS)[:, 0, 0]
    assert np.isnan(clim[:12]).all()  # no earlier year
    assert clim[12] == 0.2 and clim[15] == 0.5 and np.isnan(clim[13])


def test_linear_gapfill_on_dates():
    values = np.full((24, 1, 1), np.nan)
    values[[1, 3], 0, 0] = [0.0, 0.59]  # February and April 2015
    filled = nb.linear_gapfill(values, MONTHS)[:, 0, 0]
    assert filled[0] == 0.0 and filled[5] == 0.59  # edges: nearest
    assert abs(filled[2] - 0.59 * 28 / 59) < 1e-12  # 1 March: 28 of the 59 days


def test_real_stack_reproduces_the_quoted_baselines():
    """Horizon 1 over all pixels: the issue measured persistence 0.101, climatology 0.098."""
    values, months = nb.monthly_ndvi(eolearn_cube())
    assert values.shape == (36, 101, 100)
    everywhere = np.ones(values.shape, bool)
    got = nb.forecast_baselines(values, months, 1, everywhere, everywhere)
    assert abs(got["persistence"]["mae"] - 0.101) < 0.002, got
    assert abs(got["climatology"]["mae"] - 0.098) < 0.002, got
    assert got["blend"]["mae"] < got["climatology"]["mae"]
    # Gap filling by linear interpolation on 20 % hidden clear months: quoted 0.092-0.102.
    hidden_values, hidden = nb.hide_months(values, 0.2, seed=0)
    filled = nb.linear_gapfill(hidden_values, months)
    mae = nb.scores(values[hidden], filled[hidden])["mae"]
    assert 0.085 < mae < 0.11, mae


def test_forecast_baselines_on_windows_by_hand():
    """The product's baselines (udfs/ndvi_forecast.py), on windows of a cube's months."""
    nan = np.nan
    windows = np.array(
        [
            [0.2, nan, 0.4, nan],  # last clear 0.4 at index 2, the one before 0.2 at 0
            [nan, nan, nan, 0.7],  # one clear month: no trend
            [nan] * 4,  # nothing clear
        ]
    )
    np.testing.assert_allclose(nf.persistence(windows), [0.4, 0.7, nan])
    # slope 0.1 a month; 2 months from the last clear one to h=1, damped 0.5 + 0.25
    np.testing.assert_allclose(nf.damped_trend(windows, 1, 0.5), [0.475, 0.7, nan])
    np.testing.assert_allclose(nf.damped_trend(windows, 1, 1.0), [0.6, 0.7, nan])
    assert nf.damped_trend(np.array([[0.1, 0.9]]), 6, 1.0)[0] == 1.0  # clipped to NDVI's range
    year = np.full((1, 14), nan)
    year[0, [1, 3, 13]] = [0.3, 0.5, 0.8]
    # The target of h=1 is index 14: its calendar month is at index 2 (cloudy), so
    # persistence; h=2 (index 15): index 3; h=12 (index 25): indexes 13 and 1, averaged.
    assert nf.seasonal(year, 1)[0] == 0.8
    assert nf.seasonal(year, 2)[0] == 0.5
    assert nf.seasonal(year, 12)[0] == pytest.approx(0.55)
    assert [nf.history_step(m) for m in (1, 2, 5, 6, 11, 12, 30)] == [2, 2, 3, 6, 6, 12, 24]


def test_a_fallback_centres_the_forecast_on_its_baseline():
    """Where a model's meta names a baseline for a history length and horizon, its median
    is that baseline and its range moves with it; elsewhere the network answers."""
    import torch

    torch.manual_seed(0)
    network = nf.NDVINet(hidden=8, history=24)
    plain = nf.NDVIModel(network)
    chosen = nf.NDVIModel(network, {"fallbacks": {"3": {"1": "persistence", "2": "seasonal"}}})
    series = np.array([[0.3, np.nan, 0.6], [np.nan, 0.5, np.nan]], np.float32)
    got, raw = chosen.forecast(series, 5, 3), plain.forecast(series, 5, 3)
    np.testing.assert_allclose(got[:, 0, 1], [0.6, 0.5], rtol=1e-6)
    np.testing.assert_allclose(got[:, 0] - got[:, 0, 1:2], raw[:, 0] - raw[:, 0, 1:2], atol=1e-6)
    np.testing.assert_allclose(got[:, 1, 1], [0.6, 0.5], rtol=1e-6)  # no calendar twin
    np.testing.assert_array_equal(got[:, 2], raw[:, 2])  # h3: the network's own
    longer = np.concatenate([series, series, series[:, :1]], axis=1)  # 7 months: step 6
    np.testing.assert_array_equal(chosen.forecast(longer, 5, 1), plain.forecast(longer, 5, 1))


def test_evaluation_cases_are_what_a_cube_of_that_many_months_gives():
    """training.ndvi_windows: the L months ending h before each clear target, cases with no
    clear history month left out, and MAE by class."""
    from training import ndvi_windows as nw

    nan = np.nan
    values = np.array([[0.1, 0.5], [0.2, nan], [0.3, nan], [nan, nan], [0.5, 0.9]])
    months = np.arange("2021-11", "2022-04", dtype="datetime64[M]")
    found = nw.cases(values, months, np.array([7, 8]), 2, 1, np.ones(5, bool))
    # targets 2 (from months 0-1) and 4 (from 2-3) of pixel 0; pixel 1's target 4 has a
    # cloudy history (months 2-3) and its other months are not clear
    np.testing.assert_array_equal(found.target, [2, 4])
    np.testing.assert_allclose(found.windows, [[0.1, 0.2], [0.3, nan]], rtol=1e-6)
    np.testing.assert_array_equal(found.truth, [0.3, 0.5])
    np.testing.assert_array_equal(found.first, [10, 0])  # November, January
    assert nw.cases(values, months, np.array([7, 8]), 4, 2, np.ones(5, bool)) is None
    row = nw.score(found, {"persistence": lambda w, f, h: nf.persistence(w)}, 1, {7: "maize"})
    assert row["n"] == 2 and row["mae"]["persistence"] == pytest.approx(0.15)
    assert row["by_class"]["maize"]["mae"]["persistence"] == pytest.approx(0.15)
