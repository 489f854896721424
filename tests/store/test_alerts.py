"""sync_alerts over sequences of evaluations, and operators' actions (store/actions.py), on a real PostgreSQL.

Each tick is its own transaction, as in the DAG: findings in, alerts/events/outbox rows out.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.evaluations import DAY, evaluation, finding

from batch_monitor.alerting import SyncResult
from batch_monitor.api import queries, views
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import FindingKind, Severity
from batch_monitor.models import Evaluation, Finding
from batch_monitor.store import actions, alerts, repository, schema

from .conftest import ONCALL, PAGE, RENDER, tick

WF = "dpdc_ami"


def parse(spec: str) -> Finding:
    """'FAILED:C1-PPBTR', 'LONG_RUNNING:C1-PPBTR@CRITICAL' or 'MISSED_DEADLINE:CM_BSGGN/over' (a
    breach already over when judged) → a finding."""
    spec, over, _ = spec.partition("/over")
    identity, _, severity = spec.partition("@")
    kind, step_id = identity.split(":")
    extra = {"ended_at": tick(0)} if over else {}
    return finding(FindingKind(kind), step_id, Severity(severity) if severity else None, **extra)


def sync(
    engine: sa.Engine,
    workflow: WorkflowConfig,
    ev: Evaluation,
    recipients: list[str] | None = None,
) -> SyncResult:
    with engine.begin() as conn:
        return alerts.sync_alerts(
            conn,
            workflow,
            ev,
            recipients=ONCALL if recipients is None else recipients,
            render=RENDER,
            now=ev.as_of,
        )


def play(engine: sa.Engine, workflow: WorkflowConfig, ticks: list[list[str]]) -> list[SyncResult]:
    return [sync(engine, workflow, evaluation(tick(n), [parse(s) for s in specs])) for n, specs in enumerate(ticks)]


def state(engine: sa.Engine) -> dict[str, Any]:
    """Everything sync_alerts writes: alert rows, their events, queued mails."""
    with engine.connect() as conn:
        a = {
            f"{r.kind}:{r.step_id}": (r.state, r.seen_count, r.open_count)
            for r in conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id))
        }
        ids = {r.id: f"{r.kind}:{r.step_id}" for r in conn.execute(sa.select(schema.alerts))}
        events: dict[str, list[str]] = {}
        for r in conn.execute(sa.select(schema.alert_events).order_by(schema.alert_events.c.id)):
            events.setdefault(ids[r.alert_id], []).append(r.event)
        mails = [
            f"{ids[r.alert_id]}:{r.dedupe_key.split(':', 2)[2]}"
            for r in conn.execute(sa.select(schema.email_outbox).order_by(schema.email_outbox.c.id))
        ]
    return {"alerts": a, "events": events, "mails": mails}


def read_alert(conn: sa.Connection, alert_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An alert and its events as the API reads them (``GET alerts/{id}``: api/queries.py)."""
    record = queries.alert_row(conn, alert_id)
    assert record is not None
    return record, queries.alert_event_rows(conn, alert_id)


@dataclass
class Case:
    ticks: list[list[str]]
    alerts: dict[str, tuple[str, int, int]]  # identity → (state, seen_count, open_count)
    mails: list[str]  # identity:mail tag, in the order queued
    events: dict[str, list[str]] = field(default_factory=dict)


F = "FAILED:C1-PPBTR"
LATE = "LATE_START:F1-FLUSH"
LONG = "LONG_RUNNING:C1-PPBTR"
STUCK = "STUCK:CM_BSGGN"
CHAIN = "MISSED_DEADLINE:_chain"
DEADLINE = "MISSED_DEADLINE:CM_BSGGN"
DQ = "DATA_QUALITY:_chain"
FLUSH_LATE = "MISSED_DEADLINE:F1-FLUSH"  # F1-FLUSH runs before CM_BSGGN: not explained by STUCK
F_LATE = "MISSED_DEADLINE:C1-PPBTR"

