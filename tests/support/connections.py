"""Airflow connections (JSON form, as AIRFLOW_CONN_* takes them) for the tests' databases."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa


def pg_connection_json(url: str, *, password: str | None = None, **extra: Any) -> str:
    """An Airflow connection for a PostgreSQL URL; ``password`` replaces the URL's, ``extra`` goes
    into the connection's extra (e.g. ``connect_timeout``)."""
    parts = sa.make_url(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.host,
            "port": parts.port or 5432,
            "login": parts.username,
            "password": parts.password or "" if password is None else password,
            "schema": parts.database,
            "extra": extra,
        }
    )
