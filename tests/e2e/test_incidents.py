"""Incidents through the real pipeline, whole days at 15-minute ticks: one problem mail per cause.

A failure nobody reruns makes every later deadline of its chain miss. Those breaches are
recorded under the failure's incident and shown with it, but on-call gets one mail, the
failure's, which names what it puts at risk. Two failures that do not depend on each other are
two incidents and two mails.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.e2e.test_scenario_days import DAY, WORKFLOW, ticks
from tests.support.mail import MailServer

from batch_monitor import pipeline, simulator
from batch_monitor.api import queries, views
from batch_monitor.config import WorkflowConfig, load_workflow
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import schema

DATA = Path(__file__).parent / "data"
BRANCHES: WorkflowConfig = load_workflow(DATA / "workflows" / "branches.yaml")


def play(store: sa.Engine, workflow: WorkflowConfig, scenario_file: str, tmp_path: Path) -> simulator.Scenario:
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(DATA / scenario_file)
    day = ticks(workflow, DAY)
    pipeline.prepare_store(store, workflow, day[0])
    channel = SmtpChannel()
    for as_of in day:
        simulator.play(source, scenario, workflow, DAY, as_of)
        pipeline.run_tick(source, store, workflow, as_of, channel=channel)
    source.dispose()
    return scenario


def alerts_of(store: sa.Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings().all()
    return {(r["kind"], r["step_id"]): dict(r) for r in rows}


def plain(mail: Any) -> str:
    return str(mail.message.get_body(preferencelist=("plain",)).get_content())


def outbox(store: sa.Engine) -> list[tuple[dt.datetime, str, str]]:
    """Every queued mail: (the tick it was queued in, its dedupe key, its subject), in order."""
    t = schema.email_outbox
    with store.connect() as conn:
        rows = conn.execute(sa.select(t.c.created_at, t.c.dedupe_key, t.c.subject).order_by(t.c.id)).all()
    return [(r.created_at.astimezone(dt.UTC), r.dedupe_key, r.subject) for r in rows]


def test_a_failure_never_rerun_sends_one_problem_mail_plus_reminders_every_2h_and_no_deadline_mail(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    assert WORKFLOW.remind_every == dt.timedelta(hours=2)  # the shipped default, nothing set in the YAML
    play(store, WORKFLOW, "unfinished.yaml", tmp_path)

    (first, problem_key, problem), *reminders = outbox(store)
    assert problem_key.endswith(":opened:1") and problem.startswith("[CRITICAL] C1-PPBTR failed")
    last_tick = ticks(WORKFLOW, DAY)[-1]
    count = int((last_tick - first).total_seconds() // WORKFLOW.remind_every.total_seconds())
    due = [first + n * WORKFLOW.remind_every for n in range(1, count + 1)]
    assert len(due) >= 6  # 14:30 to 05:00 the next morning
    assert [at for at, _, _ in reminders] == due  # one reminder each 2h after the problem mail, no more
    assert [key.rsplit(":", 1)[1] for _, key, _ in reminders] == [str(n) for n in range(1, len(due) + 1)]
    assert all(subject.startswith("[REMINDER] C1-PPBTR failed: ") for _, _, subject in reminders)
    assert any("chain deadline now missed" in subject for _, _, subject in reminders)
    assert any(subject.startswith("[REMINDER] C1-PPBTR failed: no change") for _, _, subject in reminders)
    # every mail reached on-call, and each is about the failure: no deadline was mailed on its own
    sent = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(sent) == 1 + len(due)
    assert all(s.startswith(("[CRITICAL] C1-PPBTR failed", "[REMINDER] C1-PPBTR failed")) for s in sent)


def test_a_failure_never_rerun_sends_one_mail_that_names_what_it_puts_at_risk(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    scenario = play(store, WORKFLOW.model_copy(update={"remind_every": dt.timedelta(0)}), "unfinished.yaml", tmp_path)

    found = alerts_of(store)
    assert set(found) == scenario.expected  # the failure and five missed deadlines, all recorded
    failed = found[("FAILED", "C1-PPBTR")]
    assert {a["incident_id"] for a in found.values()} == {failed["id"]}  # one incident, the failure its cause
    assert [a["email_queued"] for a in found.values()] == [True, False, False, False, False, False]
    # on-call gets the failure, once; no deadline mail, and no recovery (nothing cleared)
    [mail] = mail_server.received
    subject = str(mail.message["Subject"])
    assert subject.startswith("[CRITICAL] C1-PPBTR failed")
    body = plain(mail)
    assert "Puts at risk" in body
    for label in ("F1-FLUSH (Flush): due 2026-11-24 18:00", "CM_BSGGN", "BILLRESTSMS", "Chain: due 2026-11-24 22:00"):
        assert label in body
    assert "C1-PPBTR (Prepay Biller)" not in body.split("Puts at risk")[1]  # the cause is not its own risk
    # each deadline's opening event says why it was not mailed
    with store.connect() as conn:
        reasons = (
            conn.execute(
                sa.select(schema.alert_events.c.details)
                .join(schema.alerts, schema.alerts.c.id == schema.alert_events.c.alert_id)
                .where(schema.alerts.c.kind == "MISSED_DEADLINE", schema.alert_events.c.event == "opened")
            )
            .scalars()
            .all()
        )
        shown = [views.alert_out(row, {}) for row in queries.day_alerts(conn, WORKFLOW.workflow_id, DAY)]
    assert len(reasons) == 5
    assert all(r["incident_id"] == failed["id"] and r["email"]["queued"] is False for r in reasons)
    # the API shows each deadline under its cause
    caused = {(a.kind.value, a.step_id): a.caused_by for a in shown}
    assert caused.pop(("FAILED", "C1-PPBTR")) is None
    assert set(caused.values()) == {failed["id"]}


def test_two_independent_failures_are_two_incidents_and_two_mails(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    scenario = play(store, BRANCHES, "two_failures.yaml", tmp_path)

    found = alerts_of(store)
    assert set(found) == scenario.expected
    a, b = found[("FAILED", "BILL_A")], found[("FAILED", "BILL_B")]
    assert a["incident_id"] == a["id"] and b["incident_id"] == b["id"]
    assert found[("MISSED_DEADLINE", "BILL_A")]["incident_id"] == a["id"]
    assert found[("MISSED_DEADLINE", "BILL_B")]["incident_id"] == b["id"]
    # MERGE and the chain wait for both: they go with the failure that came first
    assert found[("MISSED_DEADLINE", "MERGE")]["incident_id"] == a["id"]
    assert found[("MISSED_DEADLINE", "_chain")]["incident_id"] == a["id"]
    received = [str(m.message["Subject"]) for m in mail_server.received]
    subjects = sorted(s for s in received if not s.startswith("[REMINDER]"))  # each reminded every 2h apart
    assert len(subjects) == 2
    assert subjects[0].startswith("[CRITICAL] BILL_A failed") and subjects[1].startswith("[CRITICAL] BILL_B failed")
    first = next(plain(m) for m in mail_server.received if "BILL_A failed" in str(m.message["Subject"]))
    at_risk = first.split("Puts at risk")[1]
    assert "MERGE" in at_risk and "Chain: due" in at_risk and "BILL_B" not in at_risk  # not downstream of BILL_A
