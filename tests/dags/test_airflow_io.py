"""The Airflow edge: engines built from Airflow connections through the providers' hooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.connections import pg_connection_json

from batch_monitor import airflow_io, settings


def connection_json(url: str, **extra: Any) -> str:
    # characters a hand-built URL string would have to escape
    return pg_connection_json(url, password="p@ss/w:rd?", **extra)


@pytest.fixture(autouse=True)
def no_cached_engines() -> Iterator[None]:
    airflow_io.store_engine.cache_clear()
    airflow_io.source_engine.cache_clear()
    yield
    airflow_io.store_engine.cache_clear()
    airflow_io.source_engine.cache_clear()


def test_the_store_engine_comes_from_the_postgres_connection(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", connection_json(fresh_pg_url, connect_timeout=5))
    engine = airflow_io.store_engine()
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT current_database()")) == sa.make_url(fresh_pg_url).database
    assert engine.url.drivername == "postgresql+psycopg2"
    assert engine.url.password == "p@ss/w:rd?"
    engine.dispose()


def test_a_connect_timeout_that_is_not_a_number_is_named(fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", connection_json(fresh_pg_url, connect_timeout="soon"))
    with pytest.raises(ValueError, match="'batch_monitor_db': extra 'connect_timeout' must be a number of seconds"):
        airflow_io.store_engine()


def test_the_store_must_be_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path)}))
    with pytest.raises(ValueError, match="'batch_monitor_db' must be a PostgreSQL connection for the store"):
        airflow_io.store_engine()


def test_a_sqlite_connection_stands_in_for_ccb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ccb.sqlite"
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(sa.text("CREATE TABLE ci_batch_run (batch_cd TEXT)"))
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    engine = airflow_io.source_engine()
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM ci_batch_run")) == 0
    engine.dispose()


def test_ccb_on_postgresql_is_read_through_the_postgres_connection(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", connection_json(fresh_pg_url))
    engine = airflow_io.source_engine()
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT current_database()")) == sa.make_url(fresh_pg_url).database
    assert engine.url.password == "p@ss/w:rd?"
    engine.dispose()


@pytest.mark.parametrize(("value", "token"), [(None, None), ("   ", None), ("  s3cret-token\n", "s3cret-token")])
def test_the_metrics_token_is_the_variables_text_and_none_when_unset_or_blank(
    monkeypatch: pytest.MonkeyPatch, value: str | None, token: str | None
) -> None:
    name = f"AIRFLOW_VAR_{settings.METRICS_TOKEN.name.upper()}"
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)
    assert airflow_io.metrics_token() == token


def test_mail_links_start_at_the_airflow_base_url_and_localhost_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.dpdc.example/")
    assert airflow_io.page_url_base() == "https://airflow.dpdc.example"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    assert airflow_io.page_url_base() == settings.BASE_URL.default == "http://localhost:8080"
