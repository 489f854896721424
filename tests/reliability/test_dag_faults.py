"""Faults while the real DAG runs (Airflow's dag.test(): sensor, reschedules, retries, callbacks).

CC&B is the simulator's SQLite file (or a PostgreSQL port that refuses), the store a real
PostgreSQL database, mail a real aiosmtpd server. Both Airflow connections carry a password that
must never show in a mail, an alert or a log.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.sdk import DAG
from tests.support.mail import MailServer

from batch_monitor import airflow_io
from batch_monitor.dag_factory import build_dag
from batch_monitor.exceptions import SourceUnavailableError
from batch_monitor.store import schema

from .conftest import Case
from .support import (
    DPDC,
    SOURCE_PASSWORD,
    Ccb,
    alert_rows,
    count,
    free_port,
    local,
    pg_connection_json,
    pg_url,
    quarter_ticks,
)

pytestmark = pytest.mark.e2e

AREA = "Faults in the running DAG (Airflow dag.test)"
STORE_PASSWORD = "store-Secr3t-pw"
SOURCE_WAIT = dt.timedelta(seconds=6)
POKE = dt.timedelta(seconds=2)


@pytest.fixture
def dag_env(
    airflow_db: Path, fresh_pg_url: str, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[sa.Engine]:
    """The store and mail connections for the DAG (the store's with a password); the store engine."""
    url = sa.make_url(fresh_pg_url).set(password=STORE_PASSWORD).render_as_string(hide_password=False)
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(url))
    monkeypatch.setenv("AIRFLOW_VAR_BATCH_MONITOR_EMAIL_TO", "ccb-oncall@dpdc.example")
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()
    store = sa.create_engine(fresh_pg_url)
    yield store
    store.dispose()
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()


def source(monkeypatch: pytest.MonkeyPatch, connection: str) -> None:
    """Point the ccb_oracle connection somewhere else (a new engine is built for it)."""
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", connection)
    airflow_io.source_engine.cache_clear()


def task_instances(run: Any) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id).all()
        return {ti.task_id: (ti.state, ti.try_number, ti.id, ti.start_date, ti.end_date) for ti in tis}


def reschedules(ti_id: Any) -> tuple[int, dt.datetime | None]:
    """How often a sensor was rescheduled, and when it first poked."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskReschedule).filter(TaskReschedule.ti_id == ti_id).all()
        return len(rows), min((r.start_date for r in rows), default=None)


def short_wait_dag() -> DAG:
    return build_dag(DPDC, source_wait=SOURCE_WAIT, poke_interval=POKE)


def test_while_ccb_is_down_the_sensor_reschedules_then_fails_clearly_and_on_call_hears_once(
    dag_env: sa.Engine,
    mail_server: MailServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    reliability: Case,
) -> None:
    store = dag_env
    ccb = Ccb(tmp_path, "failure")
    dag = short_wait_dag()
    reliability.tried(
        f"DAG batch_monitor_dpdc_ami with source_wait {SOURCE_WAIT.seconds} s, poke every {POKE.seconds} s "
        "(production: 10 min, 1 min); ccb_oracle → a refused port on 127.0.0.1 for the 14:45 and 15:00 runs; "
        "CC&B answers again for the 16:45 run (failure scenario: C1-PPBTR fails 14:30, rerun completes 16:30)"
    )
    source(monkeypatch, pg_connection_json(pg_url(free_port())))
    failed_runs = []
    for as_of in quarter_ticks("14:45", "15:00"):
        ccb.play(as_of)
        began = time.monotonic()
        run = dag.test(logical_date=as_of)
        failed_runs.append((run, time.monotonic() - began))
    states = [run.state for run, _ in failed_runs]
    assert states == ["failed", "failed"]
    sensor = task_instances(failed_runs[0][0])["source_available"]
    pokes, first_poke = reschedules(sensor[2])
    assert sensor[0] == "failed" and pokes >= 2 and first_poke is not None
    waited = (sensor[4] - first_poke).total_seconds()
    assert waited <= (SOURCE_WAIT + POKE).total_seconds() + 2
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert "did not answer for" in outage["error_text"] and "Connection refused" in outage["error_text"]
    assert (outage["state"], outage["seen_count"]) == ("open", 2)
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(subjects) == 1 and "cannot be read" in subjects[0]
    reliability.observed(
        f"the sensor was rescheduled {pokes}× and gave up {waited:.0f} s after its first poke (each DAG run "
        f"failed within {max(s for _, s in failed_runs):.0f} s) with “{outage['error_text']}”; "
        "the failure callback opened 1 SOURCE_UNAVAILABLE "
        f"alert (seen 2×) and mailed on-call once: “{subjects[0]}”"
    )

    source(monkeypatch, ccb.connection_json())
    as_of = quarter_ticks("16:45", "16:45")[0]
    ccb.play(as_of)
    run = dag.test(logical_date=as_of)
    assert run.state == "success"
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    [failed] = alert_rows(store, kind="FAILED")
    assert outage["state"] == "resolved" and local(outage["resolved_at"]) == "16:45"
    assert (failed["state"], local(failed["first_seen_at"]), local(failed["resolved_at"])) == (
        "resolved",
        "14:45",
        "16:45",
    )
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    reminders = [s for s in subjects if s.startswith("[REMINDER]")]
    assert len(subjects) == len(set(subjects)) and len(subjects) - len(reminders) == 4, subjects
    # the outage, unacknowledged for 2 h (remind_every), is reminded once
    assert len(reminders) == 1 and "cannot be read" in reminders[0], reminders
    reliability.observed(
        "CC&B back: the 16:45 run succeeded, judged the missed 14:45 and 15:00 ticks, resolved SOURCE_UNAVAILABLE, "
        f"raised FAILED C1-PPBTR once (first seen {local(failed['first_seen_at'])}, cleared "
        f"{local(failed['resolved_at'])}); mails, each once: " + "; ".join(subjects)
    )

    out, err = capfd.readouterr()
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    home_logs = "".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())
    seen = out + err + home_logs + "".join(m.message.as_string() for m in mail_server.received)
    seen += repr(alert_rows(store))
    assert SOURCE_PASSWORD not in seen and STORE_PASSWORD not in seen
    reliability.observed(
        f"neither connection's password appears in {len(out + err + home_logs):,} characters of task output and "
        "logs, in the mails or in the alerts"
    )
    ccb.dispose()


FAIL_ONCE = """
CREATE SEQUENCE bm_fault_counter;
CREATE FUNCTION bm_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('bm_fault_counter') = 1 THEN
    RAISE EXCEPTION 'simulated store failure in the middle of persist (disk full)';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER bm_fail_once BEFORE INSERT OR UPDATE ON batch_evaluations
  FOR EACH ROW EXECUTE FUNCTION bm_fail_once();
