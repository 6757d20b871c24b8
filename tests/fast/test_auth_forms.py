"""Authorization headers in every form the API allows, the OIDC provider settings, and
what a server without providers says (the real provider is in tests/test_oidc.py)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from backend import cli
from backend.app import create_app
from backend.auth import UserStore
from core.settings import OidcProvider, Settings, SettingsError

API = "/openeo/1.2"


def test_a_bare_login_token_works_as_api_1_3_allows(client, alice_headers):
    bare = alice_headers["Authorization"].replace("basic//", "")
    r = client.get(f"{API}/me", headers={"Authorization": bare})
    assert r.status_code == 200 and r.json["user_id"] == "alice"


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("Basic YWxpY2U6YWxpY2UtcHc=", 403, "AuthenticationSchemeInvalid"),
        ("Bearer ", 403, "AuthenticationSchemeInvalid"),
        ("Bearer saml/x/token", 403, "AuthenticationSchemeInvalid"),
        ("Bearer oidc/nowhere/a.b.c", 403, "AuthenticationSchemeInvalid"),
        ("Bearer not-a-token", 403, "TokenInvalid"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2V2aWwifQ.", 403, "TokenInvalid"),
    ],
)
def test_bad_authorization_headers(client, header, status, code):
    r = client.get(f"{API}/me", headers={"Authorization": header})
    assert (r.status_code, r.json["code"]) == (status, code)
    assert "Traceback" not in r.json["message"]


def test_without_providers_credentials_oidc_is_not_offered(client):
    r = client.get(f"{API}/credentials/oidc")
    assert r.status_code == 404 and r.json["code"] == "NotFound"
    paths = [e["path"] for e in client.get(f"{API}/").json["endpoints"]]
    assert "/credentials/basic" in paths and "/credentials/oidc" not in paths


def test_provider_settings_from_json_or_a_file(tmp_path, monkeypatch):
    doc = [{"id": "egi", "issuer": "https://aai.egi.eu/realm/", "title": "EGI"}]
    monkeypatch.setenv("CROPCUBE_OIDC_PROVIDERS", json.dumps(doc))
    (provider,) = Settings.from_env().oidc_providers
    assert provider == OidcProvider("egi", "https://aai.egi.eu/realm", "EGI")
    path = tmp_path / "oidc.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("CROPCUBE_OIDC_PROVIDERS", str(path))
    assert Settings.from_env().oidc_providers == (provider,)


def test_configured_providers_are_listed_as_the_api_says(settings):
    provider = {
        "id": "egi",
        "issuer": "https://aai.egi.eu/realm",
        "title": "EGI",
        "scopes": ["openid", "email"],
        "description": "EGI Check-in",
        "default_clients": [{"id": "c", "grant_types": ["refresh_token"], "redirect_urls": []}],
        "authorization_parameters": {"prompt": "consent"},
    }
    app = create_app(replace(settings, oidc_providers=(OidcProvider.from_json(provider),)))
    client = app.test_client()
    for prefix in ("/openeo/1.2", "/openeo/1.3"):
        assert client.get(f"{prefix}/credentials/oidc").json == {"providers": [provider]}
        paths = [e["path"] for e in client.get(f"{prefix}/").json["endpoints"]]
        assert "/credentials/oidc" in paths


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"id": "x"}, "OIDC provider 'x': missing issuer, title"),
        ({"id": "x", "issuer": "https://i", "title": "t", "client": "c"}, "unknown client"),
        ({"id": "a/b", "issuer": "https://i", "title": "t"}, "letters, digits"),
    ],
)
def test_bad_provider_settings_say_what_is_wrong(doc, says, monkeypatch):
    monkeypatch.setenv("CROPCUBE_OIDC_PROVIDERS", json.dumps([doc]))
    with pytest.raises(SettingsError, match=f"^CROPCUBE_OIDC_PROVIDERS: .*{re.escape(says)}"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('{"id": "x"}', "a JSON list"),
        ("[{", "Expecting property name"),
        ("/nowhere/oidc.json", "No such file"),
    ],
)
def test_a_server_with_bad_provider_settings_does_not_start(value, says, monkeypatch, capsys):
    monkeypatch.setenv("CROPCUBE_OIDC_PROVIDERS", value)
    assert cli.main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cropcube: CROPCUBE_OIDC_PROVIDERS: ") and says in err
    assert "Traceback" not in err


def test_basic_user_names_cannot_look_like_oidc_users(tmp_path):
    with pytest.raises(ValueError, match="':'"):
        UserStore(tmp_path / "users.json").add("egi:someone", "pw")
