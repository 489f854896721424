"""Text shared by mails, the API, the CLI and logs. Pure: no Airflow, no database.

- :func:`format_duration`: the one way a duration is written ("4h 23m", "35m", "40s", "1d 3h 00m").
- :func:`parse_recipients`: the one way an address list is read (a Variable, ``on_call``, a task's
  ``email``): addresses separated by commas, semicolons or whitespace, duplicates dropped.
- :func:`mask_credentials`: passwords hidden in free text (error messages that reach a mail or a page).
- :func:`cut`: text kept within a length, saying that it was cut and how long it was.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

NO_DURATION = "—"

_ADDRESS_SEPARATORS = re.compile(r"[,;\s]+")

_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host → scheme://***@host (also scheme://password@host)
    (re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@'\"<>]+@"), r"\g<scheme>***@"),
    # key=value / key: value / "key": "value" for password-like keys
    (
        re.compile(
            r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)"
            r"[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s\"',;&)}]+)",
            re.IGNORECASE,
        ),
        r"\g<key>***",
    ),
    # Oracle style user/password@dsn
    (re.compile(r"\b(?P<user>[A-Za-z_][\w$#]*)/[^\s/@'\"]+@(?=[\w\[(])"), r"\g<user>/***@"),
]


def format_duration(delta: dt.timedelta | float | None) -> str:
    """A timedelta or seconds → '4h 23m', '35m', '40s', '1d 3h 00m'; None → '—'; negative → '0s'."""
    if delta is None:
        return NO_DURATION
    seconds = int(delta.total_seconds() if isinstance(delta, dt.timedelta) else delta)
    seconds = max(seconds, 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def cut(text: str, limit: int, *, trim: re.Pattern[str] | None = None) -> str:
    """``text`` cut to at most ``limit`` characters, ending with a note of how long it was in all.

    ``trim``: what to drop from the end of the part kept (e.g. a markup entity the cut split).
    """
    if len(text) <= limit:
        return text
    note = f"… (cut: {len(text):,} characters in all)"
    if len(note) >= limit:
        return text[:limit]
    kept = text[: limit - len(note)]
    return (trim.sub("", kept) if trim is not None else kept) + note


def parse_recipients(value: str | Iterable[str] | None) -> list[str]:
    """'a@x, b@y; c@z d@w' or ['a@x', 'b@y, c@z'] → ['a@x', 'b@y', ...]: in order, duplicates dropped."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else [str(v) for v in value]
    found: list[str] = []
    for item in items:
        for address in _ADDRESS_SEPARATORS.split(item):
            if address and address not in found:
                found.append(address)
    return found


def mask_credentials(text: str) -> str:
    """Hide passwords in free text: URIs with user info, ``password=...`` pairs, ``user/pass@dsn``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
