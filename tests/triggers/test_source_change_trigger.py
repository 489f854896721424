"""The fast path's trigger against a real PostgreSQL CC&B stand-in (the simulator's tables).

Each test drives ``BatchSourceChangeTrigger.run()`` in an event loop, as the triggerer does,
with a connection of its own (``AIRFLOW_CONN_<ID>``) and a business day played for today, so
the trigger's wall-clock window holds it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pendulum
import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database
from tests.support.ccb import DPDC, at, scenario
from tests.support.connections import pg_connection_json

from batch_monitor import airflow_io
from batch_monitor import business_day as bd
from batch_monitor.exceptions import SourceUnavailableError
from batch_monitor.simulator import create_schema, play
from batch_monitor.triggers import BatchSourceChangeTrigger

T = TypeVar("T")


def in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own, as the triggerer runs the trigger in its own loop: the
    session's browser tests (Playwright's sync API) keep an event loop running in the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


TODAY = bd.business_date(pendulum.now("UTC"), DPDC.timezone, DPDC.business_day_start)
FAILURE = scenario("failure")  # C1-PPBTR runs from 12:00 and fails at 14:30
BEFORE_FAILURE, AFTER_FAILURE = at("14:00", TODAY), at("14:31", TODAY)
QUIET = 1.0  # seconds of polling (every 0.1 s) in which no event may come


@pytest.fixture
def conn_id() -> Iterator[str]:
    """A connection id of this test's own (the source engine is cached per id)."""
    yield f"ccb_watch_{uuid.uuid4().hex[:10]}"
    airflow_io.source_engine.cache_clear()  # DROP DATABASE ... WITH (FORCE) ends what its pool holds


