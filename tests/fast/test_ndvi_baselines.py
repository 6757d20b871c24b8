"""The NDVI baselines of the ndvi_forecast evaluation, on hand-made series and on the real
eo-learn stack (where the issue quotes measured figures for the same definitions)."""

from __future__ import annotations

import numpy as np

from helpers.shared import eolearn_cube
from training import ndvi_baselines as nb

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
