"""The bounds of every value the API accepts, declared where the parameters are.

- dates: business days between ``MIN_DATE`` and ``MAX_DATE`` (a window or a health range around
  them stays inside what Python and the store can hold);
- integers: ids within PostgreSQL's bigint, ``offset`` within ``MAX_OFFSET``;
- text: no NUL character (PostgreSQL refuses it) and valid UTF-8 (no lone surrogates);
- request bodies: at most ``BODY_LIMIT`` bytes, counted while they arrive (413 beyond it), read
  only by :func:`read_body` after the caller's token and permission were checked.

Pure: no Airflow, no database.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import HTTPException, Request, status
from pydantic import AfterValidator, Field

MIN_DATE = dt.date(1970, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)
BIGINT_MAX = 2**63 - 1
MAX_OFFSET = 1_000_000_000
BODY_LIMIT = 64 * 1024  # bytes
COMMENT_CHARS = 2000
WORKFLOW_ID_CHARS = 63  # WorkflowConfig.workflow_id: ^[a-z][a-z0-9_]{0,62}$


def clean_text(text: str) -> str:
    """``text`` unchanged if the store can keep it: no NUL, encodable as UTF-8."""
    if "\x00" in text:
        raise ValueError("text must not contain the NUL character (\\x00)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text must be valid Unicode: a lone surrogate at position {exc.start}") from exc
    return text


CleanText = Annotated[str, AfterValidator(clean_text)]
BusinessDate = Annotated[dt.date, Field(ge=MIN_DATE, le=MAX_DATE)]
RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
DATE_RANGE = f"{MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}"


def too_large(limit: int = BODY_LIMIT) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the request body is larger than {limit // 1024} KiB "
        f"(a comment may have at most {COMMENT_CHARS:,} characters)",
    )


async def read_body(request: Request, limit: int = BODY_LIMIT) -> bytes:
    """The request's body, refused with 413 as soon as it (or its declared length) exceeds ``limit``."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = [
    "BIGINT_MAX",
    "BODY_LIMIT",
    "COMMENT_CHARS",
    "DATE_RANGE",
    "MAX_DATE",
    "MAX_OFFSET",
    "MIN_DATE",
    "WORKFLOW_ID_CHARS",
    "BusinessDate",
    "CleanText",
    "RowId",
    "clean_text",
    "read_body",
    "too_large",
]
