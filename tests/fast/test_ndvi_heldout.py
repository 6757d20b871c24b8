"""training.ndvi_heldout's choices and reports on small hand-made sources: fallbacks where
the baselines beat the network on every validation source, the default equal to its
fallback there, the bar's misses and the model card."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training import ndvi_heldout as nh
from training import ndvi_windows as nw
from udfs import ndvi_forecast as nf

MONTHS = np.arange("2020-01", "2021-07", dtype="datetime64[M]")  # 18 months
NAMES = {0: "meadow", 1: "maize"}


def _source(seed: int, targets: np.ndarray | None = None) -> nh.Source:
    """Smooth seasonal NDVI with cloudy gaps: the last clear month is a good answer."""
    rng = np.random.default_rng(seed)
    step = np.arange(len(MONTHS))[:, None, None]
    values = 0.5 + 0.3 * np.sin(2 * np.pi * step / 12 + rng.uniform(0, 6, (1, 3, 40)))
    values[rng.random(values.shape) < 0.2] = np.nan
    classes = np.zeros((3, 40), int)
    classes[1:] = 1
    return nh.Source(values, MONTHS, classes, NAMES, targets)


def test_fallbacks_are_chosen_on_validation_and_kept_by_the_default(tmp_path):
    torch.manual_seed(0)
    model = nf.NDVIModel(nf.NDVINet(hidden=4, history=12))  # untrained: the baselines win
    fallbacks = nh.choose_fallbacks(model, [_source(1), _source(2)])
    assert fallbacks and set(fallbacks) <= {"2", "3", "6", "12"}
    assert {n for by_h in fallbacks.values() for n in by_h.values()} <= set(nf.BASELINES)
    scales = nh.choose_range_scales(model, [_source(1), _source(2)])
    assert set(scales) == {"2", "3", "6", "12"} and all(len(by_h) == 6 for by_h in scales.values())
    assert all(s >= nf.MIN_SCALE for by_h in scales.values() for s in by_h.values())
    model.meta.update(
        fallbacks=fallbacks, range_scales=scales, epochs_run=0, best_val_mae=0.5, data="hand-made"
    )
    held = {"hand-made (held out)": _source(3, MONTHS >= np.datetime64("2020-10"))}
    methods = {
        "default": nw.network(model, calibrate=True),
        nh.AS_TRAINED: nw.network(model),
        "network alone": nw.network(nf.NDVIModel(model.network)),
        **nw.baselines(),
    }
    results = nh.evaluate(held, methods, tuple(held))
    rows = results["hand-made (held out)"]
    checked = 0
    for history, by_h in fallbacks.items():
        for h, name in by_h.items():
            row = rows[int(history)][int(h)]
            assert row["mae"]["default"] == pytest.approx(row["mae"][name], rel=1e-5)
            checked += 1
    assert checked == sum(len(v) for v in fallbacks.values())
    assert set(rows[3][1]["by_class"]) == {"meadow", "maize"}
    # the bar's misses are the cells where the default is above the best baseline
    missed = nh.bar(results)
    above = [
        (history, h)
        for history, by_h in rows.items()
        for h, row in by_h.items()
        if row["mae"]["default"]
        > min(row["mae"][k] for k in nf.BASELINES) * (1.0 if h == 1 else 1.05)
    ]
    assert len(missed) == len(above)
    metrics = {
        "config": {"history": 12},
        "heldout": results,
        "gapfill": nh.gapfill(held, model, tuple(held)),
        "missed": missed,
        **model.meta,
    }
    nh.write_card(tmp_path, metrics)
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "**hand-made (held out)**" in card and "| 3 months |" in card
    assert "| coverage | as trained |" in card and "% of them calibrated" in card
    assert f'"2": {{"1": {scales["2"]["1"]}' in card
    assert "| hand-made (held out) | maize |" in card
    assert ("- nowhere" in card) == (not missed)
