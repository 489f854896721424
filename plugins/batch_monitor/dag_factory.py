"""Build one Airflow DAG per workflow file: ``batch_monitor_<workflow_id>``.

Tasks (each may run on a different worker; only snapshot ids travel by XCom):

    prepare_store → source_available (sensor, reschedule) → extract → evaluate → persist
        → notify (queues the daily digest when due, sends the outbox on the workflow's channels)
        → summarize_and_purge

Scheduled on the workflow's cron, or (``watch: true``) on the cron or an event of the workflow's
asset, which :class:`~batch_monitor.triggers.BatchSourceChangeTrigger` emits from the triggerer
when CC&B's runs change. Everything is judged as of the DAG run's data interval end (a cron
tick) or the asset event's moment (an event tick), never the wall clock, so any run can be
cleared and replayed. The monitor's own failures e-mail on-call through the
failure callback, straight over SMTP (the store may be what is down). When CC&B cannot be
read (the sensor gives up after ``source_wait``, or extract fails reading it), the failure
callback of those two tasks opens a SOURCE_UNAVAILABLE alert in the store instead and mails it
once per outage; the next tick that reads CC&B resolves it and judges the ticks missed.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

import pendulum
from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    PokeReturnValue,
    get_current_context,
    task,
)

from batch_monitor import airflow_io, pipeline
from batch_monitor.config import WorkflowConfig
from batch_monitor.exceptions import SourceUnavailableError
from batch_monitor.notify.channels import build_channels
from batch_monitor.notify.failure import BatchMonitorFailureNotifier, describe_exception, monitor_failure_callback
from batch_monitor.settings import SOURCE_CONN_ID, sql_dir
from batch_monitor.source import SourceReader, ping
from batch_monitor.text import format_duration
from batch_monitor.triggers import BatchSourceChangeTrigger

log = logging.getLogger(__name__)

SENSOR_POKE_INTERVAL = dt.timedelta(minutes=1)
SENSOR_TIMEOUT = dt.timedelta(minutes=10)
EVENT_CLOCK_LEAD = dt.timedelta(minutes=5)  # as the workflows' default clock_skew_tolerance


def _as_of(context: Mapping[str, Any] | None = None) -> pendulum.DateTime:
    """The tick's as-of time: for a tick a CC&B change triggered (the fast path), the moment of
    the latest asset event it consumed; else the DAG run's data interval end (its logical date
    for cron schedules); a manual run without either is judged as of when it was queued."""
    context = context if context is not None else get_current_context()
    moment: dt.datetime | None = _event_moment(context.get("dag_run"))
    moment = moment or context.get("data_interval_end") or context.get("logical_date")
    if moment is None:
        moment = context["dag_run"].run_after
    return pendulum.instance(moment).in_timezone("UTC")


def _event_moment(dag_run: Any) -> dt.datetime | None:
    """When the latest asset event behind an event-triggered DAG run happened (None for other runs).

    Airflow 3 gives such a run no data interval and no logical date; its ``run_after`` is when
    the scheduler queued it, a little after the event. When the trigger saw CC&B stamp the change
    later than the event's timestamp (CC&B's clock a little ahead of Airflow's), the event counts
    as of that stamp, up to ``EVENT_CLOCK_LEAD``: judged earlier, the failed run would still be
    running. A larger lead is the reader's clock-skew detection's to handle.
    """
    events = getattr(dag_run, "consumed_asset_events", None) or []
    return max((_moment_of(event) for event in events), default=None)


def _moment_of(event: Any) -> dt.datetime:
    moment: dt.datetime = event.timestamp
    changed = (getattr(event, "extra", None) or {}).get("changed_at")
    try:
        stamped = pendulum.parse(changed) if isinstance(changed, str) else None
    except ValueError:
        stamped = None
    if isinstance(stamped, dt.datetime) and moment < stamped <= moment + EVENT_CLOCK_LEAD:
        return stamped
    return moment


def watch_asset(workflow: WorkflowConfig) -> Asset:
    """The asset whose events are the workflow's CC&B changes, watched by :class:`BatchSourceChangeTrigger`."""
    trigger = BatchSourceChangeTrigger(
        workflow_id=workflow.workflow_id,
        batch_codes=[step.batch_code for step in workflow.enabled_steps],
        timezone=workflow.timezone,
        source_timezone=workflow.source_timezone,
        business_day_start=f"{workflow.business_day_start:%H:%M}",
        conn_id=SOURCE_CONN_ID,
        interval=workflow.watch_interval.total_seconds(),
    )
    return Asset(
        name=f"batch_monitor_{workflow.workflow_id}_ccb_runs",
        uri=f"batch-monitor://ccb/{workflow.workflow_id}",
        group="batch-monitor",
        watchers=[AssetWatcher(name=f"batch_monitor_{workflow.workflow_id}_watch", trigger=trigger)],
    )


