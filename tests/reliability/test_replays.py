"""Ticks replayed, run out of order, and run twice at once (a manual trigger beside the schedule):
the store ends with the same rows and alerts, and no mail goes out twice."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database
from tests.support.mail import MailServer

from batch_monitor import pipeline
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate

from .conftest import Case
from .support import DPDC, PAGE, Ccb, count, play_ticks, prepare, quarter_ticks, state

AREA = "Replays: re-run, out of order, two at once"
WINDOW = quarter_ticks("11:45", "18:00")  # the failure scenario's afternoon: FAILED opens 14:30, clears 16:30


@pytest.fixture(scope="module")
def reference(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The afternoon played once, in order, each tick once."""
    url = create_database(pg_admin_url)
    engine = sa.create_engine(url)
    migrate(engine)
    ccb = Ccb(tmp_path_factory.mktemp("reference"), "failure")
    prepare(engine)
    play_ticks(ccb, engine, WINDOW)
    yield state(engine, with_seen=True)
    ccb.dispose()
    engine.dispose()
    drop_database(pg_admin_url, url)


def without_mail_events(state: dict[str, Any]) -> dict[str, Any]:
    """The reference is played without a mail server: leave out the 'emailed' events."""
    return {**state, "events": Counter({k: n for k, n in state["events"].items() if k[2] != "emailed"})}


def mail_subjects(mail_server: MailServer) -> Counter[str]:
    return Counter(str(m.message["Subject"]) for m in mail_server.received)


def test_re_running_every_tick_of_the_afternoon_changes_nothing_and_mails_nothing(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reference: dict[str, Any], reliability: Case
) -> None:
    reliability.tried(
        f"the failure afternoon played ({len(WINDOW)} ticks 11:45–18:00, mails sent), then every tick run again "
        "in order — as clearing each DAG run would — against CC&B as it is at the end of the afternoon"
    )
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    channel = SmtpChannel()
    play_ticks(ccb, store, WINDOW, channel=channel)
    played, mails = state(store, with_seen=True), count(store, schema.email_outbox)
    assert without_mail_events(played) == without_mail_events(reference)
    for as_of in WINDOW:
        pipeline.run_tick(ccb.engine, store, DPDC, as_of, channel=channel, page_url_base=PAGE)
    assert state(store, with_seen=True) == played and count(store, schema.email_outbox) == mails
    assert set(mail_subjects(mail_server).values()) == {1}
    reliability.observed(
        f"alerts, seen counts, runs and outbox identical after the replay ({len(played['alerts'])} alert, "
        f"{len(played['runs'])} runs, {mails} mails); {len(mail_server.received)} mails received, each once"
    )
    ccb.dispose()


def test_ticks_run_backwards_and_a_backfill_of_unseen_earlier_moments_change_nothing(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reference: dict[str, Any], reliability: Case
) -> None:
    backfill = [t + dt.timedelta(minutes=7) for t in WINDOW[:-1]]
    reliability.tried(
        "after the afternoon: every tick run again from the last to the first, then a backfill of "
        f"{len(backfill)} moments never judged before (hh:07 and so on, earlier than the latest tick)"
    )
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    channel = SmtpChannel()
    play_ticks(ccb, store, WINDOW, channel=channel)
    played, mails = state(store, with_seen=True), count(store, schema.email_outbox)
    for as_of in [*reversed(WINDOW), *backfill]:
        result = pipeline.run_tick(ccb.engine, store, DPDC, as_of, channel=channel, page_url_base=PAGE)
        assert result.persisted["skipped_days"] or as_of == WINDOW[-1]
    assert state(store, with_seen=True) == played
    assert without_mail_events(played) == without_mail_events(reference)
    assert count(store, schema.email_outbox) == mails and set(mail_subjects(mail_server).values()) == {1}
    reliability.observed(
        f"every older tick was skipped by the replay guard (as-of not newer than the last synced); rows, alerts "
        f"and mails unchanged ({mails} mails, each received once)"
    )
    ccb.dispose()


def test_two_ticks_at_once_and_a_manual_trigger_beside_the_schedule_end_like_one_tick_each(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reference: dict[str, Any], reliability: Case
) -> None:
    reliability.tried(
        "each tick of the afternoon run by two threads at the same moment (two workers running one DAG run "
        "twice), and on the hour a third 'manual' tick as of hh:07 started beside them, each with its own "
        "notify sending mail"
    )
    ccb = Ccb(tmp_path, "failure")
    prepare(store)
    errors: list[BaseException] = []

    def tick(as_of: dt.datetime, start: threading.Barrier) -> None:
        start.wait()
        try:
            pipeline.run_tick(ccb.engine, store, DPDC, as_of, channel=SmtpChannel(), page_url_base=PAGE)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    manual = 0
    for as_of in WINDOW:
        ccb.play(as_of)
        moments = [as_of, as_of]
        if as_of.minute == 0:
            moments.append(as_of + dt.timedelta(minutes=7))
            manual += 1
        start = threading.Barrier(len(moments))
        threads = [threading.Thread(target=tick, args=(m, start)) for m in moments]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert errors == []
    got = state(store)
    expected = {k: v for k, v in reference.items()}
    expected["alerts"] = [a[:9] for a in reference["alerts"]]
    assert got["alerts"] == expected["alerts"] and got["runs"] == expected["runs"]
    assert got["mails"] == expected["mails"]
    subjects = mail_subjects(mail_server)
    assert set(subjects.values()) == {1} and len(subjects) == len(got["mails"])
    reliability.observed(
        f"{2 * len(WINDOW) + manual} ticks ran ({manual} manual) without an error; alerts, runs and outbox equal "
        f"to the single run's; {sum(subjects.values())} mails received, each once: {'; '.join(subjects)}"
    )
    ccb.dispose()
