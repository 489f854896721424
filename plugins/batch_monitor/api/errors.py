"""One shape for every refused value: JSON 422 ``{"detail": [{"type", "loc", "msg", "input"}]}``.

``loc`` names the field (``["query", "date"]``, ``["body", "comment"]``). ``input`` is never more
than a short excerpt of what was sent, escaped (control characters, NUL and lone surrogates
written as ``\\x00``, ``\\ud800``), so a reply can always be encoded and never echoes a large body.
Pure: no Airflow, no database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

EXCERPT_CHARS = 60
MESSAGE_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` characters of ``text``, non-printable ones escaped, and its length if cut."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return shown if len(text) <= limit else f"{shown}… ({len(text):,} characters)"


def input_excerpt(value: Any) -> Any:
    """A JSON-safe, short stand-in for a refused input: small scalars as they are, the rest as text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) <= 2**63:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        return excerpt(value)
    if isinstance(value, bytes):
        return excerpt(value.decode("utf-8", errors="backslashreplace"))
    if isinstance(value, Mapping | Sequence):
        try:
            return excerpt(json.dumps(value, ensure_ascii=False, default=str))
        except (ValueError, RecursionError):
            return excerpt(repr(value))
    return excerpt(str(value))


def _loc_part(part: Any) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else excerpt(str(part))


def error_entry(error: Mapping[str, Any]) -> dict[str, Any]:
    """One validation error as the API answers it."""
    entry: dict[str, Any] = {
        "type": excerpt(str(error.get("type", "value_error"))),
        "loc": [_loc_part(p) for p in error.get("loc", ())],
        "msg": excerpt(str(error.get("msg", "invalid value")), MESSAGE_CHARS),
    }
    if "input" in error:
        entry["input"] = input_excerpt(error["input"])
    ctx = error.get("ctx")
    if isinstance(ctx, Mapping) and ctx:
        entry["ctx"] = {excerpt(str(k)): input_excerpt(v) for k, v in ctx.items()}
    return entry


def validation_error_response(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """The 422 reply; a parameter checked twice (by a route and its dependency) is named once."""
    detail: list[dict[str, Any]] = []
    for entry in map(error_entry, errors):
        if entry not in detail:
            detail.append(entry)
    return JSONResponse(status_code=422, content={"detail": detail})


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Every RequestValidationError (query, path, body, or raised by a route) → JSON 422."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return validation_error_response(list(errors))


__all__ = ["error_entry", "excerpt", "input_excerpt", "validation_error_handler", "validation_error_response"]
