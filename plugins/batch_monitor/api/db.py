"""The API's way into the store: one pooled engine built lazily from the Airflow connection.

The engine comes from ``airflow_io.store_engine()`` (connection ``batch_monitor_db``, e.g. set as
``AIRFLOW_CONN_BATCH_MONITOR_DB``), built on the first request and reused (pool_pre_ping), so
importing the plugin never touches a database. A store that cannot be reached, or that was never
migrated, answers 503 with a message saying what to do.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
import anyio.to_thread
import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from batch_monitor.settings import STORE_CONN_ID

log = logging.getLogger(__name__)
UNDEFINED_TABLE = "42P01"


def engine() -> sa.Engine:
    """The store's engine (cached by airflow_io after the first call)."""
    from batch_monitor.airflow_io import store_engine

    try:
        return store_engine()
    except Exception as exc:  # the connection is missing or is not PostgreSQL
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the monitor's store is not configured: define the Airflow connection {STORE_CONN_ID!r} "
            f"as a PostgreSQL URI ({type(exc).__name__}: {exc})",
        ) from exc


# Threads that may wait for a pooled connection at once, and threads that hand one back. They are
# not the request threadpool's: if requests blocked on an exhausted pool held every threadpool
# thread, the requests holding connections could neither run nor give them back (a deadlock that
# ends in pool timeouts, i.e. 500s, under a few dozen concurrent clients).
_CONNECTING = anyio.CapacityLimiter(4)
_RETURNING = anyio.CapacityLimiter(4)


async def store_connection() -> AsyncIterator[sa.Connection]:
    """A store connection for one request; the caller commits what it changes."""
    async with _connection(engine()) as conn:
        yield conn


@asynccontextmanager
async def _connection(store: sa.Engine) -> AsyncIterator[sa.Connection]:
    """A connection of ``store``'s pool, checked out and returned in worker threads (bounded)."""
    conn = await anyio.to_thread.run_sync(store.connect, limiter=_CONNECTING)
    try:
        yield conn
    finally:
        await anyio.to_thread.run_sync(conn.close, limiter=_RETURNING)


StoreDep = Annotated[sa.Connection, Depends(store_connection)]


async def reading_connection() -> AsyncIterator[sa.Connection]:
    """A store connection for a request that only reads, each statement committed on its own.

    A transaction costs two round trips of its own (BEGIN before the first statement, ROLLBACK
    when the connection goes back to the pool): more than the one statement a kept response
    needs (api/cache.py). Under PostgreSQL's default READ COMMITTED every statement takes its own
    snapshot in a transaction too, so the reads see the same data either way.
    """
    async with _connection(engine().execution_options(isolation_level="AUTOCOMMIT")) as conn:
        yield conn


ReadingStoreDep = Annotated[sa.Connection, Depends(reading_connection)]


async def store_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Database trouble → 503 with a hint (store down, or never migrated); anything else → 500."""
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        status_code, hint = 503, "the monitor's PostgreSQL store did not answer; try again shortly"
    elif code == UNDEFINED_TABLE:
        status_code, hint = 503, "the store has no tables yet: the monitoring DAG creates them on its first run"
    else:
        log.exception("store query failed", exc_info=exc)
        status_code, hint = 500, "the store query failed; see the api-server log"
    return JSONResponse(status_code=status_code, content={"detail": f"{hint} ({type(exc).__name__})"})
