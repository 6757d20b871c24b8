"""A static file server with HTTP Range support on loopback, as object stores serve COGs,
optionally waiting a fixed time before each answer (the round trip to a cloud bucket).

    python tests/helpers/range_http.py DIR [LATENCY_S]   # prints the base URL, serves
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeHandler(SimpleHTTPRequestHandler):
    latency_s = 0.0
    protocol_version = "HTTP/1.1"  # connections kept alive between requests, as buckets do

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        time.sleep(self.latency_s)
        super().do_HEAD()

    def do_GET(self) -> None:
        time.sleep(self.latency_s)
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            super().do_GET()
            return
        size = path.stat().st_size
        start = int(match.group(1))
        end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return
        with path.open("rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)


def serve_directory(root: Path, latency_s: float = 0.0) -> tuple[ThreadingHTTPServer, str]:
    """Serve `root` on a free loopback port in a daemon thread; returns server and base URL."""
    handler = type("Handler", (RangeHandler,), {"latency_s": latency_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=os.fspath(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


if __name__ == "__main__":
    srv, url = serve_directory(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(url, flush=True)
    threading.Event().wait()
