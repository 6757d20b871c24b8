"""`cropcube train lstm | ndvi | unet-ssl | unet`: the training commands and their options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data_dir=getattr(args, "data_dir", None))


def cmd_train_lstm(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from demo.build import describe, ensure_demo_data
    from sources.catalog import Catalog
    from training.config import LSTMConfig
    from training.run import DEMO_NOTES, TS2C_NOTES, samples_for, train_lstm

    settings = _settings(args)
    catalog = None
    scene = None
    if args.dataset == "demo":
        if not settings.stac_url:
            scene = ensure_demo_data(settings.data_dir, settings.demo_size, settings.demo_seed)
        catalog = Catalog(settings)
    config = LSTMConfig(
        **{
            f.name: getattr(args, f.name)
            for f in fields(LSTMConfig)
            if getattr(args, f.name, None) is not None
        }
    )
    samples = samples_for(args.dataset, catalog, seed=config.seed)
    if scene is not None:
        samples.description["scene"] = describe(scene.size, scene.seed)
    print(f"samples: {samples.counts()}")
    notes = DEMO_NOTES if args.dataset == "demo" else TS2C_NOTES
    metrics = train_lstm(samples, args.out, config, notes=notes)
    for model, m in metrics.items():
        print(
            f"{model:14s} OA {m['overall_accuracy']:.4f}  kappa {m['kappa']:.4f}  "
            f"macro F1 {m['macro_f1']:.4f}"
        )
    print(f"written to {args.out}")
    return 0


def cmd_train_ndvi(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from training.config import NDVIConfig
    from training.ndvi_run import train_ndvi

    config = NDVIConfig(
        **{
            f.name: getattr(args, f.name)
            for f in fields(NDVIConfig)
            if getattr(args, f.name, None) is not None
        }
    )
    data_dir = _settings(args).data_dir if args.dataset == "demo" else None
    train_ndvi(args.dataset, args.out, config, data_dir=data_dir)
    print(f"written to {args.out}")
    return 0


def cmd_train_unet(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from demo.build import describe, ensure_demo_data
    from sources.catalog import Catalog
    from training import config as configs
    from training.unet_data import PERIOD, demo_scene, single_scenes
    from training.unet_run import train_backbone, train_segmenter

    if args.dataset != "demo":
        print(f"unknown dataset {args.dataset!r}: use 'demo'", file=sys.stderr)
        return 2
    settings = _settings(args)
    built = (
        None
        if settings.stac_url
        else ensure_demo_data(settings.data_dir, settings.demo_size, settings.demo_seed)
    )
    catalog = Catalog(settings)
    if args.images == "months":
        scene = demo_scene(catalog)
    else:
        scene = single_scenes(catalog, PERIOD, multilabel=args.images == "multilabel")
    if built is not None:
        scene.description["scene"] = describe(built.size, built.seed)
    kind = configs.SSLConfig if args.model == "unet-ssl" else configs.UNetConfig
    config = kind(
        **{
            f.name: getattr(args, f.name)
            for f in fields(kind)
            if getattr(args, f.name, None) is not None
        }
    )
    if args.model == "unet-ssl":
        history = train_backbone(scene, args.out, config)
        print(f"SimSiam loss {history[-1]['loss']:.4f}")
    else:
        test = train_segmenter(scene, args.out, config, backbone=args.backbone)
        if scene.multilabel:
            print(f"test mean F1 {test['mean_f1']:.4f}  accuracy {test['accuracy']:.4f}")
        else:
            print(f"test mIoU {test['miou']:.4f}  overall accuracy {test['overall_accuracy']:.4f}")
    print(f"written to {args.out}")
    return 0


def add_train_parsers(
    sub: argparse._SubParsersAction, data_dir: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The `train` command with one sub-command per model."""
    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="model", required=True)
    lstm = train_sub.add_parser("lstm", help="the crop-type LSTM of lstm_classify")
    lstm.add_argument(
        "--dataset",
        default="demo",
        help="'demo' (the demo collection and its parcels) or "
        "'timesen2crop:PATH' (the unzipped dataset)",
    )
    lstm.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: model.pt, MODEL_CARD.md, metrics.json, confusion_matrix.png",
    )
    _config_options(lstm, "LSTMConfig")
    data_dir(lstm)
    lstm.set_defaults(func=cmd_train_lstm)
    ndvi = train_sub.add_parser("ndvi", help="the NDVI forecaster of ndvi_forecast")
    ndvi.add_argument(
        "--dataset",
        default="eolearn",
        help="'eolearn' (../shared/data/eolearn-testeopatch), 'eolearn:PATH' "
        "or 'demo' (the demo collection)",
    )
    ndvi.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: model.pt, MODEL_CARD.md, metrics.json",
    )
    _config_options(ndvi, "NDVIConfig")
    data_dir(ndvi)
    ndvi.set_defaults(func=cmd_train_ndvi)
    ssl = train_sub.add_parser(
        "unet-ssl",
        help="self-supervised (SimSiam) pre-training of the U-Net encoder of unet_segment",
    )
    ssl.add_argument("--dataset", default="demo", help="'demo' (the demo collection)")
    _images_option(ssl)
    ssl.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: model.pt (the backbone), MODEL_CARD.md, history.json",
    )
    _config_options(ssl, "SSLConfig")
    data_dir(ssl)
    ssl.set_defaults(func=cmd_train_unet)
    unet = train_sub.add_parser(
        "unet", help="the U-Net of unet_segment (fine-tuned from a backbone, or from scratch)"
    )
    unet.add_argument("--dataset", default="demo", help="'demo' (the demo collection)")
    _images_option(unet)
    unet.add_argument(
        "--backbone",
        type=Path,
        default=None,
        help="a model.pt from `train unet-ssl` whose encoder to start from",
    )
    unet.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: model.pt, MODEL_CARD.md, metrics.json",
    )
    _config_options(unet, "UNetConfig")
    data_dir(unet)
    unet.set_defaults(func=cmd_train_unet)


def _images_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images",
        choices=("months", "scene", "multilabel"),
        default="months",
        help="months: the 12 monthly composites of the agricultural year as one image, 21 "
        "classes; scene: every date and monthly composite as an image of its own, the 7 "
        "land-cover groups; multilabel: the same images, the groups and cloud, cirrus, "
        "shadow and snow as labels (default months)",
    )


def _config_options(parser: argparse.ArgumentParser, config: str) -> None:
    """One option per field of training.config.<config>, its default shown."""
    from dataclasses import fields

    from training import config as configs

    for f in fields(getattr(configs, config)):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"default {f.default}",
            )
        else:
            parser.add_argument(
                flag, dest=f.name, type=type(f.default), default=None, help=f"default {f.default}"
            )
