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
from training.unet_data import Scene, demo_scene
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
    (out_dir / "MODEL_CARD.md").write_text(f"""# cropcube U-Net backbone (SimSiam)

File: `model.pt` (a U-Net whose encoder is pre-trained; its decoder and head are not).
Written {dt.date.today().isoformat()} by `cropcube train unet-ssl`. Use it with
`cropcube train unet --backbone model.pt`; it is not a segmentation model by itself.

## Data
{chr(10).join(f"- {k}: {v}" for k, v in scene.description.items())}
- pre-training used no labels, and no pixel of the test area

## Method
Dense SimSiam (Chen and He, CVPR 2021, per pixel): two views of a place ({config.patch} px
crops up to {config.shift} px apart, compared position by position; rotated and flipped
alike; each with the season shifted by up to {config.time_shift} of a month, one gain
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
    test = evaluate(model, scene, "test")
    model.meta.update(
        {
            "data": scene.description,
            "test": {k: test[k] for k in ("miou", "overall_accuracy")},
            "backbone_file": str(backbone) if backbone else None,
        }
    )
    model.save(out_dir / "model.pt")
    (out_dir / "metrics.json").write_text(
        json.dumps(
            {
                "test": test,
                "history": history,
                "config": asdict(config),
                "data": scene.description,
                "backbone": str(backbone) if backbone else None,
            },
            indent=1,
        )
    )
    rows = "\n".join(f"| {name} | {iou:.3f} |" for name, iou in test["iou_per_class"].items())
    (out_dir / "MODEL_CARD.md").write_text(f"""# cropcube U-Net segmenter

File: `model.pt`. Written {dt.date.today().isoformat()} by `cropcube train unet`.

## Data
{chr(10).join(f"- {k}: {v}" for k, v in scene.description.items())}
- labels used: {config.label_fraction:.0%} of the training area
- encoder: {
        "pre-trained with SimSiam (" + str(backbone) + ")" if backbone else "randomly initialised"
    }

## Model
U-Net over {scene.times} monthly composites x {len(scene.bands)} bands
({" ".join(scene.bands)}) = {len(scene.channels)} channels, widths {config.widths},
{config.norm} normalisation, dropout {config.dropout}; {len(scene.classes)} classes
(softmax). Settings: `{json.dumps(asdict(config))}`. {model.meta["epochs_run"]} epochs,
best validation mIoU {model.meta["best_val_miou"]:.4f}.

## Evaluation on the test area ({test["pixels"]:,} labelled pixels)
mIoU {test["miou"]:.4f}, overall accuracy {test["overall_accuracy"]:.4f} (tiled inference
as the process runs it: 128 px tiles, 32 px overlap).

| class | IoU |
|---|---|
{rows}

## Limits
{DEMO_NOTES}
""")
    return test


def label_efficiency(
    scene: Scene,
    backbone: Path,
    config: UNetConfig,
    seeds: tuple = (0, 1, 2),
    arms: tuple = ("pretrained", "random"),
) -> dict:
    """Test mIoU with `config.label_fraction` of the labels, from the backbone and from
    random initialisation, for several label draws (seeds)."""
    starts = {"pretrained": pretrained_part(us.UNetModel.load(backbone)), "random": None}
    rows = {arm: [] for arm in arms}
    for seed in seeds:
        for arm in arms:
            model, history = fit_segmenter(
                scene, replace(config, seed=seed), pretrained=starts[arm]
            )
            test = evaluate(model, scene, "test")
            rows[arm].append(
                {
                    "seed": seed,
                    "miou": test["miou"],
                    "overall_accuracy": test["overall_accuracy"],
                    "epochs": len(history),
                }
            )
            print(
                arm,
                seed,
                round(test["miou"], 4),
                round(test["overall_accuracy"], 4),
                len(history),
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> dict:
    """`python -m training.unet_run --backbone B [--seeds 0 1 2]`: the label-efficiency
    comparison on the demo collection (the README's table)."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--backbone", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--label-fraction", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=["pretrained", "random"])
    parser.add_argument("--threads", type=int, default=UNetConfig.threads)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    scene = demo_scene(Catalog(Settings.from_env(data_dir=args.data_dir)))
    config = UNetConfig(label_fraction=args.label_fraction, threads=args.threads)
    rows = label_efficiency(scene, args.backbone, config, tuple(args.seeds), tuple(args.arms))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
