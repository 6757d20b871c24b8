"""ndvi_forecast's 10-90 % range, calibrated on the cube's own past: the conformal scale,
its effect on a cube whose network range is wrong, per cell and independent of chunking."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from udfs import ndvi_forecast as nf


def test_scores_scale_and_widen_by_hand():
    q = np.array([[0.2, 0.4, 0.5], [0.2, 0.4, 0.5], [0.2, 0.4, 0.5], [0.2, 0.4, 0.5]])
    truth = np.array([0.4, 0.2, 0.55, 0.0])
    np.testing.assert_allclose(nf.range_scores(q, truth), [0.0, 1.0, 1.5, 2.0])
    assert nf.range_scale(np.ones(nf.MIN_SCORES - 1) * 3) == 1.0  # too few: as trained
    scores = np.linspace(0, 2, 1001)
    assert nf.range_scale(scores) == pytest.approx(2 * 0.8 * 1002 / 1001, abs=0.01)
    assert nf.range_scale(np.zeros(500)) == nf.MIN_SCALE
    wide = nf.widen(q[:1], 2.0)
    np.testing.assert_allclose(wide, [[0.0, 0.4, 0.6]])  # the median stays, each half doubles


def _cube(noise: np.ndarray, months: int = 13, seed: int = 0) -> np.ndarray:
    """(months, y, x) NDVI: a level per pixel plus noise of the given sd per pixel; the
    last month is the truth to forecast."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.3, 0.7, noise.shape)
    return (level + noise * rng.standard_normal((months,) + noise.shape)).astype(np.float32)


def test_a_calibrated_range_holds_80_percent_where_the_network_range_does_not():
    model = nf.bundled("mixed")  # its range is about 0.10 wide, whatever the noise
    for sd in (0.1, 0.2):
        cube = _cube(np.full((60, 60), sd))
        series, truth = cube[:-1].reshape(12, -1).T, cube[-1].reshape(-1)
        raw = model.forecast(series, 0, 1)[:, 0]
        calibrated = model.forecast(series, 0, 1, series[::16])[:, 0]
        inside = [((q[:, 0] <= truth) & (truth <= q[:, 2])).mean() for q in (raw, calibrated)]
        assert inside[0] < 0.4, inside  # far too narrow for this noise
        assert 0.75 < inside[1] < 0.88, inside
        np.testing.assert_array_equal(calibrated[:, 1], raw[:, 1])  # the median stays


def test_each_cell_is_calibrated_on_its_own_past_whatever_the_chunks(monkeypatch):
    monkeypatch.setattr(nf, "CELL", 20)
    noise = np.full((40, 40), 0.02, np.float32)
    noise[:, 20:] = 0.15  # the right-hand cells are noisy
    values = _cube(noise)[:-1]
    cube = xr.DataArray(
        values[:, None],
        dims=("t", "bands", "y", "x"),
        coords={
            "t": np.arange("2020-01", "2021-01", dtype="datetime64[M]").astype("datetime64[ns]"),
            "bands": ["NDVI"],
        },
    )
    model = nf.bundled("mixed")
    whole = nf.forecast(cube, model, 1, uncertainty=True)
    for chunks in ({"y": 7, "x": 13}, {"y": 40, "x": 25}):
        chunked = nf.forecast(cube.chunk(chunks), model, 1, uncertainty=True)
        np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-6)
        assert chunked.data.chunks[3] == (20, 20)  # whole cells, from the first pixel
    width = (whole.sel(bands="NDVI_q90") - whole.sel(bands="NDVI_q10")).values[0]
    assert np.median(width[:, 20:]) > 3 * np.median(width[:, :20])


def test_gap_filling_range_is_calibrated_on_hidden_clear_months():
    model = nf.bundled("mixed")
    cube = _cube(np.full((60, 60), 0.1), months=24)
    series = cube.reshape(24, -1).T
    gaps = np.random.default_rng(1).random(series.shape) < 0.3
    given = np.where(gaps, np.nan, series)
    raw = model.gapfill(given, 0)
    calibrated = model.gapfill(given, 0, given[::16])
    truth = series[gaps]
    inside = [((q[gaps, 0] <= truth) & (truth <= q[gaps, 2])).mean() for q in (raw, calibrated)]
    assert inside[0] < 0.5, inside  # the network's range, far too narrow for this noise
    assert 0.7 < inside[1] < 0.9, inside  # measured 0.76
    np.testing.assert_array_equal(calibrated[..., 1], raw[..., 1])


def test_a_cube_too_short_to_backtest_takes_the_models_validation_factor():
    model = nf.bundled("mixed")
    series = _cube(np.full((30, 30), 0.1), months=2).reshape(2, -1).T
    raw = model.forecast(series, 5, 2)
    assert all(len(s) == 0 for s in model.backtest(series, 5))  # nothing to backtest
    prior = nf.NDVIModel(model.network, {"range_scales": {"2": {"1": 2.0, "2": 0.5}}})
    scaled = prior.forecast(series, 5, 2, series)
    np.testing.assert_allclose(scaled[:, 0], nf.widen(raw[:, 0], 2.0), rtol=1e-6)
    np.testing.assert_allclose(scaled[:, 1], nf.widen(raw[:, 1], 0.5), rtol=1e-6)
    plain = nf.NDVIModel(model.network).forecast(series, 5, 2, series)  # no factors: as trained
    np.testing.assert_array_equal(plain, raw)
