"""Silences and maintenance windows through the real pipeline, whole days at 15-minute ticks.

While a silence covers a failure it is recorded and shown, but nothing is mailed; if it still
holds when the silence ends, the first tick after the end mails it, once; if it recovered
meanwhile nothing is sent at all. A maintenance window from the YAML does the same. Escalation
after ``escalate_after`` unacknowledged goes to ``escalate_to`` as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from tests.e2e.test_scenario_days import DAY, WORKFLOW, ticks
from tests.support.connections import pg_connection_json
from tests.support.mail import MailServer
from tests.support.workflows import scenario_path

from batch_monitor import pipeline, simulator
from batch_monitor.api import queries, views
from batch_monitor.config import MaintenanceWindow, WorkflowConfig
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import schema
from batch_monitor.store import silences as store_silences
from batch_monitor.store.migrate import migrate

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
DHAKA = ZoneInfo("Asia/Dhaka")
QUIET = WORKFLOW.model_copy(update={"remind_every": dt.timedelta(0)})  # no reminders: only what a silence does


def local(clock: str, day: dt.date = DAY) -> dt.datetime:
    """'16:00' on the business day, Dhaka time, in UTC."""
    hour, minute = map(int, clock.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=DHAKA).astimezone(dt.UTC)


def play(
    store: sa.Engine,
    workflow: WorkflowConfig,
    scenario: Path,
    tmp_path: Path,
    silence: dict[str, Any],
    before: Callable[[dt.datetime], None] | None = None,
) -> None:
    """Play the scenario's day tick by tick, with ``silence`` (if any) stored before the day starts
    and ``before`` called before each tick."""
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    played = simulator.load_scenario(scenario)
    day = ticks(workflow, DAY)
    pipeline.prepare_store(store, workflow, day[0])
    if silence:
        with store.begin() as conn:
            store_silences.create(
                conn,
                workflow_id=workflow.workflow_id,
                kinds=None,
                alert_id=None,
                user="op1",
                comment="planned rerun",
                now=day[0],
                **silence,
            )
    channel = SmtpChannel()
    for as_of in day:
        if before is not None:
            before(as_of)
        simulator.play(source, played, workflow, DAY, as_of)
        pipeline.run_tick(source, store, workflow, as_of, channel=channel)
    source.dispose()


def outbox(store: sa.Engine) -> list[tuple[dt.datetime, str, str, list[str]]]:
    """Every queued mail: (the tick it was queued in, dedupe key, subject, recipients), in order."""
    t = schema.email_outbox
    with store.connect() as conn:
        rows = conn.execute(sa.select(t.c.created_at, t.c.dedupe_key, t.c.subject, t.c.recipients).order_by(t.c.id))
        return [(r.created_at.astimezone(dt.UTC), r.dedupe_key, r.subject, r.recipients) for r in rows]


def events_of(store: sa.Engine, kind: str) -> list[tuple[str, dict[str, Any]]]:
    e, a = schema.alert_events, schema.alerts
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(e.c.event, e.c.details).join(a, a.c.id == e.c.alert_id).where(a.c.kind == kind).order_by(e.c.id)
        )
        return [(r.event, r.details) for r in rows]


def test_a_failure_under_a_silence_is_mailed_once_when_the_silence_ends_if_it_still_holds(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    # C1-PPBTR fails at 14:30 and is never rerun; op1 silenced the step from 14:00 to 16:00
    window = {"step_id": "C1-PPBTR", "starts_at": local("14:00"), "ends_at": local("16:00")}
    play(store, QUIET, DATA / "unfinished.yaml", tmp_path, window)

    [(queued_at, key, subject, _to)] = outbox(store)
    assert queued_at == local("16:00")  # the first tick after the silence, not 14:30
    assert key.endswith(":opened:1") and subject.startswith("[CRITICAL] C1-PPBTR failed")
    assert [str(m.message["Subject"]) for m in mail_server.received] == [subject]
    events = events_of(store, "FAILED")
    opened = next(details for name, details in events if name == "opened")
    assert opened["email"]["queued"] is False
    assert opened["email"]["reason"] == "silenced until 16:00 by op1: planned rerun"
    [released] = [details for name, details in events if name == "released"]
    assert released["email"]["queued"] is True and released["email"]["dedupe_key"] == key


def test_a_failure_that_recovers_under_its_silence_sends_nothing_not_even_a_recovery(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    # fails at 14:30, the rerun completes at 16:30, all inside op1's silence of the whole workflow
    window = {"step_id": None, "starts_at": local("14:00"), "ends_at": local("18:00")}
    play(store, QUIET, scenario_path("failure"), tmp_path, window)

    assert outbox(store) == []
    assert mail_server.received == []
    with store.connect() as conn:
        [failed] = queries.day_alerts(conn, WORKFLOW.workflow_id, DAY)
    assert (failed["kind"], failed["state"], failed["held_mail"]) == ("FAILED", "resolved", None)


def test_a_silence_that_ends_before_the_failure_changes_nothing(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    window = {"step_id": "C1-PPBTR", "starts_at": local("10:00"), "ends_at": local("12:00")}
    play(store, QUIET, DATA / "unfinished.yaml", tmp_path, window)

    [(queued_at, key, _subject, _to)] = outbox(store)
    assert queued_at == local("14:30") and key.endswith(":opened:1")


def test_a_maintenance_window_in_the_yaml_holds_the_mail_like_a_silence_and_the_timeline_shows_it(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    # every Tuesday (2026-11-24 is one) from 14:00 for 2 hours, for C1-PPBTR only
    window = MaintenanceWindow.model_validate(
        {"cron": "0 14 * * TUE", "duration": "2h", "steps": ["C1-PPBTR"], "comment": "DB patching"}
    )
    workflow = QUIET.model_copy(update={"maintenance": [window]})
    play(store, workflow, DATA / "unfinished.yaml", tmp_path, {})

    [(queued_at, key, _subject, _to)] = outbox(store)
    assert queued_at == local("16:00") and key.endswith(":opened:1")
    opened = next(details for name, details in events_of(store, "FAILED") if name == "opened")
    assert opened["email"]["reason"] == "silenced until 16:00 by a maintenance window: DB patching"
    assert opened["email"]["silence"]["source"] == "maintenance"
    with store.connect() as conn:
        [meta] = [m for m in queries.workflows(conn) if m.workflow_id == WORKFLOW.workflow_id]
        timeline = views.timeline(meta, DAY, None, [])
    assert [(m.starts_at, m.ends_at, m.steps) for m in timeline.maintenance] == [
        (local("14:00"), local("16:00"), ["C1-PPBTR"])
    ]


def test_an_unacknowledged_failure_escalates_after_escalate_after_to_escalate_to_too(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    boss = "duty-manager@example.com"
    workflow = QUIET.model_copy(update={"escalate_after": dt.timedelta(hours=1), "escalate_to": [boss]})
    play(store, workflow, DATA / "unfinished.yaml", tmp_path, {})

    (problem_at, problem_key, _s, problem_to), (escalated_at, key, subject, to) = outbox(store)
    assert problem_at == local("14:30") and problem_key.endswith(":opened:1") and boss not in problem_to
    assert escalated_at == local("15:30")  # one hour unacknowledged
    assert key.endswith(":escalation:1") and subject.startswith("[ESCALATED]")
    assert boss in to and set(problem_to) <= set(to)


def test_a_silence_stops_the_escalation_while_it_lasts(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    # the failure is mailed at 14:30; op1 silences it from 15:00 to 17:00: no escalation before 17:00
    boss = "duty-manager@example.com"
    workflow = QUIET.model_copy(update={"escalate_after": dt.timedelta(hours=1), "escalate_to": [boss]})
    window = {"step_id": "C1-PPBTR", "starts_at": local("15:00"), "ends_at": local("17:00")}
    play(store, workflow, DATA / "unfinished.yaml", tmp_path, window)

    (problem_at, _k, _s, _to), (escalated_at, key, _subject, to) = outbox(store)
    assert problem_at == local("14:30")
    assert escalated_at == local("17:00") and key.endswith(":escalation:1") and boss in to


def test_a_mailed_failure_that_recovers_under_a_silence_gets_no_recovery_mail(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    # mailed at 14:30; op1 silences the step 15:00-17:00; the rerun completes at 16:30
    window = {"step_id": "C1-PPBTR", "starts_at": local("15:00"), "ends_at": local("17:00")}
    play(store, QUIET, scenario_path("failure"), tmp_path, window)

    [(queued_at, key, _subject, _to)] = outbox(store)
    assert queued_at == local("14:30") and key.endswith(":opened:1")
    resolved = next(details for name, details in events_of(store, "FAILED") if name == "resolved")
    assert resolved["email"]["reason"] == "silenced until 17:00 by op1: planned rerun"


def test_a_snoozed_alert_is_not_reminded_until_the_snooze_ends(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    # mailed at 14:30, reminded every 2h; op1 snoozes it at 15:00 until 19:00
    def snooze(as_of: dt.datetime) -> None:
        if as_of != local("15:00"):
            return
        with store.begin() as conn:
            alert_id = conn.execute(sa.select(schema.alerts.c.id).where(schema.alerts.c.kind == "FAILED")).scalar_one()
            store_silences.create(
                conn,
                workflow_id=WORKFLOW.workflow_id,
                step_id="C1-PPBTR",
                kinds=["FAILED"],
                alert_id=alert_id,
                starts_at=as_of,
                ends_at=local("19:00"),
                comment="DBA on it",
                user="op1",
                now=as_of,
            )

    play(store, WORKFLOW, DATA / "unfinished.yaml", tmp_path, {}, before=snooze)

    moments = [(queued_at, key.split(":", 2)[2]) for queued_at, key, _s, _to in outbox(store)]
    assert moments[:3] == [
        (local("14:30"), "opened:1"),
        (local("19:00"), "reminder:1:1"),
        (local("21:00"), "reminder:1:2"),
    ]


@pytest.mark.e2e
def test_the_dag_holds_a_silenced_failures_mail_until_the_silence_ends(
    airflow_db: Path, fresh_pg_url: str, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real DAG (dag.test) through the afternoon: C1-PPBTR fails at 14:30, silenced 14:00-16:00
    ccb = tmp_path / "ccb.sqlite"
    source = sa.create_engine(f"sqlite:///{ccb}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(DATA / "unfinished.yaml")
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", f'{{"conn_type": "sqlite", "host": "{ccb}"}}')
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(fresh_pg_url))
    store = sa.create_engine(fresh_pg_url)
    migrate(store)
    with store.begin() as conn:
        store_silences.create(
            conn,
            workflow_id=WORKFLOW.workflow_id,
            step_id="C1-PPBTR",
            kinds=None,
            alert_id=None,
            starts_at=local("14:00"),
            ends_at=local("16:00"),
            comment="planned rerun",
            user="op1",
            now=local("13:00"),
        )
    dag = DagBag(str(ROOT / "dags")).dags[WORKFLOW.dag_id]
    afternoon = [t for t in ticks(WORKFLOW, DAY) if local("14:15") <= t <= local("16:15")]
    for as_of in afternoon:
        simulator.play(source, scenario, WORKFLOW, DAY, as_of)
        assert dag.test(logical_date=as_of).state == "success", as_of

    [(_queued, key, subject, _to)] = outbox(store)  # queued at the wall clock's time, as the DAG does
    assert key.endswith(":opened:1")
    assert [str(m.message["Subject"]) for m in mail_server.received] == [subject]
    e = schema.alert_events
    with store.connect() as conn:
        released = conn.execute(sa.select(e.c.as_of).where(e.c.event == "released")).scalar_one()
    assert released == local("16:00")  # the first tick after the silence
    store.dispose()
    source.dispose()
