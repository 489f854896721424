"""The pure alerting diff (alerting.py): a tick's findings against the day's alerts → the alerts'
transitions, their events and the messages they call for. No database: the rows are what the store
would load, and a new alert gets its id the way the store's insert gives it one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.support.workflows import load_test_workflow

from batch_monitor import alerting
from batch_monitor.alerting import Planner, Row
from batch_monitor.constants import SEVERITY_OF_KIND, FindingKind, Severity, StepStatus
from batch_monitor.models import Evaluation, Finding, StepState
from batch_monitor.silences import Silence

WF = load_test_workflow("dpdc_ami")  # CRITICAL alerts are mailed, warnings are not
DAY = dt.date(2026, 11, 24)
T0 = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)  # 12:00 in Dhaka
AS_OF = T0 + dt.timedelta(minutes=15)  # the tick judged
ONCALL = ["ccb-oncall@dpdc.example"]
BOSS = ["ops-manager@dpdc.example"]

F = "FAILED:C1-PPBTR"
STUCK = "STUCK:CM_BSGGN"
LONG = "LONG_RUNNING:C1-PPBTR"
LATE = "LATE_START:F1-FLUSH"
DQ = "DATA_QUALITY:_chain"
CHAIN = "MISSED_DEADLINE:_chain"
OUTAGE = "SOURCE_UNAVAILABLE:_chain"


def finding(spec: str, severity: Severity | None = None, over: bool = False) -> Finding:
    """'FAILED:C1-PPBTR' → the finding ('/over': a breach already over when judged)."""
    kind, step = spec.split(":")
    return Finding(
        kind=FindingKind(kind),
        severity=severity or SEVERITY_OF_KIND[FindingKind(kind)],
        step_id=step,
        batch_code=step,
        title=f"{step} {kind.lower()}",
        ended_at=AS_OF - dt.timedelta(minutes=5) if over else None,
    )


def row(spec: str, alert_id: int, **values: Any) -> Row:
    """The day's alert ``spec`` as the store loads it: open, its problem mailed, its own cause."""
    kind, step = spec.split(":")
    base: Row = {
        "id": alert_id,
        "workflow_id": WF.workflow_id,
        "business_date": DAY,
        "step_id": step,
        "kind": kind,
        "state": "open",
        "severity": SEVERITY_OF_KIND[FindingKind(kind)].value,
        "batch_cd": step,
        "title": f"{step} {kind.lower()}",
        "expected": "",
        "actual": "",
        "action": "",
        "error_text": None,
        "run_key": None,
        "details": {},
        "since": T0,
        "first_seen_at": T0,
        "last_seen_at": T0,
        "seen_count": 1,
        "open_count": 1,
        "email_queued": True,
        "condition_holds": True,
        "held_mail": None,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "ack_comment": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
        "incident_id": alert_id,
        "created_at": T0,
        "updated_at": T0,
        "reminders": 0,
        "escalated_at": None,
        "mailed_at": T0,
        "last_mailed_at": T0,
        "mailed_consequences": [],
    }
    return base | values


@dataclass
class Tick:
    """What one tick's diff decided."""

    events: dict[str, list[str]]  # identity → the events recorded
    states: dict[str, str]  # identity → its state after the tick (every alert of the day)
    mails: list[str]  # "kind identity tag", in the order queued
    result: alerting.SyncResult
    rows: dict[str, Row]
    details: dict[str, dict[str, Any]]  # identity → its latest event's details


def identity(r: Row) -> str:
    return f"{r['kind']}:{r['step_id']}"


def tick(
    day: list[Row], findings: list[Finding], *, silences: list[Silence] | None = None, to: list[str] | None = None
) -> Tick:
    plan = Planner(WF, DAY, AS_OF, AS_OF, ONCALL if to is None else to, silences=silences)
    transitions = plan.diff({(r["step_id"], r["kind"]): r for r in day}, findings)
    for number, change in enumerate(transitions.new, start=100):  # the store's insert gives the ids
        change.row["id"] = number
    messages, _assigned = plan.messages(transitions)
    changes = transitions.new + transitions.updated
    rows = {identity(r): r for r in transitions.grouping.rows.values()}
    return Tick(
        events={identity(c.row): [name for name, _ in c.events] for c in changes if c.events},
        states={key: r["state"] for key, r in rows.items()},
        mails=[f"{m.kind} {identity(m.alert)} {m.tag}" for m in messages],
        result=plan.result,
        rows=rows,
        details={identity(c.row): c.events[-1][1] for c in changes if c.events},
    )


