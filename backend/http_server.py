"""The API under gunicorn (threaded workers): what `cropcube serve` runs."""

from __future__ import annotations

from flask import Flask
from gunicorn.app.base import BaseApplication

from core.settings import Settings


def run(app: Flask, settings: Settings, host: str, port: int) -> None:
    """Serve `app` on host:port until stopped."""

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", settings.http_workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", settings.http_threads)
            self.cfg.set("timeout", 600)
            self.cfg.set("accesslog", "-")
            # %(U)s is the path without the query string: signed download links stay secret.
            self.cfg.set(
                "access_log_format", '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
            )

        def load(self):
            return app

    Server().run()
