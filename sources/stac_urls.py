"""The STAC items behind a URL a user gives to load_stac: one item, a static collection or
catalog, or a collection of a STAC API (searched page by page); every document and every
asset href passes the URL policy first, so a catalog cannot point the server at itself."""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import pystac
from shapely.geometry import box, shape

from sources.safe_urls import UrlPolicy, UrlRefused, check_url, fetch
from sources.stac_source import in_interval, iso

MAX_DOCUMENTS = 2000  # documents one static catalog may make us fetch
PAGE_LIMIT = 100
MAX_PAGES = 100


class NotStac(Exception):
    """The URL holds something other than STAC; the message is safe to show."""


def _json(url: str, policy: UrlPolicy) -> dict[str, Any]:
    try:
        doc = json.loads(fetch(url, policy).content)
    except ValueError:
        raise NotStac(f"{url} holds no JSON") from None
    if not isinstance(doc, dict):
        raise NotStac(f"{url} is not a STAC document")
    return doc


def _links(doc: dict[str, Any], base: str, rel: str) -> list[str]:
    return [
        urljoin(base, link["href"])
        for link in doc.get("links") or []
        if isinstance(link, dict) and link.get("rel") == rel and link.get("href")
    ]


def _item(doc: dict[str, Any], url: str) -> pystac.Item:
    try:
        item = pystac.Item.from_dict(doc, href=url, preserve_dict=False)
    except Exception:  # noqa: BLE001 - any malformed item is the user's input
        raise NotStac(f"{url} holds an item pystac cannot read") from None
    for asset in item.assets.values():
        asset.href = urljoin(url, asset.href)
    return item


def _with_query(url: str, query: dict[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(query)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def _api_items(
    items_url: str,
    policy: UrlPolicy,
    bbox: tuple[float, ...],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[pystac.Item]:
    """An OGC API Features `items` endpoint, filtered by the API and paged by `next` links."""
    span = f"{iso(start) if start else '..'}/{iso(end) if end else '..'}"
    url: str | None = _with_query(
        items_url, {"bbox": ",".join(map(str, bbox)), "datetime": span, "limit": str(PAGE_LIMIT)}
    )
    out: list[pystac.Item] = []
    for _ in range(MAX_PAGES):
        if url is None:
            return out
        page = _json(url, policy)
        out += [_item(f, url) for f in page.get("features") or []]
        nxt = _links(page, url, "next")
        url = nxt[0] if nxt else None
    raise NotStac(
        f"{items_url} has more than {MAX_PAGES * PAGE_LIMIT} matching items; "
        "narrow the spatial or temporal extent"
    )


def _static_items(root: dict[str, Any], url: str, policy: UrlPolicy) -> list[pystac.Item]:
    """Items below a static catalog or collection (item and child links, breadth first)."""
    out, seen, queue, fetched = [], {url}, deque([(root, url)]), 1
    while queue:
        doc, base = queue.popleft()
        if doc.get("type") == "Feature":
            out.append(_item(doc, base))
            continue
        for href in _links(doc, base, "item") + _links(doc, base, "child"):
            if href in seen:
                continue
            seen.add(href)
            fetched += 1
            if fetched > MAX_DOCUMENTS:
                raise NotStac(f"{url} links more than {MAX_DOCUMENTS} documents")
            queue.append((_json(href, policy), href))
    return out


def remote_items(
    url: str,
    policy: UrlPolicy,
    bbox_ll: tuple[float, float, float, float],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[pystac.Item]:
    """The items of the STAC document at url that meet the box and [start, end); raises
    UrlRefused or NotStac with a message fit for the user."""
    doc = _json(url, policy)
    kind = doc.get("type")
    if kind == "Feature":
        items = [_item(doc, url)]
    elif kind == "FeatureCollection":
        items = [_item(f, url) for f in doc.get("features") or []]
    elif kind in ("Collection", "Catalog"):
        api = _links(doc, url, "items")
        items = (
            _api_items(api[0], policy, bbox_ll, start, end)
            if api
            else _static_items(doc, url, policy)
        )
    else:
        raise NotStac(f"{url} is not a STAC item, collection or catalog")
    area = box(*bbox_ll)
    items = [
        i
        for i in items
        if in_interval(i, start, end) and (i.geometry is None or shape(i.geometry).intersects(area))
    ]
    for item in items:
        for asset in item.assets.values():
            try:
                check_url(asset.href, policy)
            except UrlRefused:
                raise UrlRefused(
                    f"item {item.id} has an asset at a URL that is not allowed here"
                ) from None
    return items
