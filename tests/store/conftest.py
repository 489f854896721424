"""Fixtures for the store tests: the DPDC workflow and small builders for evaluations, so each
test states only the findings and runs it cares about. The migrated database is the shared
``store`` fixture of tests/conftest.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from tests.support.workflows import load_test_workflow

from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import SEVERITY_OF_KIND, FindingKind, RunStatus, Severity, StepStatus
from batch_monitor.models import Evaluation, Finding, Progress, RunView, StepState
from batch_monitor.notify.alert_mail import renderer

DAY = dt.date(2026, 11, 24)
T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # 07:00 in Dhaka
PAGE = "https://airflow.example"
ONCALL = ["ccb-oncall@dpdc.example"]
RENDER = renderer(PAGE)  # the alert mails' content, as the pipeline hands it to the store


def tick(n: int) -> dt.datetime:
    """The as-of time of the n-th 15-minute tick after T0."""
    return T0 + dt.timedelta(minutes=15 * n)


@pytest.fixture(scope="session")
def dpdc() -> WorkflowConfig:
    """The DPDC AMI chain (the tests' copy: CRITICAL alerts are mailed, warnings are not)."""
    return load_test_workflow("dpdc_ami")


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


def evaluation(
    as_of: dt.datetime,
    findings: Iterable[Finding] = (),
    runs: Iterable[RunView] = (),
    progress: dict[str, Progress] | None = None,
    *,
    workflow_id: str = "dpdc_ami",
    business_date: dt.date = DAY,
) -> Evaluation:
    """An evaluation holding ``findings``; each run is put in a step of its own batch code."""
    by_step: dict[str, list[RunView]] = {}
    for r in runs:
        by_step.setdefault(r.step_id, []).append(r)
    steps = [
        StepState(step_id=s, batch_code=s, name=s, position=i, status=StepStatus.RUNNING, runs=rs)
        for i, (s, rs) in enumerate(by_step.items())
    ]
    return Evaluation(
        workflow_id=workflow_id,
        business_date=business_date,
        as_of=as_of,
        timezone="Asia/Dhaka",
        chain_status=StepStatus.RUNNING,
        steps=steps,
        findings=list(findings),
        progress=progress or {},
    )
