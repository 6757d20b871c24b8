"""Find STAC items of a collection: from a static catalog (file or URL) or a STAC API.

A static catalog is read once and kept in memory. A STAC API is searched page by page
(`page_size` items a page, every page followed), and a search's items are kept for
`cache_s` seconds, so the same search within a request (a graph loading one collection
twice, an estimate before a run) asks the API once. Both hand back pystac Items, so
loading is one code path whatever the source.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from functools import cached_property

import pystac
import pystac_client
from shapely.geometry import box, shape


def _is_static(url: str) -> bool:
    return url.endswith(".json") or "://" not in url


class StacSource:
    """Items and collection documents from one STAC root."""

    def __init__(self, url: str, page_size: int = 100, cache_s: float = 60.0):
        self.url = url
        self.page_size = page_size
        self.cache_s = cache_s
        self.pages_read = 0  # pages fetched from a STAC API, for tests and logs
        self._lock = threading.Lock()
        self._items: dict[str, list[pystac.Item]] = {}
        self._searches: OrderedDict[tuple, tuple[float, list[pystac.Item]]] = OrderedDict()

    @cached_property
    def _root(self) -> pystac.Catalog | pystac_client.Client:
        if _is_static(self.url):
            return pystac.Catalog.from_file(self.url)
        return pystac_client.Client.open(self.url)

    def collection(self, collection_id: str) -> pystac.Collection | None:
        try:
            if isinstance(self._root, pystac_client.Client):
                return self._root.get_collection(collection_id)
            child = self._root.get_child(collection_id)
        except Exception:  # noqa: BLE001 - a missing collection reads as None for every source
            return None
        return child if isinstance(child, pystac.Collection) else None

    def _static_items(self, collection_id: str) -> list[pystac.Item]:
        with self._lock:
            if collection_id not in self._items:
                coll = self.collection(collection_id)
                items = list(coll.get_items()) if coll else []
                for item in items:
                    item.make_asset_hrefs_absolute()
                self._items[collection_id] = items
            return self._items[collection_id]

    def search(
        self,
        collection_id: str,
        bbox_ll: tuple[float, float, float, float],
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[pystac.Item]:
        """Items intersecting a lon/lat box whose time lies in [start, end)."""
        if isinstance(self._root, pystac_client.Client):
            interval = f"{iso(start) if start else '..'}/{iso(end) if end else '..'}"
            items = self._api_search(collection_id, bbox_ll, interval)
        else:
            area = box(*bbox_ll)
            items = [
                i
                for i in self._static_items(collection_id)
                if i.geometry is None or shape(i.geometry).intersects(area)
            ]
        return [i for i in items if in_interval(i, start, end)]

    def _api_search(
        self, collection_id: str, bbox_ll: tuple[float, ...], interval: str
    ) -> list[pystac.Item]:
        key = (collection_id, tuple(round(v, 9) for v in bbox_ll), interval)
        with self._lock:
            hit = self._searches.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.cache_s:
                return list(hit[1])
        assert isinstance(self._root, pystac_client.Client)
        found = self._root.search(
            collections=[collection_id],
            bbox=list(bbox_ll),
            datetime=interval,
            limit=self.page_size,
        )
        items: list[pystac.Item] = []
        for page in found.pages():
            self.pages_read += 1
            items.extend(page.items)
        with self._lock:
            self._searches[key] = (time.monotonic(), items)
            while len(self._searches) > 32:
                self._searches.popitem(last=False)
        return list(items)


def epsg_of(fields: dict) -> int:
    """The EPSG code of an item's or asset's projection fields (proj:epsg or proj:code),
    EPSG:4326 without them."""
    code = fields.get("proj:epsg") or fields.get("proj:code") or "EPSG:4326"
    return int(str(code).split(":")[-1])


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def item_time(item: pystac.Item) -> dt.datetime:
    """The item's datetime, or the start of its range."""
    t = item.datetime or item.common_metadata.start_datetime
    assert t is not None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def in_interval(item: pystac.Item, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    if item.datetime is None:  # a time range: keep it if it overlaps
        s = item.common_metadata.start_datetime
        e = item.common_metadata.end_datetime
        return (end is None or s is None or s < end) and (start is None or e is None or e >= start)
    t = item_time(item)
    return (start is None or t >= start) and (end is None or t < end)
