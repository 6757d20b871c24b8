"""`cropcube train ndvi`: a data set in; the model, its evaluation, card and metrics out."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from demo.build import describe
from training import ndvi_baselines as nb
from training import ndvi_windows as nw
from training.config import NDVIConfig
from training.ndvi_evaluation import (
    DEFAULT,
    calendar_of,
    demo_ndvi,
    evaluate,
    load_eolearn,
)
from training.ndvi_lstm import fit_cube

EOLEARN_NOTES = (
    "Trained on one real Sentinel-2 patch (eo-learn's example, about 1 km2, 2015-2017, NDVI "
    "and cloud mask as published with eo-learn): one place, 2.5 years, and some scenes the "
    "cloud mask calls clear are hazy. It has seen few crops and seasons; fine-tune it on "
    "your area (`fit_ndvi_forecaster`, `cropcube train ndvi`) before relying on it."
)
DEMO_NOTES = (
    "Trained on cropcube's simulated demo scene (`cropcube demo-data`), not on real data: "
    "it knows the simulator's phenology and is no evidence of skill on real Sentinel-2."
)


def dataset(
    name: str, data_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.datetime64, dict, str]:
    """'eolearn[:PATH]' or 'demo' -> monthly NDVI, month starts, the time-disjoint split
    date, a description and the card's notes."""
    if name == "eolearn" or name.startswith("eolearn:"):
        path = Path(name.split(":", 1)[1]) if ":" in name else DEFAULT
        values, months = nb.monthly_ndvi(load_eolearn(path))
        return (
            values,
            months,
            np.datetime64("2017-01-01"),
            {
                "source": f"eo-learn example patch ({path.name}): real Sentinel-2 NDVI "
                "with its cloud mask",
                "months": f"{months[0]!s:.7} to {months[-1]!s:.7}",
                "pixels": f"{values.shape[1]} x {values.shape[2]} (10 m)",
            },
            EOLEARN_NOTES,
        )
    if name == "demo":
        values, months, scene = demo_ndvi(data_dir)
        return (
            values,
            months,
            np.datetime64("2022-09-01"),
            {
                "source": "cropcube demo collection (simulated Sentinel-2 L2A): "
                + describe(scene.size, scene.seed),
                "months": f"{months[0]!s:.7} to {months[-1]!s:.7}",
                "pixels": f"{values.shape[1]} x {values.shape[2]} (10 m)",
            },
            DEMO_NOTES,
        )
    raise ValueError(f"unknown dataset {name!r}: use 'eolearn', 'eolearn:PATH' or 'demo'")


def _cell(score: dict | None) -> str:
    return "-" if score is None else f"{score['mae']:.4f} / {score['rmse']:.4f} / {score['r2']:.3f}"


def _rows(results: dict) -> str:
    """Markdown tables of MAE / RMSE / R2 per split and horizon, and of gap filling."""
    lines = [
        "| split | horizon | targets | LSTM | persistence | climatology | blend |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, res in results.items():
        for h, row in res["forecast"].items():
            lines.append(
                f"| {split} | {h} | {row['lstm']['n']:,} | "
                + " | ".join(_cell(row[k]) for k in ("lstm", "persistence", "climatology", "blend"))
                + " |"
            )
    lines += ["", "| split | hidden months | LSTM | linear interpolation |", "|---|---|---|---|"]
    for split, res in results.items():
        g = res["gapfill"]
        lines.append(
            f"| {split} | {g['lstm']['n']:,} | {_cell(g['lstm'])} | {_cell(g['linear'])} |"
        )
    return "\n".join(lines)


def losses(results: dict) -> list[str]:
    """Where the LSTM does not beat the best baseline (forecasts) or linear interpolation."""
    found = []
    for split, res in results.items():
        for h, row in res["forecast"].items():
            best = min((k for k in row if k != "lstm" and row[k]), key=lambda k: row[k]["mae"])
            if row["lstm"]["mae"] >= row[best]["mae"]:
                found.append(
                    f"{split}, horizon {h}: LSTM {row['lstm']['mae']:.4f} against "
                    f"{best} {row[best]['mae']:.4f}"
                )
        g = res["gapfill"]
        if g["lstm"]["mae"] >= g["linear"]["mae"]:
            found.append(
                f"{split}, gap filling: LSTM {g['lstm']['mae']:.4f} against linear "
                f"interpolation {g['linear']['mae']:.4f}"
            )
    return found


def train_ndvi(
    name: str,
    out_dir: Path,
    config: NDVIConfig,
    data_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate the recipe on the data set's splits, then train the model on all of it."""
    values, months, split_date, data, notes = dataset(name, data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = evaluate(values, months, split_date, config, name)
    model, history = fit_cube(
        values, calendar_of(months), config, meta={"data": data}, progress=progress
    )
    model.meta["evaluation_h1_mae"] = {
        split: {k: v and round(v["mae"], 4) for k, v in res["forecast"][1].items()}
        for split, res in results.items()
    }
    model.save(out_dir / "model.pt")
    metrics = {
        "evaluation": results,
        "history": history,
        "data": data,
        "config": asdict(config),
        "time_split": str(split_date),
        "notes": notes,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_card(out_dir, name, model.meta, metrics)
    return results


def write_card(out_dir: Path, name: str, meta: dict, metrics: dict) -> None:
    """MODEL_CARD.md from the model's meta and the metrics train_ndvi wrote."""
    data, config, results = metrics["data"], metrics["config"], metrics["evaluation"]
    notes = metrics["notes"]
    (out_dir / "MODEL_CARD.md").write_text(f"""# cropcube NDVI forecaster ({name})

File: `model.pt`. Written {dt.date.today().isoformat()} by `cropcube train ndvi --dataset {name}`.

## Data
{chr(10).join(f"- {k}: {v}" for k, v in data.items())}
- monthly NDVI: mean of the clear observations of each calendar month (NaN without one)
- these weights: every pixel with 3 or more clear months, all months; 32 x 32 px blocks
  split 80/20 for early stopping ({meta["epochs_run"]} epochs run, best validation
  MAE {meta["best_val_mae"]:.4f})

## Model
Bidirectional LSTM over windows of {config["history"]} observed + 6 predicted months; per month
(NDVI, clear flag, linear interpolation, calendar sine and cosine) in, 10/50/90 % quantiles
out, the median a correction to linear interpolation (persistence after the last clear
month). Trained on random forecast windows (last 6 months hidden) and gap-filling windows
(20 % of clear months hidden, sometimes a run of 2-4), pinball loss on hidden clear months.
Settings: `{json.dumps(config)}`

## Evaluation
The same recipe trained on the training part only, scored on clear targets of the
test part (MAE / RMSE / R2 of NDVI); pixel-disjoint: left half trains, right half
tests; time-disjoint: months before {metrics["time_split"][:10]} train, targets from
then on test. Baselines on the same targets:
persistence (last clear month at or before the origin), climatology (mean of the same
calendar month in earlier years), their least-squares blend fitted on the training part.
Gap filling: 20 % of the test part's clear months hidden (seed 0).

{_rows(results)}

As a user meets it: the same models from histories of 2, 3, 6, 12 and 24 months only
(the months ending h before each clear target), beside the product's baselines.

{nw.tables({split: res["by_history"] for split, res in results.items()}, "lstm")}
All figures in `metrics.json`, per class of field too where the data set has a class map.

Where the LSTM does not beat the best baseline:
{chr(10).join(f"- {line}" for line in losses(results)) or "- nowhere"}

## Limits
{notes}
""")
