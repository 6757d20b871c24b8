"""OpenID Connect against a real provider on loopback (oidc-provider from npm, in Node), with
the real `openeo` client's client-credentials and device-code flows, and every kind of bad
token a provider or an attacker can produce."""

from __future__ import annotations

import json
import time

import jwt
import openeo
import pytest
import requests

from helpers.oidc import (
    DEVICE,
    OPAQUE_DEVICE,
    SERVICE,
    SigningKey,
    answer_device_page,
    device_display,
    start_provider,
)
from helpers.serverctl import USERS, start_server, stop_server

KEY_COOLDOWN_S = 1.0  # the least time between two fetches of the key set


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    p = start_provider(tmp_path_factory.mktemp("oidc"))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def oidc_server(provider, demo_catalog, tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("oidc-server"),
        {
            "CROPCUBE_STAC_URL": str(demo_catalog),
            "CROPCUBE_OIDC_PROVIDERS": json.dumps(provider.settings()),
            "CROPCUBE_OIDC_KEY_COOLDOWN_S": str(KEY_COOLDOWN_S),
        },
    )
    yield srv
    stop_server(srv)


def _me(server, authorization: str) -> requests.Response:
    return requests.get(f"{server.url}/me", headers={"Authorization": authorization}, timeout=30)


def _error(r: requests.Response) -> tuple[int, str, str]:
    return r.status_code, r.json()["code"], r.json()["message"]


def test_providers_are_listed_with_their_default_clients(oidc_server, provider):
    doc = requests.get(f"{oidc_server.url}/credentials/oidc", timeout=10).json()
    assert doc["providers"] == [
        {
            "id": "local",
            "issuer": provider.issuer,
            "title": "Test provider (oidc-provider)",
            "scopes": ["openid", "profile"],
            "default_clients": [
                {
                    "id": DEVICE,
                    "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
                    "redirect_urls": [],
                }
            ],
        }
    ]
    caps = requests.get(f"{oidc_server.url}/", timeout=10).json()
    assert {"path": "/credentials/oidc", "methods": ["GET"]} in caps["endpoints"]


@pytest.mark.parametrize("where", ["url", "root"], ids=["1.2", "discovered-1.3"])
def test_client_credentials_with_the_openeo_client(oidc_server, where):
    con = openeo.connect(getattr(oidc_server, where)).authenticate_oidc_client_credentials(
        client_id=SERVICE[0], client_secret=SERVICE[1], provider_id="local"
    )
    assert con.capabilities().api_version() == ("1.2.0" if where == "url" else "1.3.0")
    assert con.describe_account()["user_id"] == f"local:{SERVICE[0]}"
    # The token's subject owns what it makes; Basic users do not see it.
    graph = {"a": {"process_id": "add", "arguments": {"x": 1, "y": 2}, "result": True}}
    job = con.create_job(graph)
    assert job.job_id in [j["id"] for j in con.list_jobs()]
    alice = openeo.connect(oidc_server.url).authenticate_basic("alice", USERS["alice"])
    assert job.job_id not in [j["id"] for j in alice.list_jobs()]
    assert con.execute(graph) == 3


def test_device_flow_with_the_openeo_client_and_a_person_on_the_device_page(oidc_server):
    answered: list[str] = []
    con = openeo.connect(oidc_server.url).authenticate_oidc_device(
        provider_id="local", display=device_display("dora", answered), max_poll_time=60
    )
    assert answered and "Sign-in Success" in answered[0]
    me = con.describe_account()
    # The access token holds no name claim: the name shown is the subject.
    assert me["user_id"] == "local:dora" and me["name"] == "dora"
    # The default client came from GET /credentials/oidc: the token is a JWT for cropcube.
    token = con.auth.bearer.split("/", 2)[2]
    assert jwt.decode(token, options={"verify_signature": False})["client_id"] == DEVICE


