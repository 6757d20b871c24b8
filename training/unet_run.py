"""`cropcube train unet-ssl` and `cropcube train unet`: a scene in; a backbone, or a
segmentation model with its card and metrics, out; and the label-efficiency comparison."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import asdict, replace
from pathlib import Path

from core.settings import Settings
from sources.catalog import Catalog
from training.config import SSLConfig, UNetConfig
from training.unet import evaluate, fit_segmenter, fit_simsiam, pretrained_part
from training.unet_data import PERIOD, Scene, demo_scene, single_scenes
from udfs import unet_segment as us

DEMO_NOTES = (
    "Trained and evaluated on cropcube's simulated demo scene (`cropcube demo-data`): it "
    "knows the simulator's fields, phenology and spectra and is no evidence of accuracy on "
    "real Sentinel-2 data."
)


def train_backbone(
    scene: Scene, out_dir: Path, config: SSLConfig, progress: bool = True
) -> list[dict]:
    """SimSiam on the unlabelled training and validation areas; writes model.pt (a U-Net
    whose encoder is pre-trained; its decoder is untrained) and history.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    net, history = fit_simsiam(scene, config, progress=progress)
    model = us.UNetModel(
        net,
        scene.classes,
        scene.bands,
        scene.times,
        meta={
            "kind": "backbone",
            "config": asdict(config),
            "data": scene.description,
            "trained_on": "unlabelled patches of the training and validation areas",
        },
    )
    model.save(out_dir / "model.pt")
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    if len(scene.channels) > 1:
        views = f"from two different images of the {len(scene.channels)} (dates, composites)"
    else:
        views = f"each with the season shifted by up to {config.time_shift} of a month"
    (out_dir / "MODEL_CARD.md").write_text(f"""# cropcube U-Net backbone (SimSiam)

File: `model.pt` (a U-Net whose encoder is pre-trained; its decoder and head are not).
Written {dt.date.today().isoformat()} by `cropcube train unet-ssl`. Use it with
`cropcube train unet --backbone model.pt`; it is not a segmentation model by itself.

## Data
{chr(10).join(f"- {k}: {v}" for k, v in scene.description.items() if k != "labels")}
- pre-training used no labels, and no pixel of the test area

## Method
Dense SimSiam (Chen and He, CVPR 2021, per pixel): two views of a place ({config.patch} px
crops up to {config.shift} px apart, compared position by position; rotated and flipped
alike; {views}, one gain
within +-{config.gain:.0%} and reflectance noise {config.noise}), the encoder's levels
brought to full resolution -> per-pixel projector -> predictor, negative cosine similarity
with a stop-gradient; plus {config.reconstruction} x the mean squared error of rebuilding
each crop's clean input from the same features. Settings: `{json.dumps(asdict(config))}`.
Final similarity loss {history[-1]["loss"]:.4f} (-1 is the floor), reconstruction error
{history[-1]["reconstruction"]:.4f} (normalised units); spread of the normalised projections
{history[-1]["z_std"]:.4f} (collapse would be 0; 1/sqrt({config.projection}) =
{config.projection**-0.5:.3f} for evenly spread ones).

## Limits
{DEMO_NOTES}
""")
    return history


def _subsets(scene: Scene) -> dict[str, list[int] | None]:
    """The images to score apart: all, and for a scene of many its composites and dates."""
    if len(scene.channels) == 1:
        return {"all": None}
    composites = [i for i, n in enumerate(scene.names) if n.startswith("composite")]
    dates = [i for i in range(len(scene.names)) if i not in composites]
    return {"all": None, "monthly composites": composites, "dates": dates}


def _scores_text(scene: Scene, scores: dict[str, dict]) -> str:
    """The card's evaluation: a line per subset of images, a table per class or label."""
    test = scores["all"]
    if scene.multilabel:
        lines = [
            f"- {name}: mean F1 {s['mean_f1']:.4f}, accuracy of the (pixel, label) answers "
            f"{s['accuracy']:.4f}"
            for name, s in scores.items()
        ]
        head = "| label | F1 | threshold |\n|---|---|---|"
        cuts = dict(zip(scene.classes, test["thresholds"], strict=True))
        rows = [f"| {k} | {v:.3f} | {cuts[k]:.2f} |" for k, v in test["f1_per_label"].items()]
    else:
        lines = [
            f"- {name}: mIoU {s['miou']:.4f}, overall accuracy {s['overall_accuracy']:.4f}"
            for name, s in scores.items()
        ]
        head = "| class | IoU |\n|---|---|"
        rows = [f"| {k} | {v:.3f} |" for k, v in test["iou_per_class"].items()]
    return "\n".join(lines) + "\n\n" + head + "\n" + "\n".join(rows)