def schedule(workflow: WorkflowConfig) -> str | AssetOrTimeSchedule:
    """The workflow's cron, or (``watch: true``) the cron or a change in CC&B, whichever comes first."""
    if not workflow.watch:
        return workflow.schedule
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(workflow.schedule, timezone="UTC"), assets=[watch_asset(workflow)]
    )


def _waited(context: Mapping[str, Any]) -> dt.timedelta:
    """How long the sensor has been poking in this DAG run (since its first reschedule)."""
    first = context["ti"].get_first_reschedule_date(context)
    return pendulum.now("UTC") - first if first is not None else dt.timedelta(0)


def _source_problem(context: Mapping[str, Any]) -> str | None:
    """The failure's message if it is CC&B that could not be read, else None."""
    exc = context.get("exception")
    seen: set[int] = set()
    while isinstance(exc, BaseException) and id(exc) not in seen:
        if isinstance(exc, SourceUnavailableError):
            return str(exc)  # says what did not answer and the driver's error, masked
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    ti = context.get("ti") or context.get("task_instance")
    if getattr(ti, "task_id", None) == "source_available":  # e.g. Airflow's own sensor timeout
        return describe_exception(context.get("exception"))
    return None


def source_failure_callback(workflow: WorkflowConfig) -> Callable[[Mapping[str, Any]], None]:
    """``on_failure_callback`` of the sensor and extract: a CC&B outage becomes an alert, mailed once.

    The SOURCE_UNAVAILABLE alert goes into the store and its mail through the outbox (sent at
    once); a later tick of the same outage only marks it seen. Any other failure, or a store
    that cannot be written either, falls back to the plain monitor-failure mail.
    """

    def callback(context: Mapping[str, Any]) -> None:
        problem = _source_problem(context)
        if problem is not None:
            try:
                store = airflow_io.store_engine()
                now = _now()
                pipeline.record_source_unavailable(
                    store,
                    workflow,
                    _as_of(context),
                    problem,
                    recipients=airflow_io.recipients(workflow),
                    page_url_base=airflow_io.page_url_base(),
                    now=now,
                    escalate_to=airflow_io.escalate_recipients(workflow),
                )
                worker = f"{socket.gethostname()}:{workflow.dag_id}:callback"
                pipeline.notify(store, build_channels(workflow.channels), now, worker=worker)
                return
            except Exception:  # the store may be down too: on-call still hears of it
                log.exception("batch_monitor: could not record the CC&B outage in the store; mailing directly")
        monitor_failure_callback(context)

    return callback


def _now() -> dt.datetime:
    return pendulum.now("UTC")


