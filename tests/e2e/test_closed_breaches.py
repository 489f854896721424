"""Breaches that begin and end between two ticks are judged from the runs' own times: recorded
and resolved at once, mailed by ``email_min_severity``, and on the day's page, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.e2e.test_scenario_days import DAY, WORKFLOW, ticks
from tests.support.mail import MailServer

from batch_monitor import pipeline, simulator
from batch_monitor.api import queries
from batch_monitor.constants import FindingKind
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import repository, schema

DATA = Path(__file__).parent / "data"


def alerts_by_identity(store: sa.Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings().all()
    assert len(rows) == len({(r["kind"], r["step_id"]) for r in rows})  # one row per breach
    return {(r["kind"], r["step_id"]): dict(r) for r in rows}


def test_a_deadline_missed_and_a_late_start_between_two_ticks_are_recorded_once(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(DATA / "between_ticks.yaml")
    day = ticks(WORKFLOW, DAY)
    pipeline.prepare_store(store, WORKFLOW, day[0])
    for as_of in day:  # every 15 minutes: 05:15 and 20:00 are not past the breaches, 05:30 and 20:15 are
        simulator.play(source, scenario, WORKFLOW, DAY, as_of)
        pipeline.run_tick(source, store, WORKFLOW, as_of, channel=SmtpChannel())
    source.dispose()

    found = alerts_by_identity(store)
    assert set(found) == scenario.expected
    deadline = found[("MISSED_DEADLINE", "CM_BSGGN")]
    late = found[("LATE_START", "CM-DMRU")]
    assert [a["state"] for a in (deadline, late)] == ["resolved", "resolved"]
    assert "completed 10m late" in deadline["title"] and deadline["severity"] == "CRITICAL"
    assert "started 20m late" in late["title"] and late["severity"] == "WARNING"
    # the workflow mails CRITICAL only: one mail for the deadline, none for the late start, no recovery mail
    [mail] = mail_server.received
    assert "CM_BSGGN completed late" in str(mail.message["Subject"])
    body = mail.message.get_body(preferencelist=("plain",)).get_content()
    assert "completed 10m late" in body and "no recovery mail follows" in body
    assert "What to do:\n  CM_BSGGN has completed since" in body  # advice for a breach that is over
    # the day's evaluation carries both (the page marks the steps late from it)
    with store.connect() as conn:
        evaluation = repository.load_evaluation(conn, WORKFLOW.workflow_id, DAY)
        breaches = queries.count_breaches(conn, WORKFLOW.workflow_id, DAY, DAY)  # the health figure
    assert breaches == 2
    assert evaluation is not None
    over = {(f.kind, f.step_id) for f in evaluation.findings if f.closed}
    assert over == {(FindingKind.LATE_START, "CM-DMRU"), (FindingKind.MISSED_DEADLINE, "CM_BSGGN")}