CASES = {
    "a condition holding 10 ticks is one alert and one mail": Case(
        ticks=[[F]] * 10,
        alerts={F: ("open", 10, 1)},
        mails=[f"{F}:opened:1"],
        events={F: ["opened"]},
    ),
    "a cleared condition resolves with a recovery mail": Case(
        ticks=[[F], [F], [F], []],
        alerts={F: ("resolved", 3, 1)},
        mails=[f"{F}:opened:1", f"{F}:recovery:1"],
        events={F: ["opened", "resolved"]},
    ),
    "a condition that comes back reopens the same alert with a new mail": Case(
        ticks=[[F], [], [F], [F], []],
        alerts={F: ("resolved", 3, 2)},
        mails=[f"{F}:opened:1", f"{F}:recovery:1", f"{F}:opened:2", f"{F}:recovery:2"],
        events={F: ["opened", "resolved", "reopened", "resolved"]},
    ),
    "a data-quality warning is mailed when it first opens in the day, not when it reopens": Case(
        ticks=[[DQ], [DQ], [], [DQ], []],
        alerts={DQ: ("resolved", 3, 2)},
        mails=[f"{DQ}:opened:1", f"{DQ}:recovery:1"],
        events={DQ: ["opened", "resolved", "reopened", "resolved"]},
    ),
    "warnings show on the page only, opened and resolved without mails": Case(
        ticks=[[LATE], [LATE], []],
        alerts={LATE: ("resolved", 2, 1)},
        mails=[],
        events={LATE: ["opened", "resolved"]},
    ),
    "a warning that escalates to critical is mailed, and so is its recovery": Case(
        ticks=[[LONG], [LONG], [f"{LONG}@CRITICAL"], [f"{LONG}@CRITICAL"], []],
        alerts={LONG: ("resolved", 4, 1)},
        mails=[f"{LONG}:escalated:1:CRITICAL", f"{LONG}:recovery:1"],
        events={LONG: ["opened", "escalated", "resolved"]},
    ),
    "conditions of different steps live and clear independently": Case(
        ticks=[[F, STUCK], [STUCK, FLUSH_LATE], [FLUSH_LATE]],
        alerts={F: ("resolved", 1, 1), STUCK: ("resolved", 2, 1), FLUSH_LATE: ("open", 2, 1)},
        mails=[
            f"{F}:opened:1",
            f"{STUCK}:opened:1",
            f"{FLUSH_LATE}:opened:1",
            f"{F}:recovery:1",
            f"{STUCK}:recovery:1",
        ],
        events={F: ["opened", "resolved"], STUCK: ["opened", "resolved"], FLUSH_LATE: ["opened"]},
    ),
    "a deadline missed while a step is stuck is its incident's: one mail, one recovery once both cleared": Case(
        ticks=[[STUCK], [STUCK, CHAIN], [CHAIN], [CHAIN], []],
        alerts={STUCK: ("resolved", 2, 1), CHAIN: ("resolved", 3, 1)},
        mails=[f"{STUCK}:opened:1", f"{STUCK}:recovery:1"],
        events={STUCK: ["opened", "resolved"], CHAIN: ["opened", "resolved"]},
    ),
    "a rerun that fails again is mailed again, and the incident recovers once": Case(
        ticks=[[F], [F, F_LATE], [F_LATE], [F, F_LATE], [F_LATE], []],
        alerts={F: ("resolved", 3, 2), F_LATE: ("resolved", 4, 1)},
        mails=[f"{F}:opened:1", f"{F}:opened:2", f"{F}:recovery:2"],
        events={F: ["opened", "resolved", "reopened", "resolved"], F_LATE: ["opened", "resolved"]},
    ),
    "a deadline that opens after its cause cleared is an incident of its own": Case(
        ticks=[[F], [], [F_LATE], []],
        alerts={F: ("resolved", 1, 1), F_LATE: ("resolved", 1, 1)},
        mails=[f"{F}:opened:1", f"{F}:recovery:1", f"{F_LATE}:opened:1", f"{F_LATE}:recovery:1"],
        events={F: ["opened", "resolved"], F_LATE: ["opened", "resolved"]},
    ),
    "a breach over between two ticks is recorded and resolved at once, mailed once, and kept so": Case(
        ticks=[[f"{DEADLINE}/over"]] * 4,
        alerts={DEADLINE: ("resolved", 1, 1)},
        mails=[f"{DEADLINE}:opened:1"],
        events={DEADLINE: ["opened", "resolved"]},
    ),
    "a warning breach over between two ticks is recorded without mail": Case(
        ticks=[[], [f"{LATE}/over"], [f"{LATE}/over"]],
        alerts={LATE: ("resolved", 1, 1)},
        mails=[],
        events={LATE: ["opened", "resolved"]},
    ),
    "an open breach that ends resolves with one recovery mail, and judging again changes nothing": Case(
        ticks=[[DEADLINE], [DEADLINE], [f"{DEADLINE}/over"], [f"{DEADLINE}/over"]],
        alerts={DEADLINE: ("resolved", 2, 1)},
        mails=[f"{DEADLINE}:opened:1", f"{DEADLINE}:recovery:1"],
        events={DEADLINE: ["opened", "resolved"]},
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_sync_alerts_turns_findings_into_alerts_events_and_mails(
    store: sa.Engine, dpdc: WorkflowConfig, case: Case
) -> None:
    play(store, dpdc, case.ticks)
    got = state(store)
    assert got["alerts"] == case.alerts
    assert got["mails"] == case.mails
    assert got["events"] == case.events


def test_the_result_counts_what_each_tick_changed(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    results = play(store, dpdc, [[F, LATE], [F, LATE], [F], [F, LATE], [f"{LONG}@CRITICAL"]])
    counts = [(r.opened, r.seen, r.resolved, r.reopened, r.escalated, r.mails_queued) for r in results]
    assert counts == [
        (2, 0, 0, 0, 0, 1),
        (0, 2, 0, 0, 0, 0),
        (0, 1, 1, 0, 0, 0),
        (0, 1, 0, 1, 0, 0),
        (1, 0, 2, 0, 0, 2),  # LONG opened + mailed; F and LATE resolved, F's recovery mailed
    ]
    assert not any(r.skipped for r in results)


def test_a_replayed_tick_changes_nothing_and_queues_no_second_mail(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F], [F, STUCK]])
    before = state(store)
    again = sync(store, dpdc, evaluation(tick(1), [parse(F), parse(STUCK)]))
    assert again.skipped
    assert (again.opened, again.seen, again.mails_queued) == (0, 0, 0)
    assert state(store) == before


def test_an_older_tick_arriving_late_changes_nothing(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F], [F], []])  # resolved at tick 2
    before = state(store)
    late = sync(store, dpdc, evaluation(tick(1), [parse(F), parse(STUCK)]))
    assert late.skipped
    assert state(store) == before
    assert before["alerts"] == {F: ("resolved", 2, 1)}