def build_dag(
    workflow: WorkflowConfig,
    *,
    source_wait: dt.timedelta = SENSOR_TIMEOUT,
    poke_interval: dt.timedelta = SENSOR_POKE_INTERVAL,
) -> DAG:
    """The monitoring DAG of one workflow.

    ``source_wait``: how long a tick waits for CC&B to answer (poking every ``poke_interval``)
    before it fails with the driver's error and a SOURCE_UNAVAILABLE alert.
    """
    on_source_failure = source_failure_callback(workflow)
    doc = (
        f"Watches the CC&B batch chain **{workflow.name}** ({len(workflow.steps)} steps, "
        f"{workflow.timezone}, business day from {workflow.business_day_start:%H:%M}).\n\n"
        f"Configured in `{workflow.source_file}`. Results: Browse → Batch Monitor."
    )
    with DAG(
        dag_id=workflow.dag_id,
        description=f"Batch monitor for {workflow.name}",
        schedule=schedule(workflow),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(minutes=30),
        tags=["batch-monitor", workflow.workflow_id, *workflow.tags],
        doc_md=doc,
        params={"on_call": list(workflow.on_call), "timezone": workflow.timezone},
        default_args={
            "owner": "batch-monitor",
            "retries": 2,
            "retry_delay": dt.timedelta(seconds=30),
            "execution_timeout": dt.timedelta(minutes=10),
            "on_failure_callback": BatchMonitorFailureNotifier(),
        },
    ) as dag:

        @task
        def prepare_store() -> str:
            """Returns when the tick began (ISO 8601), for the tick's duration at its end."""
            began = _now()
            pipeline.prepare_store(airflow_io.store_engine(), workflow, began)
            return began.isoformat()

        @task.sensor(
            poke_interval=poke_interval.total_seconds(),
            timeout=source_wait.total_seconds(),
            mode="reschedule",
            retries=0,
            on_failure_callback=on_source_failure,
        )
        def source_available() -> PokeReturnValue:
            try:
                with airflow_io.source_engine().connect() as conn:
                    ping(conn, sql_dir())
            except Exception as exc:  # any driver error means "not yet": the sensor pokes again
                problem = pipeline.describe_error(exc)
                waited = _waited(get_current_context())
                if waited + poke_interval > source_wait:  # the next poke would come too late: give up clearly
                    raise SourceUnavailableError(
                        f"CC&B (Airflow connection {SOURCE_CONN_ID!r}) did not answer for "
                        f"{format_duration(waited)}: {problem}"
                    ) from None
                log.warning("CC&B (connection %r) does not answer yet: %s", SOURCE_CONN_ID, problem)
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True)

        @task(on_failure_callback=on_source_failure)
        def extract() -> list[int]:
            return pipeline.extract(
                airflow_io.source_engine(),
                airflow_io.store_engine(),
                workflow,
                _as_of(),
                SourceReader(sql_dir()),
                read_at=_now(),  # rows stamped later than this show a CC&B clock that is ahead
            )

        @task
        def evaluate(snapshot_ids: list[int]) -> list[dict[str, Any]]:
            return pipeline.evaluate_snapshots(airflow_io.store_engine(), workflow, snapshot_ids)

        @task
        def persist(snapshot_ids: list[int]) -> dict[str, Any]:
            return pipeline.persist(
                airflow_io.store_engine(),
                workflow,
                snapshot_ids,
                recipients=airflow_io.recipients(workflow),
                page_url_base=airflow_io.page_url_base(),
                now=_now(),
                escalate_to=airflow_io.escalate_recipients(workflow),
            )

        @task
        def notify() -> dict[str, int]:
            store = airflow_io.store_engine()
            digests = pipeline.queue_digests(
                store,
                workflow,
                _as_of(),
                recipients=airflow_io.recipients(workflow),
                page_url_base=airflow_io.page_url_base(),
                now=_now(),
            )
            channels = build_channels(workflow.channels)
            sent, failed = pipeline.notify(store, channels, _now(), worker=f"{socket.gethostname()}:{workflow.dag_id}")
            return {"sent": sent, "failed": failed, "digests": digests}

        @task
        def summarize_and_purge(began: str) -> dict[str, Any]:
            store, as_of = airflow_io.store_engine(), _as_of()
            result = pipeline.housekeeping(
                store,
                workflow,
                as_of,
                _now(),
                source=airflow_io.source_engine(),  # to bootstrap the baselines' history on the first run
                reader=SourceReader(sql_dir()),
            )
            finished = _now()  # the tick ran to its end: the dead man's switch reads this
            duration = (finished - dt.datetime.fromisoformat(began)).total_seconds()
            pipeline.finish_tick(store, workflow, as_of, finished_at=finished, duration_s=max(duration, 0.0))
            return result

        snapshots = extract()
        # TaskFlow hands each task the XCom value behind the XComArg: the ignores below are for that
        persisted = persist(snapshots)  # type: ignore[arg-type]
        began = prepare_store()
        began >> source_available() >> snapshots
        evaluated = evaluate(snapshots)  # type: ignore[arg-type]
        evaluated >> persisted >> notify() >> summarize_and_purge(began)  # type: ignore[arg-type]
    return dag
