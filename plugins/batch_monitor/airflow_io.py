"""The Airflow edge: connections → SQLAlchemy engines, Variables → recipients, config → page URL.

Everything else in the package takes plain engines and values; only this module, the DAG
factory, the plugin and the failure callback import Airflow.
"""

from __future__ import annotations

import logging
from functools import cache

import sqlalchemy as sa

from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import EMAIL_TO_VARIABLE, SOURCE_CONN_ID, STORE_CONN_ID
from batch_monitor.text import parse_recipients

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 30  # seconds; a connection's extra "connect_timeout" overrides it

_SQLALCHEMY_SCHEMES = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "sqlite": "sqlite",
}


def _connection_url(conn_id: str) -> sa.URL | None:
    """A SQLAlchemy URL for a PostgreSQL or SQLite Airflow connection; None for other kinds."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    kind = (conn.conn_type or "").lower()
    if kind not in _SQLALCHEMY_SCHEMES:
        return None
    if kind == "sqlite":
        path = conn.host or conn.schema or ""
        return sa.make_url(f"sqlite:///{path}")
    socket_dir = conn.host if conn.host and conn.host.startswith("/") else None  # a Unix socket directory
    return sa.URL.create(
        _SQLALCHEMY_SCHEMES[kind],
        username=conn.login or None,
        password=conn.password or None,
        host=None if socket_dir else conn.host or None,
        port=None if socket_dir else conn.port or None,
        database=conn.schema or None,
        query={"host": socket_dir} if socket_dir else {},
    )


def _connect_args(conn_id: str, url: sa.URL) -> dict[str, int]:
    """A bounded connect timeout for PostgreSQL (a host that never answers must not hang a task)."""
    if not url.drivername.startswith("postgresql"):
        return {}
    from airflow.sdk import BaseHook

    extra = BaseHook.get_connection(conn_id).extra_dejson
    try:
        timeout = int(extra.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    except (TypeError, ValueError):
        raise ValueError(
            f"Airflow connection {conn_id!r}: extra 'connect_timeout' must be a number of seconds"
        ) from None
    return {"connect_timeout": max(timeout, 1)}


@cache
def store_engine(conn_id: str = STORE_CONN_ID) -> sa.Engine:
    """The monitor's PostgreSQL store (one pooled engine per worker process)."""
    url = _connection_url(conn_id)
    if url is None or not url.drivername.startswith("postgresql"):
        raise ValueError(f"Airflow connection {conn_id!r} must be a PostgreSQL connection for the store")
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=_connect_args(conn_id, url)
    )


@cache
def source_engine(conn_id: str = SOURCE_CONN_ID) -> sa.Engine:
    """CC&B: Oracle through the Oracle provider's hook, or a PostgreSQL/SQLite stand-in (simulator)."""
    url = _connection_url(conn_id)
    if url is not None:
        return sa.create_engine(url, pool_pre_ping=True, connect_args=_connect_args(conn_id, url))
    from airflow.providers.oracle.hooks.oracle import OracleHook

    hook = OracleHook(oracle_conn_id=conn_id)
    return sa.create_engine("oracle+oracledb://", creator=hook.get_conn, pool_pre_ping=True)


def recipients(workflow: WorkflowConfig) -> list[str]:
    """On-call addresses: the Airflow Variable ``batch_monitor_email_to`` if set, else the YAML's."""
    return variable_recipients() or parse_recipients(workflow.on_call)


def variable_recipients() -> list[str]:
    """The addresses in the Airflow Variable ``batch_monitor_email_to`` (empty when unset)."""
    from airflow.sdk import Variable

    return parse_recipients(Variable.get(EMAIL_TO_VARIABLE, default=None))


def page_url_base() -> str:
    """Base URL of the Airflow UI, for links in mails ([api] base_url)."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or "http://localhost:8080"
    return base.rstrip("/")
