"""Fetch the URLs users give (load_stac, load_ml_model, geometries) without letting them
reach what only the server can reach (server-side request forgery).

Only http(s); the host must match the allowed host patterns; and every address actually
connected to, after DNS and after each redirect, must be public unless the host is listed
as trusted: loopback, private, link-local, multicast and reserved addresses are refused by
default. The address is checked on the connected socket itself, so a name that resolves
to another address between a check and the connection (DNS rebinding) gains nothing. A
refusal says only that the URL is not allowed, never what the server saw there.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from core.settings import UrlPolicy

MAX_REDIRECTS = 5


class UrlRefused(Exception):
    """The URL may not be fetched, or fetching it failed; the message is safe to show."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _checked(conn_cls: type[HTTPConnection]) -> type[HTTPConnection]:
    class Checked(conn_cls):  # type: ignore[misc, valid-type]
        """A connection that refuses a peer address the policy does not allow."""

        policy: UrlPolicy = UrlPolicy()

        def _new_conn(self):  # noqa: ANN202 - urllib3's own signature
            sock = super()._new_conn()
            peer = sock.getpeername()[0]
            if not _public(peer) and not self.policy.trusted(self.host):
                sock.close()
                raise UrlRefused("not allowed")
            return sock

    return Checked


class _Adapter(HTTPAdapter):
    def __init__(self, policy: UrlPolicy):
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().init_poolmanager(*args, **kwargs)
        policy = self.policy

        class Http(HTTPConnectionPool):
            ConnectionCls = type("C", (_checked(HTTPConnection),), {"policy": policy})

        class Https(HTTPSConnectionPool):
            ConnectionCls = type("C", (_checked(HTTPSConnection),), {"policy": policy})

        self.poolmanager.pool_classes_by_scheme = {"http": Http, "https": Https}


def check_url(url: str, policy: UrlPolicy) -> None:
    """Refuse a URL the policy does not allow (scheme, host, resolved addresses)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("only http and https URLs are fetched")
    if not policy.host_allowed(parts.hostname):
        raise UrlRefused(f"the URL {url} is not allowed here")
    if policy.trusted(parts.hostname):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise UrlRefused(f"could not fetch {url}: the host is unknown") from None
    if not all(_public(info[4][0]) for info in infos):
        raise UrlRefused(f"the URL {url} is not allowed here")


def fetch(url: str, policy: UrlPolicy) -> requests.Response:
    """GET the URL under the policy, following redirects itself (each hop checked); the body
    is read in full up to max_bytes. UrlRefused for anything else."""
    with requests.Session() as session:
        session.trust_env = False  # no proxies from the environment
        adapter = _Adapter(policy)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, policy)
            try:
                r = session.get(url, timeout=policy.timeout_s, allow_redirects=False, stream=True)
            except UrlRefused:
                raise UrlRefused(f"the URL {url} is not allowed here") from None
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                if isinstance(
                    getattr(exc, "__context__", None), UrlRefused
                ) or "not allowed" in str(exc):
                    raise UrlRefused(f"the URL {url} is not allowed here") from None
                raise UrlRefused(f"could not fetch {url}: {type(exc).__name__}") from None
            if r.is_redirect and r.headers.get("Location"):
                url = urljoin(url, r.headers["Location"])
                r.close()
                continue
            if r.status_code != 200:
                r.close()
                raise UrlRefused(f"fetching {url} answered HTTP {r.status_code}")
            body = r.raw.read(policy.max_bytes + 1, decode_content=True)
            if len(body) > policy.max_bytes:
                raise UrlRefused(f"{url} is larger than {policy.max_bytes} bytes")
            r._content = body  # noqa: SLF001 - requests' own cache of the body
            return r
        raise UrlRefused(f"{url} redirects more than {MAX_REDIRECTS} times")
