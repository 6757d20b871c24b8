"""`cropcube train lstm`: samples in, a model file, its card, metrics and figures out."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from training import report
from training.config import LSTMConfig
from training.lstm import fit_and_refit, random_forest
from training.samples import Samples

DEMO_NOTES = (
    "Trained and evaluated on cropcube's simulated demo scene (`cropcube demo-data`), not "
    "on TimeSen2Crop: these weights know the simulator's phenology and spectra and are no "
    "evidence of accuracy on real Sentinel-2 data. Train on TimeSen2Crop with "
    "`cropcube train lstm --dataset timesen2crop:PATH` for real-world use."
)
TS2C_NOTES = (
    "Trained on TimeSen2Crop (Austria, 2017-2019) with tiles kept apart between training, "
    "validation and test; other regions and years may differ. Data acquired since 2022 are "
    "harmonised for the -1000 offset by load_collection before they reach the model."
)


def samples_for(dataset: str, catalog=None, seed: int = 0) -> Samples:
    """'demo' (the catalog's demo collections) or 'timesen2crop:PATH'."""
    if dataset == "demo":
        from training.samples import demo_samples

        return demo_samples(catalog, seed=seed)
    if dataset.startswith("timesen2crop:"):
        from training import timesen2crop

        return timesen2crop.load(dataset.split(":", 1)[1])
    raise ValueError(f"unknown dataset {dataset!r}: use 'demo' or 'timesen2crop:PATH'")


def train_lstm(
    samples: Samples,
    out_dir: Path,
    config: LSTMConfig,
    notes: str = DEMO_NOTES,
    progress: bool = True,
) -> dict:
    """Train, evaluate beside a random forest on the test part, write everything to out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model, history, final = fit_and_refit(samples, config, progress=progress)
    x_test, y_test = samples.part("test")
    forest = random_forest(final, seed=config.seed, max_per_group=config.max_per_group)
    metrics = {
        "LSTM": report.scores(y_test, model.predict_proba(x_test).argmax(axis=1), samples.classes),
        "random forest": report.scores(
            y_test, forest.predict(x_test.reshape(len(x_test), -1)), samples.classes
        ),
    }
    model_file = "model.pt"
    data = {
        **samples.description,
        "final training": model.meta.get("refit", "the train part, early-stopped on validation"),
    }
    model.meta["test"] = {
        k: {m: v[m] for m in ("overall_accuracy", "kappa", "macro_f1")} for k, v in metrics.items()
    }
    model.save(out_dir / model_file)
    (out_dir / "metrics.json").write_text(
        json.dumps(
            {
                "metrics": metrics,
                "history": history,
                "counts": samples.counts(),
                "data": data,
                "config": asdict(config),
            },
            indent=1,
        )
    )
    report.confusion_png(
        metrics["LSTM"]["confusion_matrix"],
        samples.classes,
        out_dir / "confusion_matrix.png",
        "LSTM on the test part",
    )
    report.model_card(
        out_dir / "MODEL_CARD.md",
        title="cropcube LSTM crop classifier",
        model_file=model_file,
        data=data,
        counts=samples.counts(),
        config=asdict(config),
        metrics=metrics,
        classes=samples.classes,
        notes=notes,
    )
    return metrics
