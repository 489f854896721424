"""The store's packed documents: a model's JSON, deflated (zlib), kept in a BYTEA column.

Snapshots of what CC&B held and each tick's evaluation are written once and read whole by the
next task, never queried inside. As JSONB, PostgreSQL parsed them on the way in and rebuilt
them on the way out (SQLAlchemy's json on top): a 5,000-step workflow's snapshot at 13:00 (2.7 MB of JSON) took
0.8-1.8 s to insert and 0.8-1.9 s to load on the loaded benchmark machine, packed 0.2-0.4 s and
0.5-1.5 s. Level 1 deflates it to 196 KB in ~20 ms (TOAST's pglz then takes it to ~143 KB on
disk, JSONB's was ~179 KB); level 6 gives 69 KB for ~3.5x the time: see benchmarks/FINDINGS.md.
"""

from __future__ import annotations

import zlib
from typing import TypeVar

from pydantic import BaseModel

LEVEL = 1  # zlib's fastest: the tick's time first (the store keeps snapshots for two days only)

M = TypeVar("M", bound=BaseModel)


def pack(model: BaseModel) -> bytes:
    """``model`` as deflated JSON (the same model always packs to the same bytes)."""
    return zlib.compress(model.model_dump_json().encode("utf-8"), LEVEL)


def unpack(kind: type[M], data: bytes) -> M:
    """The ``kind`` that :func:`pack` packed into ``data``."""
    return kind.model_validate_json(zlib.decompress(data))
