"""Stores holding 60 days of history, made from days the real pipeline played.

A *template* business day is played tick by tick through the real code path (the simulator or
the synthetic generator writes CC&B's rows, :func:`batch_monitor.pipeline.run_tick` judges
them, persists them, queues and sends mails through a real SMTP server, summarizes). The other
history days are copies of the template's store rows made in SQL, shifted by whole days
(business dates, every timestamp, batch numbers by the simulator's 100 a day, alert ids and
mail dedupe keys renumbered). Evaluations get their JSON dates shifted too (the page and the
monitor read them); snapshot payloads and their ticks' evaluations are copied byte for byte (only their date and as-of
columns move), and only to the days whose snapshots the monitor still keeps
(:func:`snapshot_horizon`), so the copy holds what the real store would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.baselines import compute_baselines
from batch_monitor.config import WorkflowConfig
from batch_monitor.models import Evaluation
from batch_monitor.notify.channels import EmailChannel, SmtpChannel
from batch_monitor.settings import SNAPSHOT_RETENTION_DAYS, scenarios_dir
from batch_monitor.store import packing, repository
from batch_monitor.store.schema import evaluations

RUNS_PER_DAY = 100  # the simulator's batch numbers: (date - 2000-01-01).days * 100 + n


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _CountingHandler:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 Message accepted for delivery"


@dataclass
class MailSink:
    """A real SMTP server on 127.0.0.1 that accepts and counts mails."""

    controller: Controller
    handler: _CountingHandler

    @property
    def received(self) -> int:
        return self.handler.count


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    """Run an SMTP server and point Airflow's ``smtp_default`` connection at it."""
    handler = _CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    previous = os.environ.get("AIRFLOW_CONN_SMTP_DEFAULT")
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "monitor@example.test", "timeout": 5},
        }
    )
    try:
        yield MailSink(controller, handler)
    finally:
        controller.stop()
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = previous