def test_opaque_tokens_are_vouched_for_by_userinfo(oidc_server, provider):
    r = requests.post(
        f"{provider.issuer}/device/auth",
        data={"client_id": OPAQUE_DEVICE, "scope": "openid profile"},
        timeout=10,
    ).json()
    assert "Sign-in Success" in answer_device_page(r["verification_uri_complete"], "erin")
    token = requests.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": r["device_code"],
            "client_id": OPAQUE_DEVICE,
        },
        timeout=10,
    ).json()["access_token"]
    assert token.count(".") == 0
    me = _me(oidc_server, f"Bearer oidc/local/{token}")
    assert me.status_code == 200, me.text
    assert me.json() == {"user_id": "local:erin", "name": "User erin", "links": []}
    # API 1.3's bare form: not a login token, so the provider's userinfo decides.
    assert _me(oidc_server, f"Bearer {token}").json()["user_id"] == "local:erin"
    status, code, _ = _error(_me(oidc_server, f"Bearer oidc/local/{token[:-2]}xx"))
    assert (status, code) == (403, "TokenInvalid")


def test_bad_tokens_get_token_invalid_with_the_reason(oidc_server, provider):
    now = int(time.time())
    stranger = SigningKey("k1")  # the provider's kid, another key: a forgery
    cases = {
        "expired": (provider.token({"exp": now - 120, "iat": now - 900}), "expired"),
        "another audience": (provider.token({"aud": "https://elsewhere.test"}), "audience"),
        "another issuer": (provider.token({"iss": "https://evil.test"}), "issuer"),
        "forged": (provider.token({}, key=stranger), "signature"),
        "unknown key": (provider.token({}, kid="nope"), "key the provider does not publish"),
        "no subject": (provider.token({"sub": None}), "sub"),
        "alg none": (jwt.encode({"iss": provider.issuer, "sub": "x"}, None, "none"), "'none'"),
        "HS256": (jwt.encode({"iss": provider.issuer, "sub": "x"}, "k" * 32, "HS256"), "HS256"),
        "garbage": ("a.b.c", "not valid"),
    }
    for name, (token, reason) in cases.items():
        status, code, message = _error(_me(oidc_server, f"Bearer oidc/local/{token}"))
        assert (status, code) == (403, "TokenInvalid"), name
        assert reason in message, (name, message)
        assert "Traceback" not in message
    good = provider.token({"sub": "frank"})
    assert _me(oidc_server, f"Bearer oidc/local/{good}").json()["user_id"] == "local:frank"
    # API 1.3: the same token bare goes to the provider its issuer names.
    assert _me(oidc_server, f"Bearer {good}").json()["user_id"] == "local:frank"
    status, code, _ = _error(_me(oidc_server, f"Bearer {cases['another issuer'][0]}"))
    assert (status, code) == (403, "TokenInvalid")
    status, code, message = _error(_me(oidc_server, f"Bearer oidc/elsewhere/{good}"))
    assert (status, code) == (403, "AuthenticationSchemeInvalid") and "elsewhere" in message
    # Basic goes on working beside OIDC.
    basic = openeo.connect(oidc_server.url).authenticate_basic("alice", USERS["alice"])
    assert basic.describe_account()["user_id"] == "alice"


def test_rotated_keys_are_picked_up_and_a_provider_down_is_a_503(oidc_server, provider):
    old = provider.client_credentials()
    assert _me(oidc_server, f"Bearer oidc/local/{old}").status_code == 200
    provider.stop()
    # The key set is kept: tokens of known keys still verify while the provider is down...
    assert _me(oidc_server, f"Bearer oidc/local/{old}").status_code == 200
    # ...a key it does not know makes the server ask, and the provider does not answer.
    rotated = SigningKey("k2")
    time.sleep(KEY_COOLDOWN_S)
    unknown = provider.token({}, key=rotated)
    status, code, message = _error(_me(oidc_server, f"Bearer oidc/local/{unknown}"))
    assert (status, code) == (503, "ServiceUnavailable") and "local" in message
    provider.start(keys=[rotated])
    new = provider.client_credentials()
    time.sleep(KEY_COOLDOWN_S)
    assert jwt.get_unverified_header(new)["kid"] == "k2"
    assert _me(oidc_server, f"Bearer oidc/local/{new}").json()["user_id"] == f"local:{SERVICE[0]}"
    # The old key is no longer published: its tokens stop working.
    status, code, _ = _error(_me(oidc_server, f"Bearer oidc/local/{old}"))
    assert (status, code) == (403, "TokenInvalid")
