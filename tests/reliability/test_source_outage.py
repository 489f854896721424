"""CC&B cannot be read: refused, timing out, refusing the login. The tick fails clearly, one
SOURCE_UNAVAILABLE alert opens and is mailed once, and the first tick that reads CC&B again
judges every tick it missed, raising what happened meanwhile exactly once."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database
from tests.support.mail import MailServer

from batch_monitor import airflow_io, pipeline
from batch_monitor.exceptions import SourceUnavailableError
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate

from .conftest import Case
from .support import (
    DPDC,
    PAGE,
    SOURCE_PASSWORD,
    Ccb,
    alert_rows,
    blackhole,
    count,
    events_of,
    free_port,
    local,
    outbox_rows,
    pg_connection_json,
    pg_url,
    play_ticks,
    prepare,
    quarter_ticks,
    state,
)

AREA = "Faults: CC&B (the source) cannot be read"
ONCALL = list(DPDC.on_call)
CONNECT_TIMEOUT = 2  # seconds, the connection's extra "connect_timeout"


@pytest.fixture
def reference_store(pg_admin_url: str) -> Iterator[sa.Engine]:
    """A second migrated store, for the same day played without faults."""
    url = create_database(pg_admin_url)
    engine = sa.create_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
    drop_database(pg_admin_url, url)


@pytest.fixture
def fresh_airflow_engines() -> Iterator[None]:
    """airflow_io caches one engine per process: start and end each test without one."""
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()
    yield
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()


def record_outage(store: sa.Engine, as_of: dt.datetime, error: str) -> None:
    """What the sensor's and extract's failure callback do when CC&B cannot be read."""
    now = as_of + dt.timedelta(minutes=10)
    pipeline.record_source_unavailable(store, DPDC, as_of, error, recipients=ONCALL, page_url_base=PAGE, now=now)
    pipeline.notify(store, SmtpChannel(), now, worker="callback")


FAULTS = {
    "connection refused": ("nothing listening on the port", "Connection refused"),
    "connect timeout": ("a listener that accepts and never answers", "timeout expired"),
    "login refused": ("a login the server does not know (wrong credentials)", 'role "ccb_reader" does not exist'),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_unreadable_source_fails_the_tick_clearly_and_opens_one_alert_mailed_once(
    fault: str,
    store: sa.Engine,
    mail_server: MailServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_airflow_engines: None,
    reliability: Case,
) -> None:
    how, signature = FAULTS[fault]
    reliability.tried(
        f"Airflow connection ccb_oracle → PostgreSQL on 127.0.0.1 with {how} (password in the connection, "
        f"connect_timeout {CONNECT_TIMEOUT} s); two ticks (14:00, 14:15) fail, then CC&B answers again at 14:30"
    )
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    with blackhole() as hanging:
        port = {"connection refused": free_port(), "connect timeout": hanging, "login refused": 5432}[fault]
        monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", pg_connection_json(pg_url(port), connect_timeout=CONNECT_TIMEOUT))
        source = airflow_io.source_engine()
        errors, waits = [], []
        for as_of in quarter_ticks("14:00", "14:15"):
            ccb.play(as_of)  # CC&B goes on running batches while the monitor cannot see it
            began = time.monotonic()
            with caplog.at_level(logging.INFO), pytest.raises(SourceUnavailableError) as caught:
                pipeline.extract(source, store, DPDC, as_of)
            waits.append(time.monotonic() - began)
            errors.append(str(caught.value))
            record_outage(store, as_of, str(caught.value))
    assert all(signature in e for e in errors), errors
    assert max(waits) < CONNECT_TIMEOUT + 5
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert (outage["state"], outage["severity"], outage["step_id"], outage["seen_count"]) == (
        "open",
        "CRITICAL",
        "_chain",
        2,
    )
    assert len(mail_server.received) == 1
    reliability.observed(
        f"extract raised SourceUnavailableError after {max(waits):.1f} s at most: “{errors[0]}”; "
        f"1 SOURCE_UNAVAILABLE alert (CRITICAL, seen {outage['seen_count']}×), 1 mail "
        f"“{mail_server.received[0].message['Subject']}”"
    )

    play_ticks(ccb, store, quarter_ticks("14:30", "14:30"), channel=SmtpChannel())
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert (outage["state"], outage["resolved_by"], local(outage["resolved_at"])) == ("resolved", "monitor", "14:30")
    assert events_of(store, outage["id"]) == ["opened", "emailed", "resolved", "emailed"]
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(subjects) == 3 and "C1-PPBTR failed" in subjects[1] and subjects[2].startswith("[RESOLVED] Workflow")
    with store.connect() as conn:
        judged = conn.execute(sa.select(schema.source_snapshots.c.as_of).order_by(schema.source_snapshots.c.as_of))
        judged_clocks = [local(m) for m in judged.scalars()]
    assert judged_clocks == ["14:00", "14:15", "14:30"]
    [failed] = alert_rows(store, kind="FAILED")  # C1-PPBTR failed at 14:30 (the rerun comes at 15:00)
    assert failed["state"] == "open"
    everything = json.dumps([outage, failed, outbox_rows(store)], default=str) + caplog.text
    everything += "".join(m.message.as_string() for m in mail_server.received)
    assert SOURCE_PASSWORD not in everything
    reliability.observed(
        f"CC&B back at 14:30: the tick judged {', '.join(judged_clocks)} (missed ticks first), the alert resolved "
        f"with a recovery mail, FAILED C1-PPBTR raised and mailed once ({len(subjects)} mails in all); "
        "the connection's password appears in no alert, mail, outbox row or log line"
    )
    ccb.dispose()


def test_an_afternoon_without_the_source_is_caught_up_to_the_same_alerts_and_mails_as_a_clean_day(
    store: sa.Engine, reference_store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "failure scenario (C1-PPBTR fails 14:30, its rerun completes 16:30) played 11:45–18:00 every 15 min; "
        "CC&B refuses connections from 14:00 to 16:45 (12 ticks), so the failure and its recovery both happen "
        "while the monitor is blind; compared with the same day played without the outage"
    )
    clean = Ccb(tmp_path, "failure")
    prepare(reference_store)
    play_ticks(clean, reference_store, quarter_ticks("11:45", "18:00"))
    expected = state(reference_store)

    ccb = clean  # the same CC&B, played again from 11:45
    prepare(store)
    refused = sa.create_engine(pg_url(free_port()))
    channel = SmtpChannel()
    outage = quarter_ticks("14:00", "16:45")
    for as_of in quarter_ticks("11:45", "18:00"):
        ccb.play(as_of)
        if as_of in outage:
            with pytest.raises(SourceUnavailableError) as caught:
                pipeline.run_tick(refused, store, DPDC, as_of, channel=channel, page_url_base=PAGE)
            record_outage(store, as_of, str(caught.value))
        else:
            pipeline.run_tick(ccb.engine, store, DPDC, as_of, channel=channel, page_url_base=PAGE)
    got = state(store)
    ours = [a for a in got["alerts"] if a[2] != "SOURCE_UNAVAILABLE"]
    assert ours == expected["alerts"]
    assert got["runs"] == expected["runs"]
    assert [m for m in got["mails"] if "cannot be read" not in m[2]] == expected["mails"]
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    reminders = [s for s in subjects if s.startswith("[REMINDER]")]
    assert len(subjects) == len(set(subjects)) and len(subjects) - len(reminders) == 4, subjects
    # the outage, unacknowledged for 2 h (remind_every), is reminded once
    assert len(reminders) == 1 and "cannot be read" in reminders[0], reminders
    [source_alert] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert (source_alert["seen_count"], local(source_alert["first_seen_at"]), local(source_alert["resolved_at"])) == (
        12,
        "14:00",
        "17:00",
    )
    reliability.observed(
        f"alerts and runs identical to the clean day ({len(ours)} alert(s): "
        + ", ".join(f"{a[2]} {a[1]} {local(a[7])}→{local(a[8]) if a[8] else 'open'}" for a in ours)
        + f"); SOURCE_UNAVAILABLE open 14:00→17:00 (seen 12×); {len(subjects)} mails, each once: "
        + "; ".join(subjects)
    )
    before = (state(store, with_seen=True), count(store, schema.email_outbox))
    pipeline.run_tick(ccb.engine, store, DPDC, quarter_ticks("18:00", "18:00")[0], channel=channel, page_url_base=PAGE)
    assert (state(store, with_seen=True), count(store, schema.email_outbox)) == before
    reliability.observed("re-running the last tick afterwards changed nothing and sent nothing")
    for engine in (clean, ccb):
        engine.dispose()
    refused.dispose()


def test_a_late_older_tick_does_not_clear_an_outage_and_a_second_outage_reopens_and_mails_again(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "CC&B unreadable at 14:00 and 14:15; a backfill of 13:45 that reads CC&B runs after that; then CC&B "
        "answers at 14:30; later the same day it is unreadable again at 16:00 and back at 16:15"
    )
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    channel = SmtpChannel()
    play_ticks(ccb, store, quarter_ticks("13:30", "13:30"), channel=channel)
    for as_of in quarter_ticks("14:00", "14:15"):
        record_outage(store, as_of, "CC&B cannot be read: OperationalError: Connection refused")
    play_ticks(ccb, store, quarter_ticks("13:45", "13:45"), channel=channel)  # older than the outage
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert outage["state"] == "open"
    play_ticks(ccb, store, quarter_ticks("14:30", "14:30"), channel=channel)
    record_outage(store, quarter_ticks("16:00", "16:00")[0], "CC&B cannot be read: OperationalError: timeout expired")
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert (outage["state"], outage["open_count"]) == ("open", 2)
    play_ticks(ccb, store, quarter_ticks("16:15", "16:15"), channel=channel)
    [outage] = alert_rows(store, kind="SOURCE_UNAVAILABLE")
    assert outage["state"] == "resolved"
    subjects = [
        str(m.message["Subject"]) for m in mail_server.received if "cannot be read" in str(m.message["Subject"])
    ]
    keys = [row["dedupe_key"] for row in outbox_rows(store)]
    assert len(subjects) == 4 and len(keys) == len(set(keys))
    reliability.observed(
        "the 13:45 backfill left the outage open (it was last seen 14:15, after it); 14:30 resolved it; the "
        "16:00 outage reopened the same alert (opening 2) and 16:15 resolved it; 4 outage mails in all "
        "(opened, recovered, reopened, recovered), none twice"
    )
    ccb.dispose()
