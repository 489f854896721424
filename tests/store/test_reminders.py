"""Reminders and escalation of unacknowledged CRITICAL incidents, tick by tick on a real PostgreSQL.

Each tick is one transaction, as in the DAG's persist task: sync the findings, then remind as of
the tick. Mails are read back from the outbox: (tick, dedupe tag, recipients).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from tests.support.evaluations import evaluation

from batch_monitor import pipeline
from batch_monitor.alerting import SyncResult
from batch_monitor.config import WorkflowConfig
from batch_monitor.store import actions, alerts, schema

from .conftest import ONCALL, PAGE, RENDER, T0, tick
from .test_alerts import parse

F = "FAILED:C1-PPBTR"
CHAIN = "MISSED_DEADLINE:_chain"
BOSS = ["ops-manager@dpdc.example"]
ON = ONCALL[0]
BOTH = (ON, BOSS[0])


def workflow(
    dpdc: WorkflowConfig, remind: str = "1h", escalate: str = "1h", to: list[str] | None = None
) -> WorkflowConfig:
    return dpdc.model_validate(
        {**dpdc.model_dump(), "remind_every": remind, "escalate_after": escalate, "escalate_to": to or []}
    )


def play_tick(
    engine: sa.Engine, wf: WorkflowConfig, n: int, specs: list[str], escalate_to: list[str] | None = None
) -> SyncResult:
    """Tick ``n``: sync its findings, then remind as of it (as pipeline.persist does)."""
    ev = evaluation(tick(n), [parse(s) for s in specs])
    with engine.begin() as conn:
        alerts.sync_alerts(conn, wf, ev, recipients=ONCALL, render=RENDER, now=ev.as_of)
        return alerts.remind(
            conn,
            wf,
            as_of=ev.as_of,
            recipients=ONCALL,
            escalate_to=list(wf.escalate_to) if escalate_to is None else escalate_to,
            render=RENDER,
            now=ev.as_of,
        )


def acknowledge(engine: sa.Engine, n: int, identity: str = F) -> None:
    kind, step_id = identity.split(":")
    with engine.begin() as conn:
        alert_id = conn.execute(
            sa.select(schema.alerts.c.id).where(schema.alerts.c.kind == kind, schema.alerts.c.step_id == step_id)
        ).scalar_one()
        actions.acknowledge_alert(conn, alert_id, user="op1", comment="on it", now=tick(n))


def mails(engine: sa.Engine) -> list[tuple[int, str, tuple[str, ...]]]:
    """(tick the mail was queued in, dedupe tag, recipients), in the order queued."""
    t = schema.email_outbox
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.created_at, t.c.dedupe_key, t.c.recipients).order_by(t.c.id)).all()
    return [
        (int((r.created_at - T0) / dt.timedelta(minutes=15)), r.dedupe_key.split(":", 2)[2], tuple(r.recipients))
        for r in rows
    ]


@dataclass
class Case:
    ticks: list[list[str]]
    mails: list[tuple[int, str, tuple[str, ...]]]
    remind: str = "1h"
    escalate: str = "1h"
    escalate_to: list[str] = field(default_factory=list)
    acks: tuple[int, ...] = ()  # acknowledge the failure right after these ticks


CASES = {
    "an unacknowledged failure is reminded every remind_every": Case(
        ticks=[[F]] * 13,
        mails=[
            (0, "opened:1", (ON,)),
            (4, "reminder:1:1", (ON,)),
            (8, "reminder:1:2", (ON,)),
            (12, "reminder:1:3", (ON,)),
        ],
    ),
    "remind_every 0: no reminders": Case(ticks=[[F]] * 13, remind="0m", mails=[(0, "opened:1", (ON,))]),
    "acknowledged: no reminders": Case(ticks=[[F]] * 13, acks=(2,), mails=[(0, "opened:1", (ON,))]),
    "acknowledged after a reminder: no more": Case(
        ticks=[[F]] * 13, acks=(5,), mails=[(0, "opened:1", (ON,)), (4, "reminder:1:1", (ON,))]
    ),
    "resolved: no more reminders, one recovery mail": Case(
        ticks=[[F]] * 6 + [[]] * 7,
        mails=[(0, "opened:1", (ON,)), (4, "reminder:1:1", (ON,)), (6, "recovery:1", (ON,))],
    ),
    "a failure that comes back is reminded afresh, counting from its new mail": Case(
        ticks=[[F]] * 2 + [[]] + [[F]] * 5,
        mails=[(0, "opened:1", (ON,)), (2, "recovery:1", (ON,)), (3, "opened:2", (ON,)), (7, "reminder:2:1", (ON,))],
    ),
    "after escalate_after its mails also go to escalate_to": Case(
        ticks=[[F]] * 13,
        remind="2h",
        escalate="1h",
        escalate_to=BOSS,
        mails=[(0, "opened:1", (ON,)), (4, "escalation:1", BOTH), (8, "reminder:1:1", BOTH)],
    ),
    "escalation and a reminder due at once are one mail, to both": Case(
        ticks=[[F]] * 9,
        remind="1h",
        escalate="1h",
        escalate_to=BOSS,
        mails=[(0, "opened:1", (ON,)), (4, "reminder:1:1", BOTH), (8, "reminder:1:2", BOTH)],
    ),
    "acknowledged before escalate_after: never escalated": Case(
        ticks=[[F]] * 9, remind="0m", escalate="1h", escalate_to=BOSS, acks=(3,), mails=[(0, "opened:1", (ON,))]
    ),
    "a consequence is not reminded on its own": Case(
        ticks=[[F]] + [[F, CHAIN]] * 8,
        remind="1h",
        mails=[(0, "opened:1", (ON,)), (4, "reminder:1:1", (ON,)), (8, "reminder:1:2", (ON,))],
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_reminders_and_escalation(store: sa.Engine, dpdc: WorkflowConfig, case: Case) -> None:
    wf = workflow(dpdc, case.remind, case.escalate, case.escalate_to)
    for n, specs in enumerate(case.ticks):
        play_tick(store, wf, n, specs)
        if n in case.acks:
            acknowledge(store, n)
    assert mails(store) == case.mails


def subjects(engine: sa.Engine) -> list[str]:
    t = schema.email_outbox
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.c.subject).order_by(t.c.id)).scalars())


def test_a_reminder_says_what_changed_since_the_last_mail(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    wf = workflow(dpdc, "1h")
    for n in range(9):
        play_tick(store, wf, n, [F, CHAIN] if n >= 2 else [F])
    first, second, third = subjects(store)
    assert first.startswith("[CRITICAL] C1-PPBTR")
    assert second.startswith("[REMINDER] C1-PPBTR failed: chain deadline now missed")
    assert third.startswith("[REMINDER] C1-PPBTR failed: no change")


def test_the_variable_list_given_at_the_edge_replaces_the_yaml_escalate_to(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    wf = workflow(dpdc, "0m", "1h", to=["yaml-boss@dpdc.example"])
    for n in range(5):
        play_tick(store, wf, n, [F], escalate_to=["variable-boss@dpdc.example"])
    assert mails(store)[-1] == (4, "escalation:1", (ON, "variable-boss@dpdc.example"))


def test_a_replayed_or_caught_up_tick_never_doubles_a_reminder(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    wf = workflow(dpdc, "1h", "1h", BOSS)
    play_tick(store, wf, 0, [F])
    play_tick(store, wf, 4, [F])
    play_tick(store, wf, 4, [F])  # the same tick again
    play_tick(store, wf, 3, [F])  # an older tick arriving late
    play_tick(store, wf, 12, [F])  # ticks 5..11 missed: one reminder, not eight
    play_tick(store, wf, 12, [F])
    assert mails(store) == [(0, "opened:1", (ON,)), (4, "reminder:1:1", BOTH), (12, "reminder:1:2", BOTH)]
    with store.connect() as conn:
        row = conn.execute(sa.select(schema.alerts)).one()
    assert (row.reminders, row.escalated_at, row.last_mailed_at) == (2, tick(4), tick(12))


def test_a_source_outage_is_reminded_at_the_ticks_that_cannot_read_it(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    wf = workflow(dpdc, "1h")
    for n in range(9):  # CC&B down for two hours: persist never runs, the outage callback does
        pipeline.record_source_unavailable(
            store, wf, tick(n), "ORA-12541: TNS:no listener", recipients=ONCALL, page_url_base=PAGE, now=tick(n)
        )
    assert mails(store) == [(0, "opened:1", (ON,)), (4, "reminder:1:1", (ON,)), (8, "reminder:1:2", (ON,))]
    reminder = subjects(store)[1]
    assert reminder.startswith("[REMINDER] Workflow cannot be read") and ": no change — " in reminder