"""


def test_a_store_failing_mid_persist_leaves_nothing_half_done_and_the_retry_completes_the_tick(
    dag_env: sa.Engine, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Case
) -> None:
    store = dag_env
    ccb = Ccb(tmp_path, "failure")
    source(monkeypatch, ccb.connection_json())
    dag = build_dag(DPDC)
    reliability.tried(
        "the 14:15 run succeeds; then a PostgreSQL trigger makes the first write to batch_evaluations fail "
        "(after the runs were upserted in the same transaction) during the 14:30 run, the tick that opens "
        "FAILED C1-PPBTR; Airflow retries persist after its 30 s retry delay"
    )
    as_of = quarter_ticks("14:15", "14:15")[0]
    ccb.play(as_of)
    assert dag.test(logical_date=as_of).state == "success"
    with store.begin() as conn:
        conn.execute(sa.text(FAIL_ONCE))
    runs_before = _runs(store)

    between: dict[str, Any] = {}

    def look_between_attempts() -> None:  # what the store holds after the failed attempt, before the retry
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.connect() as conn:
                fired = conn.execute(sa.text("SELECT is_called FROM bm_fault_counter")).scalar_one()
            if fired:
                time.sleep(3)  # the failed transaction has rolled back; the retry waits 30 s
                between.update(
                    runs=_runs(store), alerts=count(store, schema.alerts), mails=count(store, schema.email_outbox)
                )
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=look_between_attempts)
    watcher.start()
    as_of = quarter_ticks("14:30", "14:30")[0]
    ccb.play(as_of)
    run = dag.test(logical_date=as_of)
    watcher.join()
    persist = task_instances(run)["persist"]
    assert run.state == "success" and persist[1] == 2
    assert between == {"runs": runs_before, "alerts": 0, "mails": 0}
    [failed] = alert_rows(store, kind="FAILED")
    assert failed["open_count"] == 1 and failed["state"] == "open"
    assert count(store, schema.email_outbox) == 1 and len(mail_server.received) == 1
    with store.connect() as conn:
        duplicates = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.execution_logs)
            .group_by(
                schema.execution_logs.c.batch_cd, schema.execution_logs.c.batch_nbr, schema.execution_logs.c.rerun_nbr
            )
            .having(sa.func.count() > 1)
        ).all()
    assert duplicates == []
    reliability.observed(
        f"attempt 1 of persist failed; between the attempts the store held exactly what the 14:15 run left "
        f"({len(runs_before)} runs, no alert, no mail queued: one transaction per tick); attempt 2 succeeded "
        f"(persist try {persist[1]}, DAG run {run.state}); 1 FAILED alert, 1 mail, no run stored twice"
    )
    ccb.dispose()


def _runs(store: sa.Engine) -> list[tuple[Any, ...]]:
    t = schema.execution_logs
    with store.connect() as conn:
        return sorted(
            tuple(r)
            for r in conn.execute(sa.select(t.c.batch_cd, t.c.batch_nbr, t.c.rerun_nbr, t.c.status, t.c.observed_at))
        )


def test_with_ccb_and_the_store_both_down_on_call_still_gets_the_plain_failure_mail(
    dag_env: sa.Engine, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch, reliability: Case
) -> None:
    reliability.tried(
        "the sensor's failure callback runs (as Airflow calls it, with the DAG, the task and a "
        "SourceUnavailableError) while the store connection points at a refused port too"
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(pg_url(free_port(), password=STORE_PASSWORD))
    )
    airflow_io.store_engine.cache_clear()
    dag = short_wait_dag()
    sensor = dag.get_task("source_available")
    error = SourceUnavailableError(
        "CC&B (Airflow connection 'ccb_oracle') did not answer for 9m: OperationalError: Connection refused"
    )
    context = {"dag": dag, "ti": sensor, "params": dict(dag.params), "exception": error}
    assert sensor.on_failure_callback is not None
    callbacks = (
        sensor.on_failure_callback if isinstance(sensor.on_failure_callback, list) else [sensor.on_failure_callback]
    )
    for callback in callbacks:
        callback(context)
    [mail] = mail_server.received
    subject = str(mail.message["Subject"])
    assert subject == "[MONITOR DOWN] batch_monitor_dpdc_ami: source_available failed"
    assert "did not answer for 9m" in mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert STORE_PASSWORD not in mail.message.as_string()
    reliability.observed(f"the outage could not be stored, so the callback mailed on-call directly: “{subject}”")
