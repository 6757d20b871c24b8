"""Evaluation of a classifier on held-out samples: metrics JSON, confusion matrix, model card."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score


def scores(truth: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Overall accuracy, Cohen's kappa, macro F1, per-class F1 and the confusion matrix."""
    labels = list(range(len(classes)))
    per_class = f1_score(truth, pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, np.unique(truth))
    return {
        "pixels": int(len(truth)),
        "overall_accuracy": float(accuracy_score(truth, pred)),
        "kappa": float(cohen_kappa_score(truth, pred)),
        # macro over the classes present in the test part (absent ones have no F1)
        "macro_f1": float(per_class[present].mean()) if present.any() else 0.0,
        "f1_per_class": {
            name: (float(f) if p else None)
            for name, f, p in zip(classes, per_class, present, strict=True)
        },
        "confusion_matrix": confusion_matrix(truth, pred, labels=labels).tolist(),
    }


def confusion_png(matrix: list[list[int]], classes: list[str], path: Path, title: str) -> None:
    """The confusion matrix, rows normalised to recall, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    recall = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(9, 8), dpi=100)
    ax.imshow(recall, cmap="Greens", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    int(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if recall[i, j] > 0.6 else "black",
                )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _table(metrics: dict[str, dict], classes: list[str]) -> str:
    names = list(metrics)
    rows = [f"| | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
    for key, label in (
        ("overall_accuracy", "overall accuracy"),
        ("kappa", "Cohen's kappa"),
        ("macro_f1", "macro F1"),
    ):
        rows.append(f"| {label} | " + " | ".join(f"{metrics[n][key]:.4f}" for n in names) + " |")
    for c in classes:
        vals = [metrics[n]["f1_per_class"][c] for n in names]
        rows.append(
            f"| F1 {c} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |"
        )
    return "\n".join(rows)


def model_card(
    path: Path,
    *,
    title: str,
    model_file: str,
    data: dict,
    counts: dict,
    config: dict,
    metrics: dict[str, dict],
    classes: list[str],
    notes: str,
) -> None:
    """A markdown card: what the model was trained and evaluated on, and how well it did."""
    split = "\n".join(
        f"| {name} | {c['pixels']:,} | {c['groups']:,} |" for name, c in counts.items()
    )
    text = f"""# {title}

File: `{model_file}`. Written {dt.date.today().isoformat()} by `cropcube train lstm`.

## Data
{chr(10).join(f"- {k}: {v}" for k, v in data.items())}

| part | pixels | groups |
|---|---|---|
{split}

## Model
LSTM over 12 monthly composites x 9 bands (B02 B03 B04 B05 B06 B07 B8A B11 B12, reflectance
x 10000), normalised with the training part's mean and standard deviation (stored in the
file). Settings: `{json.dumps(config)}`

## Classes
{", ".join(f"{i} {c}" for i, c in enumerate(classes))}

## Evaluation on the test part
{_table(metrics, classes)}

The confusion matrix is in `confusion_matrix.png`; all figures in `metrics.json`.

## Limits
{notes}
"""
    path.write_text(text)
