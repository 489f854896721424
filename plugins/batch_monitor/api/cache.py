"""Big responses kept as JSON bytes per store revision, and served with an ETag (304 when unchanged).

A 500-step timeline is ~450 KiB of JSON: building it (the evaluation's payload validated, every
step dumped and validated again, then serialized) costs more than the rest of a request. The
routes build it once per *revision* (a key read from the store in one cheap statement before the
data, see ``queries.timeline_revision`` and ``queries.health_probe``) and keep the result in this
process. Each api-server worker keeps its own copy: the key comes from the store, so every worker
sees a tick or an operator's acknowledgement at its next request, and nothing is shared on disk.

The ETag is a digest of the bytes sent, so equal bodies have equal tags on every worker; a
request whose ``If-None-Match`` names it gets 304 without a body.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import msgspec
from fastapi import Request, Response, status

# Enough for every workflow's default day and a few other days or windows users opened.
DEFAULT_ENTRIES = 16
# The browser must ask again before reusing what it kept (the data change with every tick).
CACHE_CONTROL = "private, no-cache"

_encoder = msgspec.json.Encoder()
V = TypeVar("V")


def encode(data: Any) -> bytes:
    """Compact JSON text (UTF-8, no spaces) of plain data: dicts, lists, strings, numbers, None."""
    return _encoder.encode(data)


def etag_of(body: bytes) -> str:
    """A strong entity tag: a digest of the body's bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (a list of tags, weak ones too, or ``*``)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)


def json_response(request: Request, body: bytes, etag: str) -> Response:
    """The body with its ETag, or 304 (no body) when the request's ``If-None-Match`` names the tag."""
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


class Kept(Generic[V]):
    """A small least-recently-used map of versioned values, safe across the threads of one process.

    A key (e.g. a workflow's day) holds one value, of one version (the store's revision): a newer
    version replaces it, so a day's older revisions do not stay in memory. ``get_or_build`` builds
    outside the lock: two requests missing the same key at once both build it (the same value
    from the same revision) rather than one waiting for the other.
    """

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries = entries
        self._items: OrderedDict[Hashable, tuple[Hashable, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, version: Hashable, build: Callable[[], V]) -> V:
        with self._lock:
            kept = self._items.get(key)
            if kept is not None and kept[0] == version:
                self._items.move_to_end(key)
                return kept[1]
        value = build()
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)
