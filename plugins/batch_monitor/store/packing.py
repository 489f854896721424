"""The store's packed documents: a model's JSON, deflated (zlib), kept in a BYTEA column.

Snapshots of what CC&B held and each tick's evaluation are written once and read whole by the
next task, never queried inside: stored as JSONB, PostgreSQL parsed them on the way in, rebuilt
their text on the way out and compressed them again in TOAST (a 5,000-step snapshot took ~130 ms
to insert). Packed, the database stores bytes; pydantic writes and reads the JSON (its own
serializer, in Rust) and zlib level 1 deflates it to about a tenth.
"""

from __future__ import annotations

import zlib
from typing import TypeVar

from pydantic import BaseModel

LEVEL = 1  # zlib's fastest: deflating more saves a few per cent of bytes for twice the time

M = TypeVar("M", bound=BaseModel)


def pack(model: BaseModel) -> bytes:
    """``model`` as deflated JSON (the same model always packs to the same bytes)."""
    return zlib.compress(model.model_dump_json().encode("utf-8"), LEVEL)


def unpack(kind: type[M], data: bytes) -> M:
    """The ``kind`` that :func:`pack` packed into ``data``."""
    return kind.model_validate_json(zlib.decompress(data))
