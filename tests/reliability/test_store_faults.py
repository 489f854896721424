"""The store (PostgreSQL) goes away or fails in the middle of a tick: one transaction per tick means
nothing is half written, the task fails with the database's own message, and after recovery the
day holds every alert and mail exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database
from tests.support.mail import MailServer

from batch_monitor import pipeline
from batch_monitor.dag_factory import build_dag
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.notify.failure import monitor_failure_callback
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate

from .conftest import Case
from .support import DPDC, PAGE, Ccb, count, local, prepare, quarter_ticks, state

AREA = "Faults: the store (PostgreSQL) is down or fails mid-persist"
WINDOW = ("11:45", "17:00")


@pytest.fixture
def reference(pg_admin_url: str, tmp_path: Path) -> Iterator[dict[str, object]]:
    """The failure scenario's afternoon played without faults: what the store should end up holding."""
    url = create_database(pg_admin_url)
    engine = sa.create_engine(url)
    migrate(engine)
    ccb = Ccb(tmp_path, "failure")
    prepare(engine)
    for as_of in quarter_ticks(*WINDOW):
        ccb.play(as_of)
        pipeline.run_tick(ccb.engine, engine, DPDC, as_of, page_url_base=PAGE)
    yield state(engine)
    ccb.dispose()
    engine.dispose()
    drop_database(pg_admin_url, url)


@contextmanager
def database_down(admin_url: str, url: str) -> Iterator[None]:
    """The store refuses every connection (and drops the open ones) until the block ends."""
    name = sa.make_url(url).database
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_a_store_down_for_an_hour_fails_those_ticks_clearly_and_loses_and_doubles_nothing(
    pg_admin_url: str,
    fresh_pg_url: str,
    mail_server: MailServer,
    tmp_path: Path,
    reference: dict[str, object],
    reliability: Case,
) -> None:
    reliability.tried(
        "failure scenario 11:45–17:00 every 15 min; the store database refuses connections (and its open "
        "ones are killed) from the 14:15 tick to the 15:00 tick, while C1-PPBTR fails at 14:30; the failure "
        "callback runs for each failed task (as Airflow calls it); compared with the same afternoon without the outage"
    )
    store = sa.create_engine(fresh_pg_url, pool_pre_ping=True)  # as airflow_io builds it
    dag = build_dag(DPDC)
    # what Airflow hands the callback of a failed persist task: its DAG, the task, the DAG's params
    callback_context = {"dag": dag, "ti": dag.get_task("persist"), "params": dict(dag.params)}
    migrate(store)
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    channel = SmtpChannel()
    errors = []
    down = quarter_ticks("14:15", "15:00")
    for as_of in quarter_ticks(*WINDOW):
        ccb.play(as_of)
        if as_of == down[0]:
            with database_down(pg_admin_url, fresh_pg_url):
                for moment in down:
                    ccb.play(moment)
                    with pytest.raises(sa.exc.OperationalError) as caught:
                        pipeline.run_tick(ccb.engine, store, DPDC, moment, channel=channel, page_url_base=PAGE)
                    errors.append(str(caught.value.orig).strip().splitlines()[-1])
                    monitor_failure_callback({**callback_context, "exception": caught.value})
        if as_of in down:
            continue
        pipeline.run_tick(ccb.engine, store, DPDC, as_of, channel=channel, page_url_base=PAGE)
    assert len(errors) == 4 and all("not currently accepting connections" in e for e in errors)
    monitor_down = [m for m in mail_server.received if "[MONITOR DOWN]" in str(m.message["Subject"])]
    assert len(monitor_down) == 4
    got, expected = state(store), reference
    assert got["runs"] == expected["runs"]  # type: ignore[index]
    [failed] = [a for a in got["alerts"] if a[2] == "FAILED"]
    [want] = [a for a in expected["alerts"] if a[2] == "FAILED"]  # type: ignore[attr-defined]
    assert failed[:7] == want[:7] and failed[8] == want[8]  # same alert, state, resolution, openings, clearing
    alert_mails = [str(m.message["Subject"]) for m in mail_server.received if m not in monitor_down]
    assert alert_mails == [m[2] for m in sorted(expected["mails"], key=lambda m: m[1])]  # type: ignore[attr-defined]
    reliability.observed(
        f"each of the 4 ticks failed with the database's message (“{errors[0]}”); the failure callback mailed "
        f"on-call straight over SMTP each time ({len(monitor_down)} × “{monitor_down[0].message['Subject']}”)"
    )
    reliability.observed(
        f"after recovery: runs identical to the clean afternoon; FAILED C1-PPBTR once (opened at the first tick "
        f"after the outage, {local(failed[7])} instead of {local(want[7])}, resolved {local(failed[8])} as in the "
        f"clean run); alert mails identical, each once: {'; '.join(alert_mails)}"
    )
    ccb.dispose()
    store.dispose()


