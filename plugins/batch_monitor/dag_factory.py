"""Build one Airflow DAG per workflow file: ``batch_monitor_<workflow_id>``.

Tasks (each may run on a different worker; only snapshot ids travel by XCom):

    prepare_store → source_available (sensor, reschedule) → extract → evaluate → persist
        → notify → summarize_and_purge

Everything is judged as of the DAG run's data interval end, never the wall clock, so any run
can be cleared and replayed. The monitor's own failures e-mail on-call through the
failure callback, straight over SMTP (the store may be what is down).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from typing import Any

import pendulum
from airflow.sdk import DAG, PokeReturnValue, get_current_context, task

from batch_monitor import airflow_io, pipeline
from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.notify.failure import monitor_failure_callback
from batch_monitor.paths import sql_dir
from batch_monitor.source import SourceReader, ping

log = logging.getLogger(__name__)

SENSOR_POKE_INTERVAL = dt.timedelta(minutes=1)
SENSOR_TIMEOUT = dt.timedelta(minutes=10)


def _as_of() -> pendulum.DateTime:
    """The tick's as-of time: the DAG run's data interval end (its logical date for cron schedules)."""
    context = get_current_context()
    moment: dt.datetime | None = context.get("data_interval_end") or context.get("logical_date")
    if moment is None:  # a manual run without a logical date is judged as of when it was queued
        moment = context["dag_run"].run_after
    return pendulum.instance(moment).in_timezone("UTC")


def _now() -> dt.datetime:
    return pendulum.now("UTC")


def build_dag(workflow: WorkflowConfig) -> DAG:
    """The monitoring DAG of one workflow."""
    doc = (
        f"Watches the CC&B batch chain **{workflow.name}** ({len(workflow.steps)} steps, "
        f"{workflow.timezone}, business day from {workflow.business_day_start:%H:%M}).\n\n"
        f"Configured in `{workflow.source_file}`. Results: Browse → Batch Monitor."
    )
    with DAG(
        dag_id=workflow.dag_id,
        description=f"Batch monitor for {workflow.name}",
        schedule=workflow.schedule,
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
            "on_failure_callback": monitor_failure_callback,
        },
    ) as dag:

        @task
        def prepare_store() -> None:
            pipeline.prepare_store(airflow_io.store_engine(), workflow, _now())

        @task.sensor(
            poke_interval=SENSOR_POKE_INTERVAL.total_seconds(),
            timeout=SENSOR_TIMEOUT.total_seconds(),
            mode="reschedule",
            retries=0,
        )
        def source_available() -> PokeReturnValue:
            try:
                with airflow_io.source_engine().connect() as conn:
                    ping(conn, sql_dir())
            except Exception as exc:  # any driver error means "not yet": the sensor pokes again
                log.warning("CC&B source %s does not answer yet: %s", "ccb_oracle", _first_line(exc))
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True)

        @task
        def extract() -> list[int]:
            return pipeline.extract(
                airflow_io.source_engine(), airflow_io.store_engine(), workflow, _as_of(), SourceReader(sql_dir())
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
            )

        @task
        def notify() -> dict[str, int]:
            sent, failed = pipeline.notify(
                airflow_io.store_engine(), SmtpChannel(), _now(), worker=f"{socket.gethostname()}:{workflow.dag_id}"
            )
            return {"sent": sent, "failed": failed}

        @task
        def summarize_and_purge() -> dict[str, Any]:
            return pipeline.housekeeping(airflow_io.store_engine(), workflow, _as_of(), _now())

        snapshots = extract()
        # TaskFlow hands each task the XCom value behind the XComArg: the ignores below are for that
        persisted = persist(snapshots)  # type: ignore[arg-type]
        prepare_store() >> source_available() >> snapshots
        evaluated = evaluate(snapshots)  # type: ignore[arg-type]
        evaluated >> persisted >> notify() >> summarize_and_purge()
    return dag


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
