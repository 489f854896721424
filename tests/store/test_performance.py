"""Persisting a very large evaluation takes a handful of statements, not one per step."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.support.evaluations import evaluation, finding, run

from batch_monitor.alerting import SyncResult
from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.constants import FindingKind, RunStatus
from batch_monitor.models import Evaluation, Progress
from batch_monitor.store import alerts, repository, schema

from .conftest import ONCALL, RENDER, T0, tick

STEPS = 5000
CRITICAL = 10  # failed steps (mailed)
WARNINGS = 1500  # late steps (page only)


def big_workflow() -> WorkflowConfig:
    lines = ["workflow_id: big_chain", "timezone: Asia/Dhaka", "steps:"]
    lines += [f"  - batch_code: B{i:05d}\n    depends_on: []" for i in range(STEPS)]
    return parse_workflow("\n".join(lines), path=Path("big_chain.yaml"))


def big_evaluation(n: int, failed: int) -> Evaluation:
    codes = [f"B{i:05d}" for i in range(STEPS)]
    findings = [finding(FindingKind.FAILED, c) for c in codes[:failed]]
    findings += [finding(FindingKind.LATE_START, c) for c in codes[CRITICAL : CRITICAL + WARNINGS]]
    runs = [run(c, 1000 + i, status=RunStatus.RUNNING, start=T0, records=10 * n) for i, c in enumerate(codes)]
    progress = {
        f"{c}:{1000 + i}:0": Progress(records=10 * n, threads_done=0, changed_at=tick(n), seen_at=tick(n))
        for i, c in enumerate(codes)
    }
    return evaluation(tick(n), findings, runs, progress, workflow_id="big_chain")


@contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def persist(engine: sa.Engine, workflow: WorkflowConfig, ev: Evaluation) -> tuple[SyncResult, list[str]]:
    with counting(engine) as statements, engine.begin() as conn:
        repository.upsert_runs(conn, workflow.workflow_id, ev)
        result = alerts.sync_alerts(conn, workflow, ev, recipients=ONCALL, render=RENDER, now=ev.as_of)
        repository.save_evaluation(conn, ev)
    return result, statements


def test_a_5000_step_tick_is_persisted_in_a_handful_of_statements(store: sa.Engine) -> None:
    workflow = big_workflow()
    with counting(store) as config_statements, store.begin() as conn:
        repository.save_workflow_config(conn, workflow, T0)
    assert len(config_statements) <= 3

    started = time.monotonic()
    first, statements = persist(store, workflow, big_evaluation(1, failed=CRITICAL))
    assert (first.opened, first.mails_queued) == (CRITICAL + WARNINGS, CRITICAL)
    # one INSERT per mail (outbox.enqueue); one UPDATE starts the mailed alerts' reminder clocks;
    # one SELECT reads the silences in effect
    assert len(statements) <= 10 + first.mails_queued

    second, statements = persist(store, workflow, big_evaluation(2, failed=0))
    elapsed = time.monotonic() - started
    assert (second.seen, second.resolved, second.mails_queued) == (WARNINGS, CRITICAL, CRITICAL)
    assert len(statements) <= 10 + second.mails_queued

    with store.connect() as conn:
        runs = conn.execute(sa.select(sa.func.count()).select_from(schema.execution_logs)).scalar_one()
        memory = repository.load_day_memory(conn, "big_chain", big_evaluation(2, 0).business_date).progress
    assert runs == STEPS
    assert len(memory) == STEPS and all(p.records == 20 for p in memory.values())
    assert elapsed < 60, f"two 5,000-step ticks took {elapsed:.1f} s"
