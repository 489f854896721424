"""Big responses kept as JSON bytes per store revision, and served with an ETag (304 when unchanged).

A 500-step timeline is 450–950 KiB of JSON: building it (the evaluation's payload validated, every
step dumped and validated again, then serialized) costs more than the rest of a request. The
routes build it once per *revision* (a key read from the store in one cheap statement before the
data, see ``queries.timeline_revision`` and ``queries.health_probe``) and keep the result in this
process. Each api-server worker keeps its own copy: the key comes from the store, so every worker
sees a tick or an operator's acknowledgement at its next request, and nothing is shared on disk.

The ETag is a digest of the bytes sent, so equal bodies have equal tags on every worker; a
request whose ``If-None-Match`` names it gets 304 without a body.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from fastapi import Request, Response, status

# Enough for every workflow's default day and a few other days or windows users opened.
DEFAULT_ENTRIES = 16
# The browser must ask again before reusing what it kept (the data change with every tick).
CACHE_CONTROL = "private, no-cache"
# As Airflow's own GZipMiddleware compresses (level 5); done once per kept body.
GZIP_LEVEL = 5

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


@dataclass(frozen=True)
class Encoded:
    """A JSON body with its entity tag and, for a big kept body, its gzip encoding made once.

    Airflow's api-server compresses every answer of more than 1 KiB for a client that accepts
    gzip, again on each request: a 1 MiB timeline costs more to compress than to serve. A body
    sent already encoded passes its middleware unchanged.
    """

    body: bytes
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, body: bytes, *, compress: bool = False) -> Encoded:
        return cls(body, etag_of(body), gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0) if compress else None)

    @property
    def gzip_etag(self) -> str:
        """The gzip representation's own tag (a strong tag names one representation's bytes)."""
        return self.etag[:-1] + '-gzip"'


# A gzip member (RFC 1952) around raw deflate blocks: each fixed part of a spliced body is
# compressed once, on its own and ended at a byte boundary (a full flush: it refers to nothing
# before it), so the parts can be put side by side with the per-request values between them,
# those sent as stored (uncompressed) blocks. The last block is an empty final one.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL_BLOCK = b"\x03\x00"
_STORED_MAX = 0xFFFF


def deflate_part(data: bytes) -> bytes:
    """``data`` as raw deflate blocks that end at a byte boundary and refer to nothing before them."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def stored_part(data: bytes) -> bytes:
    """``data`` as stored deflate blocks (no compression: a few bytes each request)."""
    out = bytearray()
    for start in range(0, len(data), _STORED_MAX):
        chunk = data[start : start + _STORED_MAX]
        out += b"\x00" + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk
    return bytes(out)


def gzip_member(parts: Iterable[bytes], body: bytes) -> bytes:
    """The gzip file of ``body``, given its deflate parts (see ``deflate_part``, ``stored_part``)."""
    trailer = struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
    return b"".join((_GZIP_HEADER, *parts, _FINAL_BLOCK, trailer))


@dataclass(frozen=True)
class Spliced:
    """A JSON object encoded (and compressed) once, but for a few fields filled in per request.

    ``fixed`` alternates with the names of the fields left open: text, name, text, ..., text.
    """

    fixed: tuple[bytes, ...]
    compressed: tuple[bytes, ...]
    fields: tuple[str, ...]

    @classmethod
    def of(cls, data: dict[str, Any], fields: Collection[str]) -> Spliced:
        pieces: list[bytearray] = [bytearray(b"{")]
        names = []
        for n, (key, value) in enumerate(data.items()):
            pieces[-1] += (b"," if n else b"") + encode(key) + b":"
            if key in fields:
                names.append(key)
                pieces.append(bytearray())
            else:
                pieces[-1] += encode(value)
        pieces[-1] += b"}"
        fixed = tuple(bytes(p) for p in pieces)
        return cls(fixed, tuple(deflate_part(p) for p in fixed), tuple(names))

    def fill(self, values: Mapping[str, Any]) -> Encoded:
        """The whole body with ``values`` (JSON data) in the open fields, and its gzip encoding."""
        filled = [encode(values[name]) for name in self.fields]
        body = b"".join(piece for pair in zip(self.fixed, [*filled, b""], strict=True) for piece in pair)
        parts = (p for pair in zip(self.compressed, [*map(stored_part, filled), b""], strict=True) for p in pair)
        return Encoded(body, etag_of(body), gzip_member(parts, body))


def json_response(request: Request, encoded: Encoded) -> Response:
    """The body with its ETag (gzip-encoded when kept so and accepted), or 304 without a body when
    the request's ``If-None-Match`` names either representation's tag."""
    gzipped = encoded.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "")
    etag = encoded.gzip_etag if gzipped else encoded.etag
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if_none_match = request.headers.get("if-none-match")
    if matches(if_none_match, encoded.etag) or matches(if_none_match, encoded.gzip_etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if gzipped and encoded.gzipped is not None:  # the middleware adds Vary to the bodies it handles
        headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(content=encoded.gzipped, media_type="application/json", headers=headers)
    return Response(content=encoded.body, media_type="application/json", headers=headers)


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