FAIL_ALWAYS = """
CREATE FUNCTION bm_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'simulated store failure in the middle of persist (disk full)';
END $$;
CREATE TRIGGER bm_fail BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION bm_fail();
"""


@pytest.mark.parametrize(
    "table",
    ["batch_monitoring_alerts", "batch_alert_events", "batch_email_outbox", "batch_evaluations"],
)
def test_a_write_failing_mid_persist_leaves_the_tick_unwritten_and_a_retry_writes_it_once(
    table: str, store: sa.Engine, tmp_path: Path, reference: dict[str, object], reliability: Case
) -> None:
    reliability.tried(
        f"the 14:30 tick (FAILED C1-PPBTR opens, its mail is queued) persists while every write to {table} "
        "fails (a PostgreSQL trigger raising, after the runs were already upserted in the same transaction); "
        "then the trigger is dropped and persist runs again, as Airflow's retry does"
    )
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    ticks = quarter_ticks(*WINDOW)
    cut = ticks.index(quarter_ticks("14:30", "14:30")[0])
    for as_of in ticks[:cut]:
        ccb.play(as_of)
        pipeline.run_tick(ccb.engine, store, DPDC, as_of, page_url_base=PAGE)
    before = state(store, with_seen=True)
    as_of = ticks[cut]
    ccb.play(as_of)
    snapshots = pipeline.extract(ccb.engine, store, DPDC, as_of)
    pipeline.evaluate_snapshots(store, DPDC, snapshots)
    with store.begin() as conn:
        conn.execute(sa.text(FAIL_ALWAYS.format(table=table)))
    with pytest.raises(sa.exc.InternalError) as caught:
        pipeline.persist(store, DPDC, snapshots, recipients=DPDC.on_call, page_url_base=PAGE, now=as_of)
    half = state(store, with_seen=True)
    assert half == before
    with store.begin() as conn:
        conn.execute(sa.text(f"DROP TRIGGER bm_fail ON {table}; DROP FUNCTION bm_fail()"))
    pipeline.persist(store, DPDC, snapshots, recipients=DPDC.on_call, page_url_base=PAGE, now=as_of)
    pipeline.persist(store, DPDC, snapshots, recipients=DPDC.on_call, page_url_base=PAGE, now=as_of)  # twice
    for moment in ticks[cut + 1 :]:
        ccb.play(moment)
        pipeline.run_tick(ccb.engine, store, DPDC, moment, page_url_base=PAGE)
    assert state(store) == reference
    reliability.observed(
        f"persist raised “{str(caught.value.orig).strip().splitlines()[0]}”; the store was exactly as before the "
        f"tick (no run, alert, event, mail or evaluation of 14:30); the retry — run twice — wrote the tick once; "
        f"the afternoon ended identical to the clean run ({count(store, schema.alerts)} alert, "
        f"{count(store, schema.email_outbox)} mails)"
    )
    ccb.dispose()


def test_the_failure_mail_of_a_store_outage_masks_the_connection_uri(
    mail_server: MailServer, reliability: Case
) -> None:
    uri = "postgresql://monitor:St0re-pw@db.example:5432/batch_monitor"
    reliability.tried(f"a task fails with an error text holding the store URI {uri} and password=St0re-pw")
    try:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception(f"could not connect to {uri} (password=St0re-pw)"))
    except sa.exc.OperationalError as exc:
        monitor_failure_callback({"params": {"on_call": DPDC.on_call}, "exception": exc})
    [mail] = mail_server.received
    raw = mail.message.as_string()
    assert "St0re-pw" not in raw and "monitor:" not in raw
    text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    line = next(line for line in text.splitlines() if "could not connect" in line)
    reliability.observed(f"on-call got 1 mail; its error line reads “{line.strip()}”")
