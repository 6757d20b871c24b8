"""A real OpenID Connect provider on loopback (oidc-provider from npm, in Node) for the tests.

The test makes the provider's signing keys, so it can also mint tokens the provider never
issued: expired ones, ones for another audience or issuer, ones signed with another key.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from helpers.serverctl import free_port, stop_process, wait_until_up

JS_DIR = Path(__file__).resolve().parent.parent / "js"
AUDIENCE = "https://cropcube.test/openeo"
SERVICE = ("cropcube-service", "service-secret")  # client credentials, JWT access tokens
DEVICE = "cropcube-device"  # the device flow, public client, JWT access tokens
OPAQUE_DEVICE = "cropcube-opaque"  # the device flow, opaque access tokens
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        doc = json.loads(RSAAlgorithm.to_jwk(self.private))
        return {**doc, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict[str, Any], kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, "RS256", headers={"kid": kid or self.kid})


@dataclass
class Provider:
    issuer: str
    port: int
    config: Path
    log: Path
    keys: list[SigningKey]
    process: subprocess.Popen | None = None

    def settings(self, provider_id: str = "local") -> list[dict[str, Any]]:
        """What CROPCUBE_OIDC_PROVIDERS holds for this provider."""
        return [
            {
                "id": provider_id,
                "issuer": self.issuer,
                "title": "Test provider (oidc-provider)",
                "scopes": ["openid", "profile"],
                "audience": AUDIENCE,
                "default_clients": [
                    {"id": DEVICE, "grant_types": [DEVICE_GRANT], "redirect_urls": []}
                ],
            }
        ]

    def start(self, keys: list[SigningKey] | None = None) -> None:
        """Start (or start again, with other keys: a rotation) on the same issuer URL."""
        if keys is not None:
            self.keys = keys
        self.config.write_text(json.dumps(_config(self)))
        with self.log.open("a") as out:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(
                ["node", str(JS_DIR / "oidc_provider.mjs"), str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_up(
            self.process,
            f"{self.issuer}/.well-known/openid-configuration",
            self.log,
            "oidc-provider",
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            stop_process(self.process)

    def token(self, claims: dict[str, Any], key: SigningKey | None = None, **kw: Any) -> str:
        """A JWT access token as the provider makes them, from these claims over the usual."""
        now = int(time.time())
        base = {"iss": self.issuer, "sub": "minted", "aud": AUDIENCE, "iat": now, "exp": now + 300}
        return (key or self.keys[0]).sign({**base, **claims}, **kw)

    def client_credentials(self) -> str:
        r = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "client_credentials",
                "client_id": SERVICE[0],
                "client_secret": SERVICE[1],
                "scope": "openid",
            },
            timeout=10,
        )
        r.raise_for_status()
        return r.json()["access_token"]


def _config(p: Provider) -> dict[str, Any]:
    none = {"redirect_uris": [], "response_types": []}
    return {
        "port": p.port,
        "issuer": p.issuer,
        "keys": [k.jwk() for k in p.keys],
        "audience": AUDIENCE,
        "opaque_clients": [OPAQUE_DEVICE],
        "access_token_ttl_s": 600,
        "clients": [
            {
                "client_id": SERVICE[0],
                "client_secret": SERVICE[1],
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_post",
                **none,
            },
            *(
                {
                    "client_id": cid,
                    "grant_types": [DEVICE_GRANT, "refresh_token"],
                    "token_endpoint_auth_method": "none",
                    **none,
                }
                for cid in (DEVICE, OPAQUE_DEVICE)
            ),
        ],
    }


def start_provider(tmp: Path) -> Provider:
    assert shutil.which("node"), "Node.js is required (the README's test command installs it)"
    assert (JS_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "run `npm ci --prefix tests/js` (the README's test command does)"
    )
    port = free_port()
    provider = Provider(
        f"http://127.0.0.1:{port}", port, tmp / "oidc.json", tmp / "oidc.log", [SigningKey("k1")]
    )
    provider.start()
    return provider


_FORM = re.compile(r'<form[^>]*action="([^"]+)"')
_INPUT = re.compile(r"<input([^>]*)>")


def answer_device_page(url: str, login: str) -> str:
    """Do what a person does on the provider's device page: confirm the code shown by the
    client (already in `url`), log in, consent; returns the last page's text."""
    s = requests.Session()
    page = s.get(url, timeout=10)
    for _ in range(8):
        action = _FORM.search(page.text)
        if not action:
            return page.text
        data = {}
        for attrs in _INPUT.findall(page.text):
            name = re.search(r'name="([^"]+)"', attrs)
            value = re.search(r'value="([^"]*)"', attrs)
            if name:
                data[name.group(1)] = html.unescape(value.group(1)) if value else ""
        if "login" in data:
            data.update(login=login, password="any")
        page = s.post(html.unescape(action.group(1)), data=data, timeout=10)
        page.raise_for_status()
    raise AssertionError("the device pages did not end")


def device_display(login: str, answered: list[str]) -> Callable[..., None]:
    """The `display` the openeo client shows its device instructions with: a person reads
    the URL there and answers the page (in a thread, while the client polls)."""

    def display(message: str, **_: Any) -> None:
        visit = re.match(r"Visit (\S+?)(?: and enter user code '([\w-]+)')? to auth", message)
        if not visit:
            return  # the progress bar
        url = visit.group(1) + (f"?user_code={visit.group(2)}" if visit.group(2) else "")
        threading.Thread(
            target=lambda: answered.append(answer_device_page(url, login)), daemon=True
        ).start()

    return display
