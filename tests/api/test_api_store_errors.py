"""Store trouble reaches API clients as 503 with a hint, not as a bare 500."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from starlette.requests import Request

from batch_monitor.api.db import store_error_handler
from batch_monitor.api.queries import workflows


def answer(exc: Exception) -> tuple[int, str]:
    response = asyncio.run(store_error_handler(Request({"type": "http"}), exc))
    return response.status_code, json.loads(bytes(response.body))["detail"]


def test_a_store_that_was_never_migrated_says_the_dag_creates_the_tables(fresh_pg_url: str) -> None:
    engine = sa.create_engine(fresh_pg_url)
    with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as raised:
        workflows(conn)
    engine.dispose()
    status, detail = answer(raised.value)
    assert status == 503
    assert detail.startswith("the store has no tables yet: the monitoring DAG creates them on its first run")


def test_a_store_that_does_not_answer_is_503() -> None:
    engine = sa.create_engine("postgresql+psycopg2://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
    with pytest.raises(sa.exc.OperationalError) as raised:
        engine.connect()
    engine.dispose()
    assert answer(raised.value) == (
        503,
        "the monitor's PostgreSQL store did not answer; try again shortly (OperationalError)",
    )
