"""`cropcube serve | worker | db | demo-data | user | train`: the command line.

Serving lives in backend.http_server, the worker supervisor in backend.jobs.pool, the
training commands in training.commands; this module parses and dispatches.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

from core.settings import Settings, SettingsError
from training.commands import add_train_parsers


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
    try:
        store.add(args.name, args.password)
    except ValueError as exc:
        print(f"cropcube user add: {exc}", file=sys.stderr)
        return 2
    print(f"user {args.name} saved in {store.path}")
    return 0


def _migrate(settings: Settings) -> None:
    from backend.store import Store

    store = Store(settings.db_url, lock_dir=settings.data_dir)
    store.migrate()
    store.engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _migrate(_settings(args))
    print("database schema is up to date")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from backend.jobs.pool import supervise

    logging.getLogger("distributed").setLevel(logging.WARNING)
    settings = _settings(args)
    _migrate(settings)
    supervise(settings, args.processes, parent_pid=args.parent_pid)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from backend.jobs.pool import WorkerPool
    from demo.build import ensure_demo_data

    settings = _settings(args)
    if not settings.stac_url:
        ensure_demo_data(
            settings.data_dir,
            settings.demo_size,
            settings.demo_seed,
            say=lambda line: print(line, flush=True),
        )
    _migrate(settings)
    workers = settings.workers if args.workers is None else args.workers
    pool = WorkerPool(settings, workers)
    pool.start()  # the workers' supervisor imports beside us
    from backend.app import create_app
    from backend.http_server import run

    app = create_app(settings)
    gc.freeze()  # as the job workers' supervisor does before forking (backend.jobs.pool)
    print(
        f"cropcube serves http://{args.host}:{args.port}/ (openEO API 1.2.0 under /openeo/1.2/, "
        f"1.3.0 under /openeo/1.3/; data: {settings.catalog_url}; {workers} job workers)",
        flush=True,
    )
    try:
        run(app, settings, args.host, args.port)
    finally:
        pool.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cropcube", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="data directory (default: $CROPCUBE_DATA_DIR or ./data)",
        )

    serve = sub.add_parser("serve", help="run the openEO API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="job worker processes to start (default: $CROPCUBE_WORKERS or 2)",
    )
    data_dir(serve)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a batch-job worker")
    worker.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process is gone (used by serve)",
    )
    worker.add_argument(
        "--processes",
        type=int,
        default=1,
        help="workers to fork, each running one job at a time (default 1)",
    )
    data_dir(worker)
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the job store to the newest schema")
    data_dir(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser("demo-data", help="build the embedded demo collection")
    data_dir(demo)
    demo.add_argument(
        "--size",
        type=int,
        default=None,
        help="scene width and height in 10 m pixels (default 500 = 5 km)",
    )
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

    add_train_parsers(sub, data_dir)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin at each start
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"cropcube: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
