"""`cropcube serve | demo-data | user add`: the command line of the backend."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data_dir=getattr(args, "data_dir", None))


def cmd_demo_data(args: argparse.Namespace) -> int:
    from demo.build import ensure_demo_data

    settings = _settings(args)
    size = settings.demo_size if args.size is None else args.size
    seed = settings.demo_seed if args.seed is None else args.seed
    scene = ensure_demo_data(settings.data_dir, size=size, seed=seed)
    print(f"demo catalog: {scene.catalog} ({scene.size} x {scene.size} px, seed {scene.seed})")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from backend.auth import UserStore

    store = UserStore(_settings(args).users_file)
    if args.if_missing and store.exists(args.name):
        print(f"user {args.name} exists")
        return 0
    store.add(args.name, args.password)
    print(f"user {args.name} saved in {store.path}")
    return 0


def _migrate(settings: Settings) -> None:
    from backend.jobs.store import Store

    store = Store(settings.db_url, lock_dir=settings.data_dir)
    store.migrate()
    store.engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _migrate(_settings(args))
    print("database schema is up to date")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from backend.jobs.worker import Worker

    logging.getLogger("distributed").setLevel(logging.WARNING)
    settings = _settings(args)
    _migrate(settings)
    Worker(settings, parent_pid=args.parent_pid).run()
    return 0


class WorkerPool:
    """The job workers `serve` starts and restarts; stopped with SIGTERM when serve ends."""

    def __init__(self, settings: Settings, count: int):
        self.settings, self.count = settings, count
        self.procs: list[subprocess.Popen] = []
        self._stop = threading.Event()

    def _spawn(self) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "backend.cli", "worker", "--data-dir",
               str(self.settings.data_dir), "--parent-pid", str(os.getpid())]
        return subprocess.Popen(cmd)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stop.is_set():
                    logging.warning("job worker %s exited (%s); starting another", proc.pid,
                                    proc.returncode)
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def cmd_serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from backend.app import create_app
    from demo.build import ensure_demo_data

    settings = _settings(args)
    if not settings.stac_url:
        ensure_demo_data(settings.data_dir, settings.demo_size, settings.demo_seed,
                         say=lambda line: print(line, flush=True))
    _migrate(settings)
    app = create_app(settings)
    workers = settings.workers if args.workers is None else args.workers
    pool = WorkerPool(settings, workers)

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", int(os.environ.get("CROPCUBE_HTTP_WORKERS", "1")))
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", int(os.environ.get("CROPCUBE_HTTP_THREADS", "8")))
            self.cfg.set("timeout", 600)
            self.cfg.set("accesslog", "-")
            # %(U)s is the path without the query string: signed download links stay secret.
            self.cfg.set("access_log_format",
                         '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"')

        def load(self):
            return app

    print(f"cropcube serves http://{args.host}:{args.port}/openeo/1.2/ "
          f"(data: {settings.catalog_url}; {workers} job workers)", flush=True)
    pool.start()
    try:
        Server().run()
    finally:
        pool.stop()
    return 0


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
    config = LSTMConfig(**{f.name: getattr(args, f.name) for f in fields(LSTMConfig)
                           if getattr(args, f.name, None) is not None})
    samples = samples_for(args.dataset, catalog, seed=config.seed)
    if scene is not None:
        samples.description["scene"] = describe(scene.size, scene.seed)
    print(f"samples: {samples.counts()}")
    notes = DEMO_NOTES if args.dataset == "demo" else TS2C_NOTES
    metrics = train_lstm(samples, args.out, config, notes=notes)
    for model, m in metrics.items():
        print(f"{model:14s} OA {m['overall_accuracy']:.4f}  kappa {m['kappa']:.4f}  "
              f"macro F1 {m['macro_f1']:.4f}")
    print(f"written to {args.out}")
    return 0


def cmd_train_ndvi(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from training.config import NDVIConfig
    from training.ndvi_run import train_ndvi

    config = NDVIConfig(**{f.name: getattr(args, f.name) for f in fields(NDVIConfig)
                           if getattr(args, f.name, None) is not None})
    data_dir = _settings(args).data_dir if args.dataset == "demo" else None
    train_ndvi(args.dataset, args.out, config, data_dir=data_dir)
    print(f"written to {args.out}")
    return 0


def cmd_train_unet(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from demo.build import describe, ensure_demo_data
    from sources.catalog import Catalog
    from training import config as configs
    from training.unet_data import demo_scene
    from training.unet_run import train_backbone, train_segmenter

    if args.dataset != "demo":
        print(f"unknown dataset {args.dataset!r}: use 'demo'", file=sys.stderr)
        return 2
    settings = _settings(args)
    built = None if settings.stac_url else \
        ensure_demo_data(settings.data_dir, settings.demo_size, settings.demo_seed)
    scene = demo_scene(Catalog(settings))
    if built is not None:
        scene.description["scene"] = describe(built.size, built.seed)
    kind = configs.SSLConfig if args.model == "unet-ssl" else configs.UNetConfig
    config = kind(**{f.name: getattr(args, f.name) for f in fields(kind)
                     if getattr(args, f.name, None) is not None})
    if args.model == "unet-ssl":
        history = train_backbone(scene, args.out, config)
        print(f"SimSiam loss {history[-1]['loss']:.4f}")
    else:
        test = train_segmenter(scene, args.out, config, backbone=args.backbone)
        print(f"test mIoU {test['miou']:.4f}  overall accuracy {test['overall_accuracy']:.4f}")
    print(f"written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cropcube", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, default=None,
                       help="data directory (default: $CROPCUBE_DATA_DIR or ./data)")

    serve = sub.add_parser("serve", help="run the openEO API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=None,
                       help="job worker processes to start (default: $CROPCUBE_WORKERS or 2)")
    data_dir(serve)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a batch-job worker")
    worker.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process is gone (used by serve)")
    data_dir(worker)
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the job store to the newest schema")
    data_dir(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser("demo-data", help="build the embedded demo collection")
    data_dir(demo)
    demo.add_argument("--size", type=int, default=None,
                      help="scene width and height in 10 m pixels (default 500 = 5 km)")
    demo.add_argument("--seed", type=int, default=None)
    demo.set_defaults(func=cmd_demo_data)

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user or change a password")
    add.add_argument("name")
    add.add_argument("--password", required=True)
    add.add_argument("--if-missing", action="store_true", help="leave an existing user alone")
    data_dir(add)
    add.set_defaults(func=cmd_user_add)

    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="model", required=True)
    lstm = train_sub.add_parser("lstm", help="the crop-type LSTM of lstm_classify")
    lstm.add_argument("--dataset", default="demo",
                      help="'demo' (the demo collection and its parcels) or "
                           "'timesen2crop:PATH' (the unzipped dataset)")
    lstm.add_argument("--out", type=Path, required=True,
                      help="output folder: model.pt, MODEL_CARD.md, metrics.json, "
                           "confusion_matrix.png")
    _config_options(lstm, "LSTMConfig")
    data_dir(lstm)
    lstm.set_defaults(func=cmd_train_lstm)
    ndvi = train_sub.add_parser("ndvi", help="the NDVI forecaster of ndvi_forecast")
    ndvi.add_argument("--dataset", default="eolearn",
                      help="'eolearn' (../shared/data/eolearn-testeopatch), 'eolearn:PATH' "
                           "or 'demo' (the demo collection)")
    ndvi.add_argument("--out", type=Path, required=True,
                      help="output folder: model.pt, MODEL_CARD.md, metrics.json")
    _config_options(ndvi, "NDVIConfig")
    data_dir(ndvi)
    ndvi.set_defaults(func=cmd_train_ndvi)
    ssl = train_sub.add_parser("unet-ssl", help="self-supervised (SimSiam) pre-training of "
                                                "the U-Net encoder of unet_segment")
    ssl.add_argument("--dataset", default="demo", help="'demo' (the demo collection)")
    ssl.add_argument("--out", type=Path, required=True,
                     help="output folder: model.pt (the backbone), MODEL_CARD.md, history.json")
    _config_options(ssl, "SSLConfig")
    data_dir(ssl)
    ssl.set_defaults(func=cmd_train_unet)
    unet = train_sub.add_parser("unet", help="the U-Net of unet_segment (fine-tuned from a "
                                             "backbone, or from scratch)")
    unet.add_argument("--dataset", default="demo", help="'demo' (the demo collection)")
    unet.add_argument("--backbone", type=Path, default=None,
                      help="a model.pt from `train unet-ssl` whose encoder to start from")
    unet.add_argument("--out", type=Path, required=True,
                      help="output folder: model.pt, MODEL_CARD.md, metrics.json")
    _config_options(unet, "UNetConfig")
    data_dir(unet)
    unet.set_defaults(func=cmd_train_unet)
    return parser


def _config_options(parser: argparse.ArgumentParser, config: str) -> None:
    """One option per field of training.config.<config>, its default shown."""
    from dataclasses import fields

    from training import config as configs

    for f in fields(getattr(configs, config)):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=f"default {f.default}")
        else:
            parser.add_argument(flag, dest=f.name, type=type(f.default), default=None,
                                help=f"default {f.default}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin at each start
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