@dataclass
class Case:
    day: list[Row]
    findings: list[Finding]
    events: dict[str, list[str]]
    states: dict[str, str]
    mails: list[str] = field(default_factory=list)


CASES = {
    "a new critical finding opens an alert and mails it": Case(
        day=[],
        findings=[finding(F)],
        events={F: ["opened"]},
        states={F: "open"},
        mails=[f"alert {F} opened:1"],
    ),
    "the same finding at the next tick is seen again, without a mail": Case(
        day=[row(F, 1)],
        findings=[finding(F)],
        events={},
        states={F: "open"},
    ),
    "a finding that is gone resolves its alert with a recovery mail": Case(
        day=[row(F, 1)],
        findings=[],
        events={F: ["resolved"]},
        states={F: "resolved"},
        mails=[f"recovery {F} recovery:1"],
    ),
    "a warning opens and resolves on the page only": Case(
        day=[],
        findings=[finding(LATE)],
        events={LATE: ["opened"]},
        states={LATE: "open"},
    ),
    "a warning that was never mailed resolves without a recovery mail": Case(
        day=[row(LATE, 1, email_queued=False)],
        findings=[],
        events={LATE: ["resolved"]},
        states={LATE: "resolved"},
    ),
    "a warning that rises to critical escalates and is mailed": Case(
        day=[row(LONG, 1, email_queued=False)],
        findings=[finding(LONG, Severity.CRITICAL)],
        events={LONG: ["escalated"]},
        states={LONG: "open"},
        mails=[f"alert {LONG} escalated:1:CRITICAL"],
    ),
    "a data-quality warning is mailed when it first opens in the day": Case(
        day=[],
        findings=[finding(DQ)],
        events={DQ: ["opened"]},
        states={DQ: "open"},
        mails=[f"alert {DQ} opened:1"],
    ),
    "a data-quality warning that comes back reopens without a mail": Case(
        day=[row(DQ, 1, state="resolved", resolution="cleared", condition_holds=False)],
        findings=[finding(DQ)],
        events={DQ: ["reopened"]},
        states={DQ: "open"},
    ),
    "a cleared alert whose condition comes back reopens with a new opening's mail": Case(
        day=[row(F, 1, state="resolved", resolution="cleared", condition_holds=False)],
        findings=[finding(F)],
        events={F: ["reopened"]},
        states={F: "open"},
        mails=[f"alert {F} opened:2"],
    ),
    "an acknowledged alert stays acknowledged while its condition holds": Case(
        day=[row(F, 1, state="acknowledged", acknowledged_by="ann")],
        findings=[finding(F)],
        events={},
        states={F: "acknowledged"},
    ),
    "an acknowledged alert whose condition clears resolves with a recovery mail": Case(
        day=[row(F, 1, state="acknowledged", acknowledged_by="ann")],
        findings=[],
        events={F: ["resolved"]},
        states={F: "resolved"},
        mails=[f"recovery {F} recovery:1"],
    ),
    "an alert resolved by hand stays resolved while its condition holds": Case(
        day=[row(F, 1, state="resolved", resolution="manual", resolved_by="ann")],
        findings=[finding(F)],
        events={},
        states={F: "resolved"},
    ),
    "an alert resolved by hand whose condition clears gets no recovery mail": Case(
        day=[row(F, 1, state="resolved", resolution="manual", resolved_by="ann")],
        findings=[],
        events={},
        states={F: "resolved"},
    ),
    "an alert resolved by hand reopens once its condition cleared and came back": Case(
        day=[row(F, 1, state="resolved", resolution="manual", condition_holds=False)],
        findings=[finding(F)],
        events={F: ["reopened"]},
        states={F: "open"},
        mails=[f"alert {F} opened:2"],
    ),
    "a breach over between two ticks is recorded resolved and mailed once": Case(
        day=[],
        findings=[finding(CHAIN, over=True)],
        events={CHAIN: ["opened", "resolved"]},
        states={CHAIN: "resolved"},
        mails=[f"alert {CHAIN} opened:1"],
    ),
    "a breach over that is judged again changes nothing": Case(
        day=[row(CHAIN, 1, state="resolved", resolution="cleared", condition_holds=False)],
        findings=[finding(CHAIN, over=True)],
        events={},
        states={CHAIN: "resolved"},
    ),
    "an open breach that is over resolves with a recovery mail": Case(
        day=[row(CHAIN, 1)],
        findings=[finding(CHAIN, over=True)],
        events={CHAIN: ["resolved"]},
        states={CHAIN: "resolved"},
        mails=[f"recovery {CHAIN} recovery:1"],
    ),
    "a deadline missed while a step is stuck is recorded under it, not mailed": Case(
        day=[row(STUCK, 1)],
        findings=[finding(STUCK), finding(CHAIN)],
        events={CHAIN: ["opened"]},
        states={STUCK: "open", CHAIN: "open"},
    ),
    "a cause that clears before its consequence: its recovery mail waits": Case(
        day=[row(STUCK, 1), row(CHAIN, 2, incident_id=1, email_queued=False)],
        findings=[finding(CHAIN)],
        events={STUCK: ["resolved"]},
        states={STUCK: "resolved", CHAIN: "open"},
    ),
    "the incident's last alert clearing sends its cause's recovery mail": Case(
        day=[
            row(STUCK, 1, state="resolved", resolution="cleared", condition_holds=False),
            row(CHAIN, 2, incident_id=1, email_queued=False),
        ],
        findings=[],
        events={CHAIN: ["resolved"]},
        states={STUCK: "resolved", CHAIN: "resolved"},
        mails=[f"recovery {STUCK} recovery:1"],
    ),
    "the source outage is left alone by the evaluator's diff": Case(
        day=[row(OUTAGE, 1)],
        findings=[],
        events={},
        states={OUTAGE: "open"},
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_the_diff_turns_findings_into_transitions_and_messages(case: Case) -> None:
    got = tick(case.day, case.findings)
    assert got.events == case.events
    assert got.states == case.states
    assert got.mails == case.mails


def test_the_result_counts_what_the_tick_changed() -> None:
    day = [row(F, 1), row(LATE, 2, email_queued=False), row(LONG, 3, email_queued=False)]
    got = tick(day, [finding(F), finding(LONG, Severity.CRITICAL), finding(STUCK)])
    counts = got.result
    assert (counts.opened, counts.seen, counts.resolved, counts.escalated, counts.reopened) == (1, 2, 1, 1, 0)


def test_a_consequence_belongs_to_its_cause_and_its_event_says_why_it_was_not_mailed() -> None:
    got = tick([row(STUCK, 1)], [finding(STUCK), finding(CHAIN)])
    assert got.rows[CHAIN]["incident_id"] == 1
    assert got.details[CHAIN]["email"] == {
        "queued": False,
        "reason": "part of the incident of CM_BSGGN STUCK: mailed with its cause",
    }
    assert got.rows[CHAIN]["email_queued"] is False


def test_the_cause_s_mail_names_the_consequences_that_hold() -> None:
    plan = Planner(WF, DAY, AS_OF, AS_OF, ONCALL)
    transitions = plan.diff({}, [finding(STUCK), finding(CHAIN)])
    for number, change in enumerate(transitions.new, start=100):
        change.row["id"] = number
    [mail], assigned = plan.messages(transitions)
    assert (mail.kind, identity(mail.alert), mail.consequences) == ("alert", STUCK, [["_chain", "MISSED_DEADLINE"]])
    assert assigned == {100: 100, 101: 100}  # each new alert's cause: the stuck step
    assert mail.dedupe_key == "alert:100:opened:1" and mail.to == ONCALL


def test_the_alert_mail_of_a_cause_tells_what_it_puts_at_risk() -> None:
    steps = [
        StepState(step_id=s.id, batch_code=s.id, name=s.name, position=i, status=StepStatus.PENDING)
        for i, s in enumerate(WF.steps)
    ]
    ev = Evaluation(
        workflow_id=WF.workflow_id,
        business_date=DAY,
        as_of=AS_OF,
        timezone=WF.timezone,
        chain_status=StepStatus.FAILED,
        steps=steps,
        findings=[finding(F)],
        chain_finish_by=AS_OF + dt.timedelta(hours=10),
    )
    plan = Planner(WF, DAY, AS_OF, AS_OF, ONCALL, ev)
    transitions = plan.diff({}, ev.findings)
    transitions.new[0].row["id"] = 100
    [mail], _ = plan.messages(transitions)
    assert [item.label for item in mail.at_risk] == [
        "F1-FLUSH (Flush)",
        "CM_BSGGN (Bill Segment Creation)",
        "BILLRESTSMS (SMS batch)",
        "Chain",
    ]


def test_without_recipients_nothing_is_mailed_and_the_event_says_why() -> None:
    got = tick([], [finding(F)], to=[])
    assert got.mails == []
    assert got.details[F]["email"] == {"queued": False, "reason": "no recipients configured"}
    assert got.rows[F]["email_queued"] is False


def silence(**scope: Any) -> Silence:
    return Silence(WF.workflow_id, T0, AS_OF + dt.timedelta(hours=1), "op1", "planned rerun", id=7, **scope)


def test_a_silenced_problem_mail_is_held_not_queued() -> None:
    got = tick([], [finding(F)], silences=[silence(step_id="C1-PPBTR")])
    assert got.mails == []
    assert (got.rows[F]["held_mail"], got.rows[F]["email_queued"]) == ("opened:1", False)
    assert got.details[F]["email"]["reason"] == "silenced until 13:15 by op1: planned rerun"


def test_a_silence_holds_back_the_recovery_mail_too() -> None:
    got = tick([row(F, 1)], [], silences=[silence()])
    assert got.events == {F: ["resolved"]} and got.mails == []
    assert got.details[F]["email"]["silence"] == {"id": 7, "source": "silence", "until": "2026-11-24T07:15:00+00:00"}


def test_a_silence_of_another_step_holds_nothing_back() -> None:
    assert tick([], [finding(F)], silences=[silence(step_id="CM_BSGGN")]).mails == [f"alert {F} opened:1"]


def test_of_two_findings_of_one_alert_the_more_severe_counts() -> None:
    got = tick([], [finding(LONG), finding(LONG, Severity.CRITICAL)])
    assert got.rows[LONG]["severity"] == "CRITICAL"
    assert got.mails == [f"alert {LONG} opened:1"]


# --------------------------------------------------------------------------- a condition outside evaluation


def test_a_source_outage_opens_once_and_collects_the_ticks_it_held_in() -> None:
    outage = finding(OUTAGE)
    first = Planner(WF, DAY, T0, T0, ONCALL).raised(None, outage)
    assert (first.events[0][0], first.mail, first.mail_tag) == ("opened", "alert", "opened:1")
    assert first.row["details"]["missed_ticks"] == [T0.isoformat()]
    kept = Planner(WF, DAY, AS_OF, AS_OF, ONCALL).raised(row(OUTAGE, 1, details=first.row["details"]), outage)
    assert (kept.events, kept.mail) == ([], None)
    assert kept.row["details"]["missed_ticks"] == [T0.isoformat(), AS_OF.isoformat()]
    assert (kept.row["since"], kept.row["last_seen_at"], kept.row["seen_count"]) == (T0, AS_OF, 2)


def test_a_late_older_tick_of_an_outage_never_moves_its_last_seen_back() -> None:
    later = row(OUTAGE, 1, last_seen_at=AS_OF + dt.timedelta(minutes=15))
    kept = Planner(WF, DAY, AS_OF, AS_OF, ONCALL).raised(later, finding(OUTAGE))
    assert kept.row["last_seen_at"] == AS_OF + dt.timedelta(minutes=15)


def test_an_outage_whose_incident_still_holds_waits_with_its_recovery_mail() -> None:
    plan = Planner(WF, DAY, AS_OF, AS_OF, ONCALL)
    change = plan.gone(row(OUTAGE, 1))
    assert change is not None
    assert plan.condition_recovery(change, [row(CHAIN, 2, incident_id=1)]) == []
    assert (
        change.mail_details["email"]["reason"]
        == "1 alert(s) of this incident still hold: the recovery mail waits for them"
    )
    [mail] = plan.condition_recovery(change, [row(CHAIN, 2, incident_id=1, condition_holds=False)])
    assert (mail.kind, mail.tag, len(mail.members)) == ("recovery", "recovery:1", 2)


def test_missed_ticks_are_the_ones_before_the_tick_oldest_first() -> None:
    ticks = [(T0 + dt.timedelta(minutes=15 * n)).isoformat() for n in (2, 0, 1, 3)]
    found = alerting.missed_ticks([{"missed_ticks": ticks}, None, {}], before=T0 + dt.timedelta(minutes=45))
    assert found == [T0 + dt.timedelta(minutes=15 * n) for n in (0, 1, 2)]


# --------------------------------------------------------------------------- reminders and escalation


def reminding(remind: str = "1h", escalate: str = "2h") -> Any:
    return WF.model_validate({**WF.model_dump(), "remind_every": remind, "escalate_after": escalate})


@pytest.mark.parametrize(
    ("since_mail", "escalated", "due"),
    [
        (dt.timedelta(minutes=45), False, (False, False)),
        (dt.timedelta(hours=1), False, (True, False)),
        (dt.timedelta(hours=2), False, (True, True)),
        (dt.timedelta(hours=2), True, (True, False)),  # escalated once: never again
    ],
    ids=["not yet", "a reminder", "a reminder that escalates", "escalated already"],
)
def test_a_reminder_is_due_every_remind_every_and_escalation_once_after_escalate_after(
    since_mail: dt.timedelta, escalated: bool, due: tuple[bool, bool]
) -> None:
    cause = row(F, 1, mailed_at=AS_OF - since_mail, last_mailed_at=None, escalated_at=T0 if escalated else None)
    assert alerting.reminder_due(reminding(), cause, AS_OF, BOSS) == due


def test_nobody_to_escalate_to_means_no_escalation() -> None:
    cause = row(F, 1, mailed_at=AS_OF - dt.timedelta(hours=3), last_mailed_at=AS_OF)
    assert alerting.reminder_due(reminding(), cause, AS_OF, []) == (False, False)


def test_a_reminder_that_escalates_goes_to_both_and_says_what_changed() -> None:
    cause = row(F, 1, mailed_at=AS_OF - dt.timedelta(hours=2), reminders=1)
    planned = alerting.plan_reminder(
        cause,
        (True, True),
        as_of=AS_OF,
        now=AS_OF,
        to=ONCALL,
        extra=BOSS,
        consequences=[["_chain", "AT_RISK"]],
        at_risk=[],
    )
    message = planned.message
    assert (message.kind, message.tag, message.to) == ("reminder", "reminder:1:2", ONCALL + BOSS)
    assert (message.number, message.changed, message.escalated_to) == (2, "chain deadline now at risk", BOSS)
    assert message.unacknowledged == dt.timedelta(hours=2)
    assert planned.event == "reminded" and message.details == {
        "changed": "chain deadline now at risk",
        "number": 2,
        "escalate_to": BOSS,
    }
    assert planned.values == {
        "mailed_consequences": [["_chain", "AT_RISK"]],
        "updated_at": AS_OF,
        "last_mailed_at": AS_OF,
        "reminders": 2,
        "escalated_at": AS_OF,
    }


def test_an_escalation_notice_alone_keeps_the_reminder_count() -> None:
    cause = row(F, 1, mailed_at=AS_OF - dt.timedelta(hours=2), reminders=1)
    planned = alerting.plan_reminder(
        cause, (False, True), as_of=AS_OF, now=AS_OF, to=ONCALL, extra=BOSS, consequences=[], at_risk=[]
    )
    assert (planned.event, planned.message.kind, planned.message.tag) == ("escalation", "escalation", "escalation:1")
    assert "reminders" not in planned.values and planned.values["escalated_at"] == AS_OF


def test_a_held_mail_is_released_under_the_key_it_was_held_with() -> None:
    held = row(F, 1, held_mail="opened:1", email_queued=False)
    message = alerting.release_held(held, ONCALL, [], [])
    assert (message.kind, message.dedupe_key, message.details) == (
        "alert",
        "alert:1:opened:1",
        {"after": "silence ended"},
    )