def train_segmenter(
    scene: Scene,
    out_dir: Path,
    config: UNetConfig,
    backbone: Path | None = None,
    progress: bool = True,
) -> dict:
    """Fine-tune (from a backbone) or train from scratch; score on the test area."""
    out_dir.mkdir(parents=True, exist_ok=True)
    start = pretrained_part(us.UNetModel.load(backbone)) if backbone else None
    model, history = fit_segmenter(scene, config, pretrained=start, progress=progress)
    scores = {
        name: evaluate(model, scene, "test", images=picked)
        for name, picked in _subsets(scene).items()
    }
    test = scores["all"]
    headline = ("mean_f1", "accuracy") if scene.multilabel else ("miou", "overall_accuracy")
    if scene.multilabel:
        test["thresholds"] = model.meta["thresholds"]
    model.meta.update(
        {
            "data": scene.description,
            "test": {k: test[k] for k in headline},
            "backbone_file": str(backbone) if backbone else None,
        }
    )
    model.save(out_dir / "model.pt")
    (out_dir / "metrics.json").write_text(
        json.dumps(
            {
                "test": test,
                "test_by_images": scores,
                "history": history,
                "config": asdict(config),
                "data": scene.description,
                "backbone": str(backbone) if backbone else None,
            },
            indent=1,
        )
    )
    if scene.times > 1:
        inputs = f"{scene.times} monthly composites x {len(scene.bands)} bands"
    else:
        inputs = f"one date ({len(scene.bands)} bands)"
    if scene.multilabel:
        outputs = f"{len(scene.classes)} labels (a sigmoid each, several can hold at once)"
        score, best = "mean F1", model.meta["best_val_mean_f1"]
    else:
        outputs = f"{len(scene.classes)} classes (softmax)"
        score, best = "mIoU", model.meta["best_val_miou"]
    (out_dir / "MODEL_CARD.md").write_text(f"""# cropcube U-Net segmenter

File: `model.pt`. Written {dt.date.today().isoformat()} by `cropcube train unet`.

## Data
{chr(10).join(f"- {k}: {v}" for k, v in scene.description.items())}
- labels used: {config.label_fraction:.0%} of the training area
- encoder: {
        "pre-trained with SimSiam (" + str(backbone) + ")" if backbone else "randomly initialised"
    }

## Model
U-Net over {inputs} ({" ".join(scene.bands)}) = {scene.channels.shape[1]} channels, widths
{config.widths}, {config.norm} normalisation, dropout {config.dropout}; {outputs}.
Settings: `{json.dumps(asdict(config))}`. {model.meta["epochs_run"]} epochs, best
validation {score} {best:.4f}.

## Evaluation on the test area ({test["pixels"]:,} labelled pixels in all)
Tiled inference as the process runs it: 128 px tiles, 32 px overlap.

{_scores_text(scene, scores)}

## Limits
{DEMO_NOTES}
""")
    return test


def _headline(scores: dict) -> dict:
    keys = ("mean_f1", "accuracy") if "mean_f1" in scores else ("miou", "overall_accuracy")
    return {k: round(scores[k], 4) for k in keys}


def label_efficiency(
    scene: Scene,
    backbone: Path,
    config: UNetConfig,
    seeds: tuple = (0, 1, 2),
    arms: tuple = ("pretrained", "random"),
    other: Scene | None = None,
) -> dict:
    """Test scores with `config.label_fraction` of the labels, from the backbone and from
    random initialisation, for several label draws (seeds); with `other`, also on every
    image of another scene (a landscape of another seed)."""
    starts = {"pretrained": pretrained_part(us.UNetModel.load(backbone)), "random": None}
    rows: dict[str, list] = {arm: [] for arm in arms}
    for seed in seeds:
        for arm in arms:
            model, history = fit_segmenter(
                scene, replace(config, seed=seed), pretrained=starts[arm]
            )
            row = {"seed": seed, "epochs": len(history)}
            row["test"] = _headline(evaluate(model, scene, "test"))
            if other is not None:
                whole = replace(other, parts={"all": (0.0, 1.0)})
                row["other scene"] = _headline(evaluate(model, whole, "all"))
            rows[arm].append(row)
            print(config.label_fraction, arm, json.dumps(row), flush=True)
    return rows


def _scene(data_dir: Path | None, images: str) -> Scene:
    catalog = Catalog(Settings.from_env(data_dir=data_dir))
    if images == "months":
        return demo_scene(catalog)
    return single_scenes(catalog, PERIOD, multilabel=images == "multilabel")


def main(argv: list[str] | None = None) -> dict:
    """`python -m training.unet_run --backbone B [--seeds 0 1 2]`: the label-efficiency
    comparison on the demo collection (the docs' tables)."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--backbone", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--other-data-dir", type=Path, default=None, help="also score on this data dir's scene"
    )
    parser.add_argument("--images", choices=("months", "scene", "multilabel"), default="months")
    parser.add_argument("--label-fraction", type=float, nargs="+", default=[0.05])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=["pretrained", "random"])
    parser.add_argument("--epochs", type=int, default=UNetConfig.epochs)
    parser.add_argument("--threads", type=int, default=UNetConfig.threads)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    scene = _scene(args.data_dir, args.images)
    other = _scene(args.other_data_dir, args.images) if args.other_data_dir else None
    rows = {}
    for fraction in args.label_fraction:
        config = UNetConfig(label_fraction=fraction, threads=args.threads, epochs=args.epochs)
        rows[str(fraction)] = label_efficiency(
            scene, args.backbone, config, tuple(args.seeds), tuple(args.arms), other
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