def test_a_tick_with_no_findings_leaves_a_replay_guard_too(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    sync(store, dpdc, evaluation(tick(5)))
    assert sync(store, dpdc, evaluation(tick(4), [parse(F)])).skipped
    assert state(store)["alerts"] == {}


@pytest.mark.parametrize("save_first", [True, False], ids=["evaluation saved first", "alerts synced first"])
def test_sync_and_save_evaluation_work_in_either_order(
    store: sa.Engine, dpdc: WorkflowConfig, save_first: bool
) -> None:
    ev = evaluation(tick(0), [parse(F)])
    with store.begin() as conn:
        if save_first:
            assert repository.save_evaluation(conn, ev)
        result = alerts.sync_alerts(conn, dpdc, ev, recipients=ONCALL, render=RENDER, now=tick(0))
        if not save_first:
            assert repository.save_evaluation(conn, ev)
    assert result.opened == 1
    with store.connect() as conn:
        assert repository.load_evaluation(conn, WF, DAY) == ev
    assert sync(store, dpdc, ev).skipped


def test_alerts_of_another_day_or_workflow_are_left_alone(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F]])
    next_day = evaluation(tick(100), business_date=DAY + dt.timedelta(days=1))
    assert sync(store, dpdc, next_day).resolved == 0
    other = dpdc.model_copy(update={"workflow_id": "other_chain"})
    assert sync(store, other, evaluation(tick(101), workflow_id="other_chain")).resolved == 0
    assert state(store)["alerts"] == {F: ("open", 1, 1)}


