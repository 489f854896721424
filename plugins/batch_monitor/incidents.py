"""Incidents: one root cause plus its consequences, worked out from the dependency graph. Pure.

A *cause* is a FAILED, STUCK or SOURCE_UNAVAILABLE condition. A LATE_START, AT_RISK or
MISSED_DEADLINE is a *consequence* of an open cause when it concerns the cause's own step, a
step downstream of it through ``depends_on``, or the whole chain (``_chain``); a cause on the
chain itself (the source down) explains every step. A consequence that no open cause explains
is a root cause of its own, and so is every other kind of condition.

Grouping is sticky: a condition already placed under a cause stays there while it keeps
holding, even once the cause has cleared (a deadline missed because of a failure stays part of
that failure's incident until the deadline breach is over). A condition that opens or reopens
is placed afresh. Of two open causes that both explain a condition, the earlier one wins.

No Airflow, no database: the store hands in the day's conditions and the workflow's graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batch_monitor.config import WorkflowConfig, graph_order
from batch_monitor.constants import CHAIN_STEP_ID, FindingKind, StepStatus
from batch_monitor.models import AtRisk, Evaluation

CAUSE_KINDS = frozenset({FindingKind.FAILED.value, FindingKind.STUCK.value, FindingKind.SOURCE_UNAVAILABLE.value})
# AT_RISK: the forecast's finding (evaluate.py); grouped like the other two
CONSEQUENCE_KINDS = frozenset(
    {FindingKind.LATE_START.value, FindingKind.MISSED_DEADLINE.value, FindingKind.AT_RISK.value}
)

Identity = tuple[str, str]  # (step_id, kind), unique among one workflow's alerts of one day
Graph = Mapping[str, Iterable[str]]  # step id -> the step ids it depends on


@dataclass(frozen=True)
class Condition:
    """One alert of the day as the grouping sees it."""

    step_id: str
    kind: str
    holds: bool  # the condition holds as of the tick
    order: int = 0  # earlier conditions first (the alert id, or the order found); breaks ties
    kept: Identity | None = None  # the cause it stays under (sticky); None: place it afresh

    @property
    def identity(self) -> Identity:
        return (self.step_id, self.kind)


def dependency_graph(workflow: WorkflowConfig) -> dict[str, list[str]]:
    """Each step's id and the ids of the steps it depends on."""
    return {s.id: list(s.depends_on or []) for s in workflow.steps}


def chain_order(graph: Graph) -> list[str]:
    """Every step, each after the steps it depends on."""
    return graph_order(graph)


def downstream(graph: Graph, step_id: str, order: list[str] | None = None) -> list[str]:
    """The steps after ``step_id`` through ``depends_on``, in the chain's order (``_chain``: all).
    ``order``: :func:`chain_order` of the graph, when the caller has it already."""
    order = chain_order(graph) if order is None else order
    if step_id == CHAIN_STEP_ID:
        return order
    reached: set[str] = {step_id}
    for node in order:  # predecessors come first, so one pass reaches every descendant
        if any(dep in reached for dep in graph.get(node, ())):
            reached.add(node)
    return [node for node in order if node in reached and node != step_id]


def group(conditions: Iterable[Condition], graph: Graph) -> dict[Identity, Identity]:
    """Each condition's cause: its own identity for a root cause, else the cause it is grouped under.

    A kept placement stands while the cause it names is among the conditions; a condition placed
    afresh (just opened or reopened, or recorded already over) goes under the earliest open cause
    that explains it, and is its own root if none does.
    """
    listed = sorted(conditions, key=lambda c: c.order)
    by_identity = {c.identity: c for c in listed}
    order = chain_order(graph)
    # each open cause with the steps whose lateness it explains: its own, those after it, the chain's
    open_causes = [
        (c, {c.step_id, CHAIN_STEP_ID, *downstream(graph, c.step_id, order)})
        for c in listed
        if c.kind in CAUSE_KINDS and c.holds
    ]
    placed: dict[Identity, Identity] = {}
    for condition in listed:
        if condition.kind in CAUSE_KINDS:
            placed[condition.identity] = condition.identity
            continue
        if condition.kept is not None and condition.kept in by_identity:
            placed[condition.identity] = condition.kept
            continue
        explained = condition.kind in CONSEQUENCE_KINDS
        cause = next((c for c, reach in open_causes if explained and condition.step_id in reach), None)
        placed[condition.identity] = cause.identity if cause is not None else condition.identity
    return placed


def members(placed: Mapping[Identity, Identity], cause: Identity) -> list[Identity]:
    """The conditions grouped under ``cause``, the cause first."""
    return [cause, *(i for i, c in placed.items() if c == cause and i != cause)]


def at_risk(ev: Evaluation, graph: Graph, cause_step: str, order: list[str] | None = None) -> list[AtRisk]:
    """What a cause at ``cause_step`` puts at risk as of ``ev``: the unfinished steps downstream of
    it (in the chain's order) and the chain's deadline, each with its predicted finish if known.
    ``order``: :func:`chain_order` of the graph, when the caller has it already."""
    states = {s.step_id: s for s in ev.steps}
    done = {StepStatus.COMPLETE, StepStatus.SKIPPED}
    items = [
        AtRisk(label=f"{state.batch_code} ({state.name})", finish_by=state.finish_by, predicted_end=state.predicted_end)
        for step_id in downstream(graph, cause_step, order)
        if (state := states.get(step_id)) is not None and state.status not in done
    ]
    if ev.chain_finish_by is not None and ev.chain_status not in done:
        items.append(AtRisk(label="Chain", finish_by=ev.chain_finish_by, predicted_end=ev.predicted_chain_end))
    return items


def _steps(count: int, what: str) -> str:
    return f"{count} more step{'s' if count != 1 else ''} {what}"


def what_changed(before: Iterable[Iterable[str]], now: Iterable[Iterable[str]]) -> str:
    """What a reminder says changed in an incident since its last mail, from its consequences
    ((step_id, kind) pairs that held) then and now: "chain deadline now missed", "2 more steps at
    risk", "1 consequence cleared"; "no change" when the same ones hold."""
    then = {(str(step), str(kind)) for step, kind in before}
    current = {(str(step), str(kind)) for step, kind in now}
    new = current - then
    parts: list[str] = []
    chain = {kind for step, kind in new if step == CHAIN_STEP_ID}
    if FindingKind.MISSED_DEADLINE.value in chain:
        parts.append("chain deadline now missed")
    elif "AT_RISK" in chain:
        parts.append("chain deadline now at risk")
    by_kind = [kind for step, kind in new if step != CHAIN_STEP_ID]
    for kind, what in (
        (FindingKind.MISSED_DEADLINE.value, "missed their deadline"),
        ("AT_RISK", "at risk"),
        (FindingKind.LATE_START.value, "late to start"),
    ):
        if count := by_kind.count(kind):
            parts.append(_steps(count, "missed its deadline" if what.startswith("missed") and count == 1 else what))
    if not parts and (cleared := len(then - current)):
        parts.append(f"{cleared} consequence{'s' if cleared != 1 else ''} cleared")
    return ", ".join(parts) or "no change"
