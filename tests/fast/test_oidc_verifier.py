"""OidcVerifier against a provider stand-in on loopback that counts what it is asked: opaque
tokens are asked about once a minute, yes or no (the real provider is in tests/test_oidc.py)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backend.oidc import OidcVerifier
from core.errors import ServiceUnavailable, TokenInvalid
from core.settings import OidcProvider


@pytest.fixture
def provider():
    asked: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked[self.path] += 1
            issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer, "userinfo_endpoint": f"{issuer}/userinfo"}
            elif self.headers["Authorization"] == "Bearer good":
                body = {"sub": "ann", "name": "Ann"}
            else:
                self.send_response(401)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    yield OidcProvider("p", issuer, "P"), asked
    server.shutdown()


def test_userinfo_answers_are_kept_yes_and_no(provider):
    config, asked = provider
    verifier = OidcVerifier(config, cache_s=300)
    for _ in range(3):
        who = verifier.verify("good")
        assert (who.user_id, who.name) == ("p:ann", "Ann")
        with pytest.raises(TokenInvalid):
            verifier.verify("bad")
    assert asked["/userinfo"] == 2 and asked["/.well-known/openid-configuration"] == 1


def test_a_provider_that_does_not_answer_is_a_503():
    verifier = OidcVerifier(OidcProvider("p", "http://127.0.0.1:9", "P"), 300, timeout_s=2)
    with pytest.raises(ServiceUnavailable, match="'p'"):
        verifier.verify("anything")