def test_the_alert_mail_names_the_failure_and_links_to_the_alert(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    failed = finding(
        FindingKind.FAILED,
        "C1-PPBTR",
        title="C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout",
        error_text="ORA-12545: Connect failed because target host or object does not exist",
        action="Resubmit C1-PPBTR",
    )
    sync(store, dpdc, evaluation(tick(0), [failed]))
    with store.connect() as conn:
        alert_id = conn.execute(sa.select(schema.alerts.c.id)).scalar_one()
        mail = conn.execute(sa.select(schema.email_outbox)).one()
    assert mail.recipients == ONCALL
    assert mail.kind == "alert"
    assert mail.alert_id == alert_id
    assert "C1-PPBTR" in mail.subject and "CRITICAL" in mail.subject
    assert f"{PAGE}/plugin/ops/batch-monitor/?workflow=dpdc_ami&date=2026-11-24&alert={alert_id}" in mail.body_text
    assert "ORA-12545" in mail.body_text


def test_a_breach_over_between_ticks_is_mailed_once_as_late_and_kept_resolved(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    late = finding(
        FindingKind.MISSED_DEADLINE,
        "CM_BSGGN",
        title="CM_BSGGN completed 10 min late: at 20:10, against its 20:00 deadline",
        since=tick(0) - dt.timedelta(minutes=15),
        ended_at=tick(0) - dt.timedelta(minutes=5),
    )
    first = sync(store, dpdc, evaluation(tick(0), [late]))
    again = sync(store, dpdc, evaluation(tick(1), [late]))  # the day judged again: nothing new
    assert (first.opened, first.resolved, first.mails_queued) == (1, 1, 1)
    assert (again.opened, again.resolved, again.reopened, again.mails_queued) == (0, 0, 0, 0)
    with store.connect() as conn:
        alert = conn.execute(sa.select(schema.alerts)).one()
        mail = conn.execute(sa.select(schema.email_outbox)).one()
    assert (alert.state, alert.resolved_by, alert.condition_holds) == ("resolved", "monitor", False)
    assert "completed 10 min late" in alert.title
    assert "[CRITICAL] CM_BSGGN completed late" in mail.subject
    assert "completed 10 min late" in mail.body_text and "no recovery mail follows" in mail.body_text


def test_without_recipients_nothing_is_queued_and_the_event_says_why(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    result = sync(store, dpdc, evaluation(tick(0), [parse(F)]), recipients=[])
    assert (result.opened, result.mails_queued) == (1, 0)
    with store.connect() as conn:
        alert_id = conn.execute(sa.select(schema.alerts.c.id)).scalar_one()
        record, events = read_alert(conn, alert_id)
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.email_outbox)).scalar_one() == 0
    assert events[0]["details"]["email"] == {"queued": False, "reason": "no recipients configured"}
    assert not record["email_queued"]


# --------------------------------------------------------------------------- operator actions


def only_alert_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(schema.alerts.c.id)).scalar_one())


def test_acknowledging_an_open_alert_records_who_and_why(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F]])
    alert_id = only_alert_id(store)
    with store.begin() as conn:
        result = actions.acknowledge_alert(conn, alert_id, user="ann", comment="rerunning", now=tick(1))
    assert result is not None and result.ok
    assert (result.state, result.acknowledged_by, result.acknowledged_at) == ("acknowledged", "ann", tick(1))
    with store.connect() as conn:
        record, events = read_alert(conn, alert_id)
    assert (record["state"], record["ack_comment"]) == ("acknowledged", "rerunning")
    assert [(e["event"], e["actor"], e["comment"]) for e in events][-1] == ("acknowledged", "ann", "rerunning")


def test_a_second_acknowledgement_is_told_who_was_first(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F]])
    alert_id = only_alert_id(store)
    with store.begin() as conn:
        actions.acknowledge_alert(conn, alert_id, user="ann", comment=None, now=tick(1))
        repeated = actions.acknowledge_alert(conn, alert_id, user="ann", comment=None, now=tick(2))
        rejected = actions.acknowledge_alert(conn, alert_id, user="bob", comment="mine", now=tick(2))
        record, events = read_alert(conn, alert_id)
    assert repeated is not None and rejected is not None
    assert (repeated.outcome, rejected.outcome) == ("already_acknowledged", "already_acknowledged")
    assert (rejected.acknowledged_by, rejected.acknowledged_at) == ("ann", tick(1))
    assert [e["event"] for e in events] == ["opened", "acknowledged", "ack_repeated", "ack_rejected"]
    assert record["acknowledged_by"] == "ann"


def test_acknowledging_a_resolved_or_unknown_alert_says_so(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F], []])
    alert_id = only_alert_id(store)
    with store.begin() as conn:
        resolved = actions.acknowledge_alert(conn, alert_id, user="ann", comment=None, now=tick(3))
        unknown = actions.acknowledge_alert(conn, alert_id + 1000, user="ann", comment=None, now=tick(3))
    assert resolved is not None and not resolved.ok
    assert (resolved.outcome, resolved.state) == ("resolved", "resolved")
    assert unknown is None


