"""A simulated CC&B for the tests: the OUAF tables in a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from tests.support.workflows import load_test_workflow, scenario

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.simulator.ddl import TABLES

DAY = dt.date(2026, 11, 24)
DPDC: WorkflowConfig = load_test_workflow("dpdc_ami")
US_EAST: WorkflowConfig = load_test_workflow("us_east_settlement")
WORKFLOWS = {w.workflow_id: w for w in (DPDC, US_EAST)}

__all__ = ["DAY", "DPDC", "US_EAST", "WORKFLOWS", "at", "dump", "scenario", "ticks"]


def at(clock: str, date: dt.date = DAY, workflow: WorkflowConfig = DPDC) -> dt.datetime:
    """The UTC moment of a local clock time in a business day ('00:40' is the next morning)."""
    hour, minute = map(int, clock.split(":"))
    return bd.at_clock(date, dt.time(hour, minute), workflow.timezone, workflow.business_day_start)


def ticks(date: dt.date, workflow: WorkflowConfig, every: dt.timedelta = dt.timedelta(minutes=15)) -> list[dt.datetime]:
    """Every tick of a business day, from its start (23, 24 or 25 hours across DST changes)."""
    start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
    moments = []
    while start < end:
        moments.append(start)
        start = start + every
    return moments


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every OUAF table, sorted: to compare what two plays left behind."""
    with engine.connect() as conn:
        return {t.name: sorted((tuple(row) for row in conn.execute(sa.select(t))), key=repr) for t in TABLES}
