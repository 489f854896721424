"""'What to do' fits the alert: each kind its own advice, a step's runbook only where it is given."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from batch_monitor.advice import advice
from batch_monitor.config import StepConfig, WorkflowConfig, parse_workflow
from batch_monitor.constants import FindingKind

STEP_KINDS = [
    FindingKind.FAILED,
    FindingKind.STUCK,
    FindingKind.LONG_RUNNING,
    FindingKind.LOW_THROUGHPUT,
    FindingKind.LATE_START,
    FindingKind.MISSED_DEADLINE,
    FindingKind.OUT_OF_ORDER,
    FindingKind.EMPTY_RUN,
    FindingKind.UNUSUAL_VOLUME,
]

WORKFLOW = """
workflow_id: demo
steps:
  - batch_code: PLAIN
  - batch_code: ONE-TEXT
    runbook: Call the batch team.
  - batch_code: PER-KIND
    runbook:
      FAILED: On ORA- errors check the database link, then resubmit PER-KIND.
      STUCK: Kill the thread on node 2 and restart it.
"""


def steps() -> dict[str, StepConfig]:
    workflow: WorkflowConfig = parse_workflow(textwrap.dedent(WORKFLOW), Path("demo.yaml"))
    return {s.id: s for s in workflow.steps}


def test_each_kind_of_alert_on_a_step_has_its_own_advice_naming_the_step() -> None:
    plain = steps()["PLAIN"]
    texts = {kind: advice(kind, plain) for kind in STEP_KINDS}
    assert all(texts.values())
    assert len(set(texts.values())) == len(STEP_KINDS)
    assert "PLAIN" in texts[FindingKind.LOW_THROUGHPUT] and "PLAIN" in texts[FindingKind.LATE_START]


def test_a_runbook_given_per_kind_shows_only_for_those_kinds() -> None:
    step = steps()["PER-KIND"]
    assert advice(FindingKind.FAILED, step).startswith("On ORA- errors")
    assert advice(FindingKind.STUCK, step) == "Kill the thread on node 2 and restart it."
    for kind in (FindingKind.LOW_THROUGHPUT, FindingKind.LONG_RUNNING, FindingKind.MISSED_DEADLINE):
        assert "ORA-" not in advice(kind, step)
        assert advice(kind, step) == advice(kind, steps()["PLAIN"]).replace("PLAIN", "PER-KIND")


def test_one_runbook_text_stands_for_every_kind() -> None:
    step = steps()["ONE-TEXT"]
    assert {advice(kind, step) for kind in STEP_KINDS} == {"Call the batch team."}


def test_a_breach_already_over_gets_advice_for_afterwards() -> None:
    plain = steps()["PLAIN"]
    for kind in (FindingKind.LATE_START, FindingKind.MISSED_DEADLINE):
        assert advice(kind, plain, closed=True) != advice(kind, plain)
        assert "since" in advice(kind, plain, closed=True)


@pytest.mark.parametrize(
    "kind", [FindingKind.AT_RISK, FindingKind.MISSED_DEADLINE, FindingKind.DATA_QUALITY, FindingKind.SOURCE_UNAVAILABLE]
)
def test_alerts_about_the_whole_chain_have_advice_too(kind: FindingKind) -> None:
    assert advice(kind, None)