@pytest.fixture
def ccb(fresh_pg_url: str, conn_id: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """The OUAF tables in a fresh PostgreSQL database, behind the test's connection."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", pg_connection_json(fresh_pg_url, connect_timeout=3))
    engine = sa.create_engine(fresh_pg_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def trigger(conn_id: str, **settings: Any) -> BatchSourceChangeTrigger:
    kwargs: dict[str, Any] = {"interval": 0.1, "query_timeout": 2.0, "max_backoff": 0.4, **settings}
    return BatchSourceChangeTrigger(
        workflow_id=DPDC.workflow_id,
        batch_codes=[s.batch_code for s in DPDC.enabled_steps],
        timezone=DPDC.timezone,
        source_timezone=DPDC.source_timezone,
        business_day_start="05:00",
        conn_id=conn_id,
        **kwargs,
    )


class Watch:
    """A trigger's run() consumed in the background, its events collected as they come."""

    def __init__(self, watched: BatchSourceChangeTrigger) -> None:
        self.events: list[dict[str, Any]] = []
        self._run: AsyncIterator[Any] = watched.run()
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self._run:
            self.events.append(event.payload)

    async def until(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def test_no_event_while_nothing_changes_one_when_a_run_turns_to_error_and_none_after_a_restart(
    ccb: sa.Engine, conn_id: str
) -> None:
    play(ccb, FAILURE, DPDC, TODAY, BEFORE_FAILURE)

    async def scenario_run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        watch = Watch(trigger(conn_id))
        await asyncio.sleep(QUIET)
        quiet = list(watch.events)
        await _in_thread(play, ccb, FAILURE, DPDC, TODAY, AFTER_FAILURE)  # C1-PPBTR: RUN_STATUS 20 → 30
        await watch.until(1, timeout=5)
        await asyncio.sleep(QUIET)  # the same rows polled again: no second event
        changed = list(watch.events)
        await watch.stop()
        restarted = Watch(trigger(conn_id))  # a triggerer restart: a new trigger, nothing changed since
        await asyncio.sleep(QUIET)
        await restarted.stop()
        return quiet, changed, restarted.events

    quiet, changed, after_restart = in_thread(scenario_run())

    assert quiet == []
    [event] = changed
    assert event["workflow_id"] == "dpdc_ami"
    assert "status 30: 0 → 1 runs" in event["change"] and "status 20: 1 → 0 runs" in event["change"]
    assert event["fingerprint"]["runs_by_status"] == {"30": 1, "40": 4}
    assert event["fingerprint"]["business_date"] == TODAY.isoformat()
    assert event["changed_at"] == at("14:30", TODAY).isoformat()  # the failed run's END_DTTM, in UTC
    assert after_restart == []


def test_a_dead_database_is_retried_with_growing_backoff_and_the_trigger_recovers(
    pg_admin_url: str, conn_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the connection names a database that does not exist yet: every poll fails until it does
    missing = sa.make_url(pg_admin_url).set(database=f"bm_test_dead_{uuid.uuid4().hex[:10]}")
    url = missing.render_as_string(hide_password=False)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", pg_connection_json(url, connect_timeout=3))

    def bring_up() -> sa.Engine:
        """The database appears at once with the morning's rows: built under another name, then renamed."""
        building = create_database(pg_admin_url, prefix="bm_test_building")
        engine = sa.create_engine(building)
        create_schema(engine)
        play(engine, FAILURE, DPDC, TODAY, BEFORE_FAILURE)
        engine.dispose()
        admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{sa.make_url(building).database}" RENAME TO "{missing.database}"'))
        admin.dispose()
        return sa.create_engine(url)

    async def outage() -> tuple[list[dict[str, Any]], list[dict[str, Any]], sa.Engine]:
        watch = Watch(trigger(conn_id, interval=0.1, max_backoff=0.4))
        await asyncio.sleep(2.0)  # failed polls after 0.1, 0.2, 0.4, 0.4, ... s
        during = list(watch.events)
        engine = await _in_thread(bring_up)
        await asyncio.sleep(1.5)  # the next poll works: the baseline, no event
        await _in_thread(play, engine, FAILURE, DPDC, TODAY, AFTER_FAILURE)
        await watch.until(1, timeout=5)
        await watch.stop()
        return during, watch.events, engine

    try:
        during, events, engine = in_thread(outage())
        engine.dispose()
    finally:
        drop_database(pg_admin_url, url)

    logged = capsys.readouterr().out.splitlines()  # the trigger's log (Airflow's structlog writes to stdout)
    warnings = [line for line in logged if "fingerprint poll" in line]
    delays = [float(message.rsplit("next poll in ", 1)[1].split(" ")[0]) for message in warnings]
    assert during == []
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert all(f'"{missing.database}" does not exist' in message for message in warnings)
    assert any("CC&B answers again after" in line for line in logged)
    [event] = events
    assert "status 30: 0 → 1 runs" in event["change"]


def test_a_poll_is_cancelled_by_the_database_after_the_query_timeout(ccb: sa.Engine, conn_id: str) -> None:
    play(ccb, FAILURE, DPDC, TODAY, BEFORE_FAILURE)
    watched = trigger(conn_id, query_timeout=1.0)
    baseline = in_thread(watched.poll())
    with ccb.connect() as locker:  # another session holds CI_BATCH_RUN: the fingerprint query waits
        locker.execute(sa.text("LOCK TABLE ci_batch_run IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match="canceling statement due to statement timeout"):
            in_thread(watched.poll())
        waited = time.monotonic() - started
        locker.rollback()
    assert 0.9 <= waited < 3.0
    assert in_thread(watched.poll()) == baseline  # the lock gone, the next poll answers


def test_the_trigger_serializes_to_its_classpath_and_kwargs_without_secrets(conn_id: str) -> None:
    classpath, kwargs = trigger(conn_id).serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert classpath == "batch_monitor.triggers.BatchSourceChangeTrigger"
    assert set(kwargs) == {
        "workflow_id",
        "batch_codes",
        "timezone",
        "source_timezone",
        "business_day_start",
        "conn_id",
        "interval",
        "query_timeout",
        "max_backoff",
    }
    assert kwargs["conn_id"] == conn_id and kwargs["batch_codes"] == sorted(kwargs["batch_codes"])


def test_the_watched_window_is_the_business_day_of_the_moment_from_a_day_before_to_a_margin_after(conn_id: str) -> None:
    moment = pendulum.datetime(2026, 11, 24, 23, 30, tz="UTC")  # 05:30 on the 25th in Dhaka
    date, start, end = trigger(conn_id).window(moment)
    assert date == dt.date(2026, 11, 25)
    assert (start, end) == (dt.datetime(2026, 11, 24, 5, 0), dt.datetime(2026, 11, 26, 8, 0))
