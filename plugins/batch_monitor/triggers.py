"""The fast path: a trigger in Airflow's triggerer that notices a change in CC&B within seconds.

:class:`BatchSourceChangeTrigger` runs one small query (``include/sql/batch_fingerprint.sql``)
every ``watch_interval`` against CI_BATCH_RUN for the workflow's batch codes and the current
business day: per RUN_STATUS, how many runs and their latest start and end. It yields a
``TriggerEvent`` only when that fingerprint changes; the event becomes an event of the
workflow's asset, which starts a tick of its DAG at once (``AssetOrTimeSchedule``: the cron
schedule keeps the time-based checks).

- The first poll after the trigger starts (a deployment, a triggerer restart) only establishes
  the fingerprint and emits nothing: a restart never starts a storm of ticks. A change made while
  no trigger ran is judged by the next cron tick, at most one schedule interval later.
- A new business day starts a new fingerprint (its window moves) without an event.
- Safe for CC&B: each statement is cancelled by the database after ``query_timeout`` seconds
  (PostgreSQL ``statement_timeout``, Oracle ``call_timeout``) and the whole poll is abandoned
  after ``query_timeout`` plus a grace for connecting; a poll that fails is logged, the pool is
  dropped (the next poll reconnects) and polls back off exponentially up to ``max_backoff``
  seconds. The trigger never ends on an error; the first poll that works again compares against
  the fingerprint from before the outage, so a change made during it starts one tick.
- State is only the last fingerprint, in memory. Kwargs carry ids and settings, never secrets:
  the connection is looked up by id in the triggerer.

The sync database work runs in a thread (``asyncio.to_thread``) so the triggerer's event loop
never blocks. The trigger reads the wall clock (for the business day to watch): it is an edge.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pendulum
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from batch_monitor import business_day as bd
from batch_monitor.settings import SOURCE_CONN_ID, sql_dir
from batch_monitor.source import Fingerprint, SourceReader, fingerprint_window, read_fingerprint

CLASSPATH = "batch_monitor.triggers.BatchSourceChangeTrigger"
DEFAULT_QUERY_TIMEOUT = 10.0  # seconds; the fingerprint takes milliseconds on an indexed CI_BATCH_RUN
CONNECT_GRACE = 5.0  # seconds a poll may spend connecting on top of the query timeout
DEFAULT_MAX_BACKOFF = 300.0  # seconds between polls at most while CC&B does not answer


def backoff_delay(failures: int, interval: float, maximum: float) -> float:
    """Seconds to wait after ``failures`` failed polls in a row: the interval, doubled per failure, capped."""
    if failures <= 0:
        return interval
    return float(min(maximum, interval * 2 ** min(failures - 1, 30)))


def change_between(previous: Fingerprint | None, current: Fingerprint) -> str | None:
    """What changed from ``previous`` to ``current`` (None: nothing to report).

    None for the first poll (no previous) and for a new business day: both only set the baseline.
    """
    if previous is None or previous.business_date != current.business_date or previous == current:
        return None
    before, after = previous.as_payload(), current.as_payload()
    parts = []
    statuses = sorted(set(before["runs_by_status"]) | set(after["runs_by_status"]))
    for status in statuses:
        was, now = before["runs_by_status"].get(status, 0), after["runs_by_status"].get(status, 0)
        if was != now:
            parts.append(f"status {status}: {was} → {now} runs")
    for key, label in (("latest_start", "latest start"), ("latest_end", "latest end")):
        if before[key] != after[key]:
            parts.append(f"{label} {before[key] or 'none'} → {after[key] or 'none'}")
    return "; ".join(parts) or "runs changed"


class BatchSourceChangeTrigger(BaseEventTrigger):
    """Emits an event when a workflow's CI_BATCH_RUN rows change (see the module's docstring).

    ``interval``, ``query_timeout`` and ``max_backoff`` are seconds; ``business_day_start`` is
    ``"HH:MM"`` in ``timezone``; ``source_timezone`` is the CC&B server's clock.
    """

    def __init__(
        self,
        *,
        workflow_id: str,
        batch_codes: list[str],
        timezone: str,
        source_timezone: str,
        business_day_start: str,
        conn_id: str = SOURCE_CONN_ID,
        interval: float = 30.0,
        query_timeout: float = DEFAULT_QUERY_TIMEOUT,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if interval <= 0 or query_timeout <= 0 or max_backoff <= 0:
            raise ValueError("interval, query_timeout and max_backoff must be positive numbers of seconds")
        if not batch_codes:
            raise ValueError(f"workflow {workflow_id!r}: no batch codes to watch")
        self.workflow_id = workflow_id
        self.batch_codes = sorted(set(batch_codes))
        self.timezone = timezone
        self.source_timezone = source_timezone
        self.business_day_start = business_day_start
        self.conn_id = conn_id
        self.interval = float(interval)
        self.query_timeout = float(query_timeout)
        self.max_backoff = float(max_backoff)
        hours, minutes = (int(part) for part in business_day_start.split(":"))
        self._day_start = dt.time(hours, minutes)
        self._reader = SourceReader(sql_dir())

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "workflow_id": self.workflow_id,
                "batch_codes": list(self.batch_codes),
                "timezone": self.timezone,
                "source_timezone": self.source_timezone,
                "business_day_start": self.business_day_start,
                "conn_id": self.conn_id,
                "interval": self.interval,
                "query_timeout": self.query_timeout,
                "max_backoff": self.max_backoff,
            },
        )

    def window(self, now: dt.datetime) -> tuple[dt.date, dt.datetime, dt.datetime]:
        """The business date containing ``now`` and its fingerprint bounds in the CC&B server's clock."""
        date = bd.business_date(now, self.timezone, self._day_start)
        start, end = fingerprint_window(date, self.timezone, self._day_start, self.source_timezone)
        return date, start, end

    async def poll(self) -> Fingerprint:
        """One fingerprint of the current business day, abandoned after the query timeout plus a grace."""
        window = self.window(pendulum.now("UTC"))
        return await asyncio.wait_for(asyncio.to_thread(self._read, window), timeout=self.query_timeout + CONNECT_GRACE)

    def _read(self, window: tuple[dt.date, dt.datetime, dt.datetime]) -> Fingerprint:
        from batch_monitor import airflow_io  # the Airflow edge: the connection, looked up in the triggerer

        engine = airflow_io.source_engine(self.conn_id)
        try:
            with engine.connect() as conn:
                return read_fingerprint(conn, self._reader, self.batch_codes, window, timeout=self.query_timeout)
        except Exception:
            engine.dispose()  # drop pooled connections: the next poll connects afresh
            raise

    async def run(self) -> AsyncIterator[TriggerEvent]:
        previous: Fingerprint | None = None
        failures = 0
        while True:
            try:
                current = await self.poll()
            except Exception as exc:  # any failure: log it, back off, poll again
                failures += 1
                delay = backoff_delay(failures, self.interval, self.max_backoff)
                self.log.warning(
                    "batch_monitor %s: CC&B fingerprint poll %d in a row failed (%s); next poll in %.1f s",
                    self.workflow_id,
                    failures,
                    _describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                # at the level of the failures it ends, so that a log showing those shows this too
                self.log.warning(
                    "batch_monitor %s: CC&B answers again after %d failed polls", self.workflow_id, failures
                )
                failures = 0
            change = change_between(previous, current)
            if previous is None or previous.business_date != current.business_date:
                self.log.info("batch_monitor %s: watching business day %s", self.workflow_id, current.business_date)
            previous = current
            if change is not None:
                self.log.info("batch_monitor %s: CC&B runs changed: %s", self.workflow_id, change)
                yield TriggerEvent(self._payload(current, change))  # type: ignore[no-untyped-call]
            await asyncio.sleep(self.interval)

    def _payload(self, current: Fingerprint, change: str) -> dict[str, Any]:
        payload = current.as_payload()
        return {
            "workflow_id": self.workflow_id,
            "observed_at": pendulum.now("UTC").isoformat(),
            "change": change,
            # the latest start or end CC&B stamped, in UTC: the tick judges as of it when CC&B's clock is
            # a little ahead of Airflow's, so that the row that changed is not "in the future" (dag_factory)
            "changed_at": _utc(max(payload["latest_start"], payload["latest_end"]), self.source_timezone),
            "fingerprint": payload,
        }


def _utc(stamp: str, source_timezone: str) -> str | None:
    """A CC&B wall-clock stamp of the fingerprint ('2026-11-24 14:30:00') as an ISO UTC time (None if none)."""
    try:
        naive = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return bd.localize(naive.replace(tzinfo=None), source_timezone).isoformat()


def _describe(exc: BaseException) -> str:
    """'Type: first line' of a poll's failure, credentials masked (a timeout has no message)."""
    from batch_monitor.pipeline import describe_error

    if isinstance(exc, TimeoutError):
        return "TimeoutError: the poll took longer than its timeout"
    return describe_error(exc)