def wait_until_blocked(engine: sa.Engine, count: int = 1) -> None:
    """Wait until ``count`` sessions of this database wait on a lock."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 20
    # autocommit: pg_stat_activity is a snapshot that lasts as long as the reading transaction
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while conn.execute(query).scalar_one() < count:
            assert time.monotonic() < deadline, "the second session never waited for the first"
            time.sleep(0.02)


def test_of_two_concurrent_acknowledgements_exactly_one_wins(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F]])
    alert_id = only_alert_id(store)
    second: list[actions.AckResult | None] = []

    def bob() -> None:
        with store.begin() as conn:
            second.append(actions.acknowledge_alert(conn, alert_id, user="bob", comment=None, now=tick(1)))

    with store.begin() as conn:
        first = actions.acknowledge_alert(conn, alert_id, user="ann", comment=None, now=tick(1))
        other = threading.Thread(target=bob)
        other.start()
        wait_until_blocked(store)  # bob's UPDATE waits for ann's row lock
    other.join(timeout=20)
    assert first is not None and first.ok
    assert len(second) == 1 and second[0] is not None
    assert (second[0].outcome, second[0].acknowledged_by) == ("already_acknowledged", "ann")
    with store.connect() as conn:
        _, events = read_alert(conn, alert_id)
    assert [e["event"] for e in events] == ["opened", "acknowledged", "ack_rejected"]


def test_an_acknowledgement_during_a_tick_waits_and_sees_what_the_tick_did(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    play(store, dpdc, [[F]])
    alert_id = only_alert_id(store)
    outcome: list[actions.AckResult | None] = []

    def ann() -> None:
        with store.begin() as conn:
            outcome.append(actions.acknowledge_alert(conn, alert_id, user="ann", comment=None, now=tick(1)))

    with store.begin() as conn:
        alerts.sync_alerts(conn, dpdc, evaluation(tick(1)), recipients=ONCALL, render=RENDER, now=tick(1))
        other = threading.Thread(target=ann)
        other.start()
        wait_until_blocked(store)
    other.join(timeout=20)
    assert outcome[0] is not None and outcome[0].outcome == "resolved"


def test_an_acknowledged_alert_stays_acknowledged_until_it_clears(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[F]])
    alert_id = only_alert_id(store)
    with store.begin() as conn:
        actions.acknowledge_alert(conn, alert_id, user="ann", comment=None, now=tick(0) + dt.timedelta(minutes=5))
    sync(store, dpdc, evaluation(tick(1), [parse(F)]))
    assert state(store)["alerts"] == {F: ("acknowledged", 2, 1)}
    sync(store, dpdc, evaluation(tick(2)))
    got = state(store)
    assert got["alerts"] == {F: ("resolved", 2, 1)}
    assert got["mails"] == [f"{F}:opened:1", f"{F}:recovery:1"]


def test_a_manually_resolved_alert_stays_resolved_while_its_condition_holds(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    play(store, dpdc, [[F]])
    alert_id = only_alert_id(store)
    with store.begin() as conn:
        done = actions.resolve_alert(conn, alert_id, user="ann", comment="fixed by hand", now=tick(1))
        again = actions.resolve_alert(conn, alert_id, user="bob", comment=None, now=tick(1))
        unknown = actions.resolve_alert(conn, alert_id + 1000, user="bob", comment=None, now=tick(1))
    assert done is not None and done.ok and (done.resolved_by, done.resolution) == ("ann", "manual")
    assert again is not None and (again.outcome, again.resolved_by) == ("already_resolved", "ann")
    assert unknown is None

    sync(store, dpdc, evaluation(tick(2), [parse(F)]))  # still failed: no reopen, no mail
    got = state(store)
    assert got["alerts"] == {F: ("resolved", 2, 1)}
    assert got["mails"] == [f"{F}:opened:1"]

    sync(store, dpdc, evaluation(tick(3)))  # the condition clears...
    sync(store, dpdc, evaluation(tick(4), [parse(F)]))  # ...and comes back: a new opening
    got = state(store)
    assert got["alerts"] == {F: ("open", 3, 2)}
    assert got["mails"] == [f"{F}:opened:1", f"{F}:opened:2"]
    assert got["events"][F] == ["opened", "resolved", "reopened"]
    with store.connect() as conn:
        record, events = read_alert(conn, alert_id)
    assert [(e["event"], e["actor"]) for e in events] == [
        ("opened", "monitor"),
        ("resolved", "ann"),
        ("reopened", "monitor"),
    ]
    assert (record["resolved_at"], record["resolution"], record["acknowledged_by"]) == (None, None, None)
    assert (record["first_seen_at"], record["since"], record["last_seen_at"]) == (tick(0), tick(4), tick(4))


def test_the_api_lists_the_active_alerts_most_severe_first(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    play(store, dpdc, [[LATE], [LATE, F], [F, STUCK]])  # LATE resolves at the third tick
    with store.connect() as conn:
        listed = views.active_alerts(queries.active_alerts(conn, [WF]), {}).alerts
        day = queries.day_alerts(conn, WF, DAY)
    assert [(a.kind, a.severity) for a in listed] == [
        (FindingKind.STUCK, Severity.CRITICAL),  # newest first within a severity
        (FindingKind.FAILED, Severity.CRITICAL),
    ]
    assert [(a["kind"], a["state"]) for a in day] == [("LATE_START", "resolved"), ("FAILED", "open"), ("STUCK", "open")]


def test_a_deadline_missed_while_the_source_is_down_recovers_with_the_outage_in_one_mail(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    outage = finding(FindingKind.SOURCE_UNAVAILABLE, "_chain", title="CC&B cannot be read — ORA-12541")
    with store.begin() as conn:
        alerts.raise_condition(
            conn, dpdc, outage, business_date=DAY, as_of=tick(0), recipients=ONCALL, render=RENDER, now=tick(0)
        )
    chain = parse(CHAIN).model_copy(update={"title": "DPDC AMI daily billing not complete by its 22:00 deadline"})
    sync(store, dpdc, evaluation(tick(1), [chain]))  # the tick that reads CC&B again judges the missed ones
    with store.begin() as conn:  # ...and then the outage clears, but the deadline breach still holds
        cleared = alerts.clear_condition(
            conn,
            dpdc,
            FindingKind.SOURCE_UNAVAILABLE,
            as_of=tick(1),
            recipients=ONCALL,
            render=RENDER,
            now=tick(1),
        )
    assert (cleared.resolved, cleared.mails_queued) == (1, 0)
    with store.connect() as conn:
        waiting = conn.execute(
            sa.select(schema.alert_events.c.details).where(schema.alert_events.c.event == "resolved")
        ).scalar_one()
    assert waiting["email"]["reason"] == "1 alert(s) of this incident still hold: the recovery mail waits for them"
    last = sync(store, dpdc, evaluation(tick(4), []))  # the chain completes: the incident is over
    assert last.mails_queued == 1

    with store.connect() as conn:
        rows = {r.kind: r for r in conn.execute(sa.select(schema.alerts))}
        mails = conn.execute(sa.select(schema.email_outbox).order_by(schema.email_outbox.c.id)).mappings().all()
    cause = rows["SOURCE_UNAVAILABLE"]
    assert rows["MISSED_DEADLINE"].incident_id == cause.incident_id == cause.id
    assert [(m["kind"], m["alert_id"]) for m in mails] == [("alert", cause.id), ("recovery", cause.id)]
    recovery = mails[1]
    assert recovery["subject"].startswith("[RESOLVED] Workflow cannot be read")
    assert "Lasted:        1h 00m" in recovery["body_text"]  # from the outage to the end of the breach
    assert "2 alerts (this cause and 1 consequence(s)), all cleared" in recovery["body_text"]
    assert "What it cost:\n  - DPDC AMI daily billing not complete by its 22:00 deadline" in recovery["body_text"]


def test_a_cause_that_clears_before_its_consequences_says_its_recovery_mail_waits(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    play(store, dpdc, [[STUCK], [STUCK, CHAIN], [CHAIN]])
    with store.connect() as conn:
        resolved = conn.execute(
            sa.select(schema.alert_events.c.details)
            .join(schema.alerts, schema.alerts.c.id == schema.alert_events.c.alert_id)
            .where(schema.alerts.c.kind == "STUCK", schema.alert_events.c.event == "resolved")
        ).scalar_one()
        mails = conn.execute(sa.select(sa.func.count()).select_from(schema.email_outbox)).scalar_one()
    assert resolved["email"]["reason"] == "1 alert(s) of this incident still hold: the recovery mail waits for them"
    assert mails == 1  # the stuck step's mail; the chain deadline is its consequence
