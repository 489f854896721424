"""The Airflow edge: connections → SQLAlchemy engines, Variables → recipients, config → page URL.

Everything else in the package takes plain engines and values; only this module, the DAG
factory, the plugin and the failure callback import Airflow.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import sqlalchemy as sa

from batch_monitor.config import WorkflowConfig
from batch_monitor.settings import (
    BASE_URL,
    CONNECT_TIMEOUT,
    EMAIL_TO,
    ESCALATE_TO,
    METRICS_TOKEN,
    SOURCE_CONN_ID,
    STORE_CONN_ID,
    Setting,
)
from batch_monitor.text import parse_recipients

log = logging.getLogger(__name__)

POSTGRES_DRIVER = "postgresql+psycopg2"  # the driver the store is tested with (the hook would pick psycopg 3)
_POSTGRES_TYPES = ("postgres", "postgresql")


def _conn_type(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    return (BaseHook.get_connection(conn_id).conn_type or "").lower()


def _postgres_engine(conn_id: str, **engine_kwargs: Any) -> sa.Engine:
    """The PostgreSQL provider's engine: its URL (host, port, login, schema, Unix socket), our pool and timeout."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id, sqlalchemy_scheme=POSTGRES_DRIVER)
    connect_args = {"connect_timeout": _connect_timeout(conn_id, hook.connection.extra_dejson)}
    engine: sa.Engine = hook.get_sqlalchemy_engine(
        engine_kwargs={"pool_pre_ping": True, "connect_args": connect_args, **engine_kwargs}
    )
    return engine


def _connect_timeout(conn_id: str, extra: dict[str, Any]) -> int:
    """A bounded connect timeout for PostgreSQL (a host that never answers must not hang a task)."""
    try:
        timeout = int(extra.get(CONNECT_TIMEOUT.name, CONNECT_TIMEOUT.default))
    except (TypeError, ValueError):
        raise ValueError(
            f"Airflow connection {conn_id!r}: extra {CONNECT_TIMEOUT.name!r} must be a number of seconds"
        ) from None
    return max(timeout, 1)


def _sqlite_engine(conn_id: str) -> sa.Engine:
    """A SQLite stand-in for CC&B (simulator, tests): no SQLite provider is installed, so the path is read here."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return sa.create_engine(f"sqlite:///{conn.host or conn.schema or ''}", pool_pre_ping=True)


@cache
def store_engine(conn_id: str = STORE_CONN_ID) -> sa.Engine:
    """The monitor's PostgreSQL store (one pooled engine per worker process), from the provider's hook."""
    if _conn_type(conn_id) not in _POSTGRES_TYPES:
        raise ValueError(f"Airflow connection {conn_id!r} must be a PostgreSQL connection for the store")
    return _postgres_engine(conn_id, pool_size=5, max_overflow=5)


@cache
def source_engine(conn_id: str = SOURCE_CONN_ID) -> sa.Engine:
    """CC&B: Oracle through the Oracle provider's hook, or a PostgreSQL/SQLite stand-in (simulator).

    Oracle connections are opened by ``OracleHook.get_conn`` (thick mode, DSN, service name and
    session settings are the hook's); the hook's own ``get_sqlalchemy_engine`` is not used because
    its URL (``get_uri``) puts the password in unescaped and drops those settings.
    """
    kind = _conn_type(conn_id)
    if kind in _POSTGRES_TYPES:
        return _postgres_engine(conn_id)
    if kind == "sqlite":
        return _sqlite_engine(conn_id)
    from airflow.providers.oracle.hooks.oracle import OracleHook

    hook = OracleHook(oracle_conn_id=conn_id)
    return sa.create_engine("oracle+oracledb://", creator=hook.get_conn, pool_pre_ping=True)


def recipients(workflow: WorkflowConfig) -> list[str]:
    """On-call addresses: the Airflow Variable ``batch_monitor_email_to`` if set, else the YAML's."""
    return variable_recipients() or parse_recipients(workflow.on_call)


def variable(setting: Setting[None]) -> str | None:
    """An Airflow Variable's text (None when unset or blank)."""
    from airflow.sdk import Variable

    value = Variable.get(setting.name, default=None)
    text = str(value).strip() if value is not None else ""
    return text or None


def variable_recipients() -> list[str]:
    """The addresses in the Airflow Variable ``batch_monitor_email_to`` (empty when unset)."""
    return parse_recipients(variable(EMAIL_TO))


def escalate_recipients(workflow: WorkflowConfig) -> list[str]:
    """Who escalated mails also go to: the Airflow Variable ``batch_monitor_escalate_to`` if set,
    else the YAML's ``escalate_to``."""
    return parse_recipients(variable(ESCALATE_TO)) or list(workflow.escalate_to)


def metrics_token() -> str | None:
    """The metrics scraper's token: the Airflow Variable ``batch_monitor_metrics_token`` (None when unset or blank)."""
    return variable(METRICS_TOKEN)


def page_url_base() -> str:
    """Base URL of the Airflow UI, for links in mails ([api] base_url; unset: its default)."""
    from airflow.configuration import conf

    base = conf.get(BASE_URL.section, BASE_URL.name, fallback="") or BASE_URL.default
    return base.rstrip("/")
