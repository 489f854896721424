"""Grouping the day's conditions into incidents: one root cause plus its consequences. Pure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.support.workflows import load_test_workflow

from batch_monitor.config import load_workflow
from batch_monitor.constants import StepStatus
from batch_monitor.incidents import Condition, at_risk, dependency_graph, downstream, group, what_changed
from batch_monitor.models import Evaluation, StepState

ROOT = Path(__file__).resolve().parents[2]
LINEAR = dependency_graph(load_test_workflow("dpdc_ami"))
# LOAD feeds BILL_A and BILL_B side by side; MERGE waits for both
DIAMOND = dependency_graph(load_workflow(ROOT / "tests" / "e2e" / "data" / "workflows" / "branches.yaml"))


def cond(spec: str, order: int, holds: bool = True, kept: str | None = None) -> Condition:
    """'FAILED:C1-PPBTR' → a condition; ``kept``: the cause it is already grouped under."""
    kind, step = spec.split(":")
    under = None if kept is None else (kept.split(":")[1], kept.split(":")[0])
    return Condition(step_id=step, kind=kind, holds=holds, order=order, kept=under)


def causes(conditions: list[Condition], graph: dict[str, list[str]]) -> dict[str, str]:
    """'KIND:step' → 'KIND:step' of its cause."""
    placed = group(conditions, graph)
    return {f"{k}:{s}": f"{ck}:{cs}" for (s, k), (cs, ck) in placed.items()}


def test_a_linear_chain_groups_every_later_deadline_and_the_chains_under_the_failure() -> None:
    found = [
        cond("FAILED:C1-PPBTR", 1),
        cond("MISSED_DEADLINE:C1-PPBTR", 2),
        cond("MISSED_DEADLINE:F1-FLUSH", 3),
        cond("LATE_START:CM_BSGGN", 4),
        cond("MISSED_DEADLINE:BILLRESTSMS", 5),
        cond("MISSED_DEADLINE:_chain", 6),
        cond("MISSED_DEADLINE:D1-IMD", 7),  # upstream of the failure: not explained by it
        cond("LONG_RUNNING:CM-DMRU", 8),  # not a consequence kind
    ]
    got = causes(found, LINEAR)
    assert {k for k, c in got.items() if c == "FAILED:C1-PPBTR"} == {
        "FAILED:C1-PPBTR",
        "MISSED_DEADLINE:C1-PPBTR",
        "MISSED_DEADLINE:F1-FLUSH",
        "LATE_START:CM_BSGGN",
        "MISSED_DEADLINE:BILLRESTSMS",
        "MISSED_DEADLINE:_chain",
    }
    assert got["MISSED_DEADLINE:D1-IMD"] == "MISSED_DEADLINE:D1-IMD"
    assert got["LONG_RUNNING:CM-DMRU"] == "LONG_RUNNING:CM-DMRU"


def test_in_a_diamond_a_branch_failure_explains_the_join_but_not_the_other_branch() -> None:
    assert downstream(DIAMOND, "BILL_A") == ["MERGE"]
    got = causes(
        [cond("FAILED:BILL_A", 1), cond("MISSED_DEADLINE:BILL_B", 2), cond("MISSED_DEADLINE:MERGE", 3)], DIAMOND
    )
    assert got["MISSED_DEADLINE:MERGE"] == "FAILED:BILL_A"
    assert got["MISSED_DEADLINE:BILL_B"] == "MISSED_DEADLINE:BILL_B"  # a root cause of its own


def test_two_independent_causes_are_two_incidents_and_a_shared_consequence_goes_with_the_earlier() -> None:
    got = causes(
        [
            cond("FAILED:BILL_B", 1),
            cond("STUCK:BILL_A", 2),
            cond("MISSED_DEADLINE:BILL_A", 3),
            cond("MISSED_DEADLINE:MERGE", 4),
        ],
        DIAMOND,
    )
    assert got["FAILED:BILL_B"] == "FAILED:BILL_B" and got["STUCK:BILL_A"] == "STUCK:BILL_A"
    assert got["MISSED_DEADLINE:BILL_A"] == "STUCK:BILL_A"
    assert got["MISSED_DEADLINE:MERGE"] == "FAILED:BILL_B"  # both explain it; BILL_B failed first


def test_a_rerun_that_fails_again_keeps_its_consequences_in_the_same_incident() -> None:
    cause = "FAILED:C1-PPBTR"
    # the rerun runs: the failure no longer holds, the deadline it cost stays in its incident
    rerunning = causes([cond(cause, 1, holds=False), cond("MISSED_DEADLINE:C1-PPBTR", 2, kept=cause)], LINEAR)
    assert rerunning["MISSED_DEADLINE:C1-PPBTR"] == cause
    # the rerun fails: the cause holds again; old and new consequences are all under it
    failed_again = causes(
        [
            cond(cause, 1),
            cond("MISSED_DEADLINE:C1-PPBTR", 2, kept=cause),
            cond("MISSED_DEADLINE:F1-FLUSH", 3),
        ],
        LINEAR,
    )
    assert set(failed_again.values()) == {cause}


def test_a_consequence_outlives_its_cause_but_a_new_breach_after_it_cleared_is_its_own() -> None:
    got = causes(
        [
            cond("FAILED:C1-PPBTR", 1, holds=False),  # the rerun completed
            cond("MISSED_DEADLINE:_chain", 2, kept="FAILED:C1-PPBTR"),  # still late: stays in the incident
            cond("MISSED_DEADLINE:BILLRESTSMS", 3),  # opened after the cause cleared: nothing explains it
        ],
        LINEAR,
    )
    assert got["MISSED_DEADLINE:_chain"] == "FAILED:C1-PPBTR"
    assert got["MISSED_DEADLINE:BILLRESTSMS"] == "MISSED_DEADLINE:BILLRESTSMS"


def test_a_breach_already_root_stays_root_when_a_cause_opens_later() -> None:
    got = causes(
        [cond("MISSED_DEADLINE:F1-FLUSH", 1, kept="MISSED_DEADLINE:F1-FLUSH"), cond("STUCK:C1-PPBTR", 2)], LINEAR
    )
    assert got["MISSED_DEADLINE:F1-FLUSH"] == "MISSED_DEADLINE:F1-FLUSH"


def test_the_source_down_explains_every_steps_lateness() -> None:
    got = causes(
        [cond("SOURCE_UNAVAILABLE:_chain", 1), cond("LATE_START:CM-DMRU", 2), cond("MISSED_DEADLINE:_chain", 3)],
        LINEAR,
    )
    assert set(got.values()) == {"SOURCE_UNAVAILABLE:_chain"}


def test_what_a_cause_puts_at_risk_is_the_unfinished_steps_after_it_and_the_chain() -> None:
    t = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)

    def step(step_id: str, position: int, status: StepStatus) -> StepState:
        return StepState(
            step_id=step_id, batch_code=step_id, name=step_id.title(), position=position, status=status, finish_by=t
        )

    ev = Evaluation(
        workflow_id="branches",
        business_date=t.date(),
        as_of=t,
        timezone="Asia/Dhaka",
        chain_status=StepStatus.WAITING,
        steps=[
            step("LOAD", 0, StepStatus.COMPLETE),
            step("BILL_A", 1, StepStatus.FAILED),
            step("BILL_B", 2, StepStatus.RUNNING),
            step("MERGE", 3, StepStatus.WAITING),
        ],
        findings=[],
        chain_finish_by=t,
        predicted_chain_end=t + dt.timedelta(hours=2),
    )
    risks = at_risk(ev, DIAMOND, "BILL_A")
    assert [(r.label, r.predicted_end) for r in risks] == [
        ("MERGE (Merge)", None),
        ("Chain", t + dt.timedelta(hours=2)),
    ]
    assert [r.label for r in at_risk(ev, DIAMOND, "LOAD")] == [
        "BILL_A (Bill_A)",
        "BILL_B (Bill_B)",
        "MERGE (Merge)",
        "Chain",
    ]


@pytest.mark.parametrize(
    ("before", "now", "said"),
    [
        ([], [], "no change"),
        ([["F1-FLUSH", "MISSED_DEADLINE"]], [["F1-FLUSH", "MISSED_DEADLINE"]], "no change"),
        ([], [["_chain", "MISSED_DEADLINE"]], "chain deadline now missed"),
        ([], [["CM_BSGGN", "AT_RISK"], ["BILLRESTSMS", "AT_RISK"]], "2 more steps at risk"),
        (
            [["F1-FLUSH", "MISSED_DEADLINE"]],
            [["F1-FLUSH", "MISSED_DEADLINE"], ["CM_BSGGN", "MISSED_DEADLINE"], ["_chain", "MISSED_DEADLINE"]],
            "chain deadline now missed, 1 more step missed its deadline",
        ),
        ([["F1-FLUSH", "LATE_START"]], [], "1 consequence cleared"),
    ],
)
def test_a_reminder_says_what_changed_in_the_incident(before: list[list[str]], now: list[list[str]], said: str) -> None:
    assert what_changed(before, now) == said
