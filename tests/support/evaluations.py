"""Builders of evaluations, findings and runs, so each test states only the steps, findings and runs
it cares about (the store's tests, the digest's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from batch_monitor.constants import SEVERITY_OF_KIND, FindingKind, RunStatus, Severity, StepStatus
from batch_monitor.models import Evaluation, Finding, Progress, RunView, StepState

DAY = dt.date(2026, 11, 24)


def finding(kind: FindingKind, step_id: str = "C1-PPBTR", severity: Severity | None = None, **extra: Any) -> Finding:
    values: dict[str, Any] = {
        "kind": kind,
        "severity": severity or SEVERITY_OF_KIND[kind],
        "step_id": step_id,
        "batch_code": step_id if step_id != "_chain" else "",
        "title": f"{step_id} {kind.value.lower()}",
    }
    return Finding(**(values | extra))


def run(step_id: str, nbr: int, rerun: int = 0, status: RunStatus = RunStatus.COMPLETE, **extra: Any) -> RunView:
    values: dict[str, Any] = {
        "batch_cd": step_id,
        "batch_nbr": nbr,
        "rerun_nbr": rerun,
        "step_id": step_id,
        "status": status,
    }
    return RunView(**(values | extra))


def step(step_id: str, position: int, status: StepStatus = StepStatus.RUNNING, **extra: Any) -> StepState:
    """A step's state: its batch code and name are its id unless given."""
    values: dict[str, Any] = {
        "step_id": step_id,
        "batch_code": step_id,
        "name": step_id,
        "position": position,
        "status": status,
    }
    return StepState(**(values | extra))


def evaluation(
    as_of: dt.datetime,
    findings: Iterable[Finding] = (),
    runs: Iterable[RunView] = (),
    progress: dict[str, Progress] | None = None,
    *,
    steps: Iterable[StepState] | None = None,
    workflow_id: str = "dpdc_ami",
    business_date: dt.date = DAY,
    chain_status: StepStatus = StepStatus.RUNNING,
    **extra: Any,
) -> Evaluation:
    """An evaluation holding ``findings`` and ``steps``; without ``steps``, each run is put in a
    running step of its own batch code. ``extra``: any other Evaluation field (chain_finish_by, ...)."""
    if steps is None:
        by_step: dict[str, list[RunView]] = {}
        for r in runs:
            by_step.setdefault(r.step_id, []).append(r)
        steps = [step(s, i, runs=rs) for i, (s, rs) in enumerate(by_step.items())]
    values: dict[str, Any] = {
        "workflow_id": workflow_id,
        "business_date": business_date,
        "as_of": as_of,
        "timezone": "Asia/Dhaka",
        "chain_status": chain_status,
        "steps": list(steps),
        "findings": list(findings),
        "progress": progress or {},
    }
    return Evaluation(**(values | extra))