def channel() -> EmailChannel:
    """The real SMTP channel (through the Airflow provider's hook), warmed up: imports done."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook  # noqa: F401  (first import takes seconds)

    return SmtpChannel()


def ticks(
    workflow: WorkflowConfig, date: dt.date, every: dt.timedelta, first: dt.time | None = None
) -> list[dt.datetime]:
    """Tick moments of the business day every ``every``, from ``first`` (default the day start) to its end."""
    start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
    moment = start if first is None else bd.at_clock(date, first, workflow.timezone, workflow.business_day_start)
    moments: list[dt.datetime] = []
    while moment <= end:
        moments.append(moment)
        moment = moment + every
    return moments


TickHook = Callable[[dt.datetime], None]


def play_ticks(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    moments: list[dt.datetime],
    *,
    mail: EmailChannel,
    before: TickHook | None = None,
) -> None:
    """Run the real pipeline at each moment (``before`` updates CC&B's rows first, if given)."""
    for as_of in moments:
        if before is not None:
            before(as_of)
        pipeline.run_tick(source, store, workflow, as_of, channel=mail)


def dpdc_player(source: sa.Engine, workflow: WorkflowConfig, scenario: str, date: dt.date) -> TickHook:
    """A hook that makes the simulator show ``scenario`` on ``date`` as of each tick."""
    loaded = simulator.load_scenario(scenarios_dir() / f"{scenario}.yaml")

    def play(as_of: dt.datetime) -> None:
        simulator.play(source, loaded, workflow, date, as_of)

    return play


def learn_baselines(store: sa.Engine, workflow: WorkflowConfig, date: dt.date, now: dt.datetime) -> int:
    """Learn the workflow's baselines for ``date`` from the store's history, as the day's first
    tick does (pipeline.recompute_baselines); returns how many were learned.

    For after :func:`clone_days`: the template day's last tick already learned them for the judged
    day, from the one day the store then held, and a tick learns them only once a day.
    """
    with store.begin() as conn:
        learned = compute_baselines(workflow, repository.load_history(conn, workflow, date))
        return repository.replace_baselines(conn, workflow.workflow_id, learned, date, now)


# --------------------------------------------------------------------------- cloning days


def _shift_dates(text: str, days: int) -> str:
    """Every ISO date in ``text`` (alone or in a timestamp) moved by ``days``."""
    cache: dict[str, str] = {}

    def shift(match: re.Match[str]) -> str:
        value = match.group(0)
        if value not in cache:
            cache[value] = (dt.date.fromisoformat(value) + dt.timedelta(days=days)).isoformat()
        return cache[value]

    return re.sub(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)", shift, text)


_SHIFT = "make_interval(days => o.d)"


def _copy(table: str, columns: dict[str, str], where: str) -> str:
    """INSERT INTO table (columns) SELECT expressions FROM table t CROSS JOIN the offsets o(n, d)."""
    names = ", ".join(columns)
    values = ", ".join(expr for expr in columns.values())
    return (
        f"INSERT INTO {table} ({names}) SELECT {values} FROM {table} t "
        f"CROSS JOIN unnest(CAST(:offsets AS int[])) WITH ORDINALITY AS o(d, n) WHERE {where}"
    )


def _same(*names: str) -> dict[str, str]:
    return {n: f"t.{n}" for n in names}


def _moved(*names: str) -> dict[str, str]:
    return {n: f"t.{n} + {_SHIFT}" for n in names}


def snapshot_horizon(store: sa.Engine, judged: dt.date) -> dt.date:
    """The oldest business date whose snapshots the store keeps once ``judged`` is being judged.

    Snapshots follow the store's ``snapshot_retention_days`` (housekeeping purges them as it does).
    """
    with store.connect() as conn:
        days = repository.setting(conn, SNAPSHOT_RETENTION_DAYS)
    return judged - dt.timedelta(days=days)


def clone_days(
    store: sa.Engine, workflow_id: str, template: dt.date, dates: list[dt.date], snapshots_from: dt.date
) -> None:
    """Copy the store rows of ``template`` (one workflow) to each of ``dates``, shifted.

    Snapshots are copied only to the dates from ``snapshots_from`` on (:func:`snapshot_horizon`):
    the store keeps no older ones, so neither does the copy.
    """
    if not dates:
        return
    offsets = [(date - template).days for date in dates]
    snapshot_offsets = [(date - template).days for date in dates if date >= snapshots_from]
    day = "t.workflow_id = :wf AND t.business_date = :template"
    params: dict[str, Any] = {"wf": workflow_id, "template": template, "offsets": offsets}
    new_id = "t.id + o.n * :stride"
    run_key = (
        "CASE WHEN t.run_key ~ '^[^:]+:[0-9]+:[0-9]+$' THEN split_part(t.run_key, ':', 1) || ':' || "
        f"(split_part(t.run_key, ':', 2)::bigint + {RUNS_PER_DAY} * o.d) || ':' || split_part(t.run_key, ':', 3) "
        "ELSE t.run_key END"
    )
    with store.begin() as conn:
        stride = int(conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM batch_monitoring_alerts")).scalar_one())
        params["stride"] = stride
        conn.execute(
            sa.text(
                _copy(
                    "batch_execution_logs",
                    {
                        **_same("workflow_id", "step_id", "batch_cd", "rerun_nbr", "status", "status_code"),
                        "batch_nbr": f"t.batch_nbr + {RUNS_PER_DAY} * o.d",
                        "business_date": "t.business_date + o.d",
                        **_moved("start_time", "end_time", "progress_changed_at", "observed_at"),
                        **_same("duration_s", "records", "errors", "rps", "threads_total", "threads_done"),
                        **_same("error_text", "progress_records", "progress_threads_done"),
                        **_moved("created_at", "updated_at"),
                    },
                    day,
                )
            ),
            params,
        )
        alert_columns = {
            "id": new_id,
            **_same("workflow_id", "step_id", "batch_cd", "kind", "severity", "state", "title", "expected"),
            **_same("actual", "action", "error_text", "details", "seen_count", "acknowledged_by", "ack_comment"),
            **_same("resolved_by", "resolution", "open_count", "email_queued", "condition_holds"),
            "business_date": "t.business_date + o.d",
            "run_key": run_key,
            **_moved("since", "first_seen_at", "last_seen_at", "acknowledged_at", "resolved_at"),
            **_moved("created_at", "updated_at"),
        }
        conn.execute(sa.text(_copy("batch_monitoring_alerts", alert_columns, day)), params)
        of_template = (
            "t.alert_id IN (SELECT id FROM batch_monitoring_alerts a "
            "WHERE a.workflow_id = :wf AND a.business_date = :template)"
        )
        conn.execute(
            sa.text(
                _copy(
                    "batch_alert_events",
                    {
                        "alert_id": "t.alert_id + o.n * :stride",
                        **_same("event", "actor", "comment", "details"),
                        **_moved("at", "as_of"),
                    },
                    of_template,
                )
            ),
            params,
        )
        conn.execute(
            sa.text(
                _copy(
                    "batch_email_outbox",
                    {
                        "dedupe_key": "regexp_replace(t.dedupe_key, '^alert:[0-9]+:', "
                        "'alert:' || (t.alert_id + o.n * :stride) || ':')",
                        "alert_id": "t.alert_id + o.n * :stride",
                        **_same("kind", "recipients", "subject", "body_text", "body_html", "claimed_by"),
                        **_same("attempts", "last_error"),
                        **_moved("created_at", "claimed_at", "sent_at"),
                    },
                    of_template,
                )
            ),
            params,
        )
        conn.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('batch_monitoring_alerts', 'id'), "
                "(SELECT max(id) FROM batch_monitoring_alerts))"
            )
        )
        conn.execute(
            sa.text(
                _copy(
                    "batch_performance_summary",
                    {
                        **_same("workflow_id", "step_id", "batch_cd", "runs", "failures", "success_rate"),
                        **_same("avg_duration_s", "max_duration_s", "total_records", "total_errors", "avg_rps"),
                        "business_date": "t.business_date + o.d",
                        **_moved("first_start", "last_end", "computed_at"),
                    },
                    day,
                )
            ),
            params,
        )
        snapshots = {**params, "offsets": snapshot_offsets}
        snapshots["stride"] = int(
            conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM batch_source_snapshots")).scalar_one()
        )
        conn.execute(
            sa.text(
                _copy(
                    "batch_source_snapshots",
                    {
                        "id": new_id,
                        **_same("workflow_id", "payload"),
                        "business_date": "t.business_date + o.d",
                        **_moved("as_of", "created_at"),
                    },
                    day,
                )
            ),
            snapshots,
        )
        of_template_snapshots = (
            "t.snapshot_id IN (SELECT id FROM batch_source_snapshots s "
            "WHERE s.workflow_id = :wf AND s.business_date = :template)"
        )
        conn.execute(
            sa.text(
                _copy(
                    "batch_tick_evaluations",
                    {"snapshot_id": "t.snapshot_id + o.n * :stride", **_same("evaluation")},
                    of_template_snapshots,
                )
            ),
            snapshots,
        )
        conn.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('batch_source_snapshots', 'id'), "
                "(SELECT max(id) FROM batch_source_snapshots))"
            )
        )
        t = evaluations
        row = (
            conn.execute(sa.select(t).where(t.c.workflow_id == workflow_id, t.c.business_date == template))
            .mappings()
            .one()
        )
        text = packing.unpack(Evaluation, row["payload"]).model_dump_json()
        for date, offset in zip(dates, offsets, strict=True):
            delta = dt.timedelta(days=offset)
            conn.execute(
                sa.insert(t).values(
                    workflow_id=workflow_id,
                    business_date=date,
                    as_of=row["as_of"] + delta,
                    chain_status=row["chain_status"],
                    **repository.evaluation_values(Evaluation.model_validate_json(_shift_dates(text, offset))),
                    alerts_synced_as_of=row["alerts_synced_as_of"] + delta if row["alerts_synced_as_of"] else None,
                    updated_at=row["updated_at"] + delta,
                )
            )
    with store.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("VACUUM ANALYZE"))


def store_bytes(store: sa.Engine) -> dict[str, int]:
    """Total bytes (heap, TOAST and indexes) of each of the store's tables."""
    from batch_monitor.store.schema import metadata

    with store.connect() as conn:
        return {
            name: int(
                conn.execute(sa.text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": name}).scalar_one()
            )
            for name in metadata.tables
        }
