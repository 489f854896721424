"""Write a scenario's state at a moment into the OUAF tables, as CC&B would show it then.

:func:`play` replaces the rows of the workflow's batch codes for the business date (batch
numbers of that date only: other days and other rows stay) in one transaction, so playing
the same moment twice gives the same rows, and playing an earlier moment after a later one
rewinds. Timestamps are written as the CC&B server's naive wall-clock time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import RunStatus
from batch_monitor.simulator import ddl
from batch_monitor.simulator.scenario import (
    RUNS_PER_CODE,
    DayState,
    Scenario,
    ScenarioError,
    batch_number_base,
    state_at,
)
from batch_monitor.source import status_codes

IMD_BUSINESS_OBJECT = "D1-InitialLoadIMD"  # the simulator's IMD rows; play() replaces all of them
IMD_PENDING = "PENDING"
ERROR_MESSAGE = (11001, 101)  # (MESSAGE_CAT_NBR, MESSAGE_NBR) of the message a failed thread logs
BATCH_USER = "SYSUSER"


@dataclass(frozen=True)
class PlayResult:
    """What the tables show after a play."""

    as_of: dt.datetime
    runs: int
    running: int
    failed: int
    pending_imds: int | None


def _codes(workflow: WorkflowConfig) -> dict[RunStatus, str]:
    """The code CC&B writes for each status (the first the workflow's status_map gives it)."""
    codes = status_codes(workflow)
    missing = [s.value for s in (RunStatus.RUNNING, RunStatus.ERROR, RunStatus.COMPLETE) if s not in codes]
    if missing:
        raise ScenarioError(
            workflow.source_file or workflow.workflow_id,
            [f"field 'status_map': no code for {', '.join(missing)}; the simulator cannot write such runs"],
        )
    return codes


def _rows(day: DayState, workflow: WorkflowConfig) -> dict[sa.Table, list[dict[str, Any]]]:
    codes = _codes(workflow)
    wall_clock: dict[dt.datetime, dt.datetime] = {}  # to_naive_local is slow; moments repeat a lot

    def local(moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None:
            return None
        if moment not in wall_clock:
            wall_clock[moment] = bd.to_naive_local(moment, workflow.source_timezone)
        return wall_clock[moment]

    rows: dict[sa.Table, list[dict[str, Any]]] = {t: [] for t in ddl.TABLES}
    for run in day.runs:
        key = {"batch_cd": run.batch_cd, "batch_nbr": run.batch_nbr, "batch_rerun_nbr": run.rerun_nbr}
        rows[ddl.ci_batch_run].append(
            {
                **key,
                "batch_bus_dt": day.business_date,
                "run_status": codes[run.status],
                "start_dttm": local(run.start),
                "end_dttm": local(run.end),
                "user_id": BATCH_USER,
            }
        )
        for thread in run.threads:
            thread_key = {**key, "batch_thread_nbr": thread.thread_nbr}
            rows[ddl.ci_batch_thd].append(
                {
                    **thread_key,
                    "thread_status": codes[thread.status],
                    "thd_retry_cnt": max(len(thread.executions) - 1, 0),
                }
            )
            for execution in thread.executions:
                rows[ddl.ci_batch_inst].append(
                    {
                        **thread_key,
                        "start_dttm": local(execution.start),
                        "end_dttm": local(execution.end),
                        "rec_proc_cnt": execution.records,
                        "rec_err_cnt": execution.errors,
                        "scheduler_id": execution.scheduler_id,
                    }
                )
            if thread.error and thread.executions:
                last = thread.executions[-1]
                message = {"scheduler_id": last.scheduler_id, "message_seq_nbr": 1}
                rows[ddl.ci_msg_log].append(
                    {
                        **message,
                        "message_cat_nbr": ERROR_MESSAGE[0],
                        "message_nbr": ERROR_MESSAGE[1],
                        "cre_dttm": local(last.end),
                    }
                )
                rows[ddl.ci_msg_logparm].append({**message, "parm_seq": 1, "message_parm": thread.error})
    return rows


def _delete_day(conn: sa.Connection, codes: list[str], business_date: dt.date) -> None:
    low = batch_number_base(business_date)
    high = low + RUNS_PER_CODE - 1
    inst = ddl.ci_batch_inst
    executions = sa.select(inst.c.scheduler_id).where(inst.c.batch_cd.in_(codes), inst.c.batch_nbr.between(low, high))
    for table in (ddl.ci_msg_logparm, ddl.ci_msg_log):
        conn.execute(sa.delete(table).where(table.c.scheduler_id.in_(executions)))
    for table in (ddl.ci_batch_inst, ddl.ci_batch_thd, ddl.ci_batch_run):
        conn.execute(sa.delete(table).where(table.c.batch_cd.in_(codes), table.c.batch_nbr.between(low, high)))


def _replace_imds(conn: sa.Connection, day: DayState, workflow: WorkflowConfig, count: int) -> None:
    imd = ddl.d1_init_msrmt_data
    conn.execute(sa.delete(imd).where(imd.c.bus_obj_cd == IMD_BUSINESS_OBJECT))
    if not count:
        return
    day_start, _ = bd.window(day.business_date, workflow.timezone, workflow.business_day_start)
    created = bd.to_naive_local(day_start, workflow.source_timezone)
    prefix = day.business_date.strftime("%Y%m%d")
    conn.execute(
        sa.insert(imd),
        [
            {
                "init_msrmt_data_id": f"{prefix}{i:06d}",
                "bus_obj_cd": IMD_BUSINESS_OBJECT,
                "bo_status_cd": IMD_PENDING,
                "cre_dttm": created,
                "status_upd_dttm": created,
            }
            for i in range(1, count + 1)
        ],
    )


def play(
    engine: sa.Engine, scenario: Scenario, workflow: WorkflowConfig, business_date: dt.date, as_of: dt.datetime
) -> PlayResult:
    """Make the OUAF tables show ``business_date`` of ``scenario`` exactly as CC&B would at ``as_of``.

    The tables must exist (:func:`batch_monitor.simulator.create_schema`). Raises
    :class:`ScenarioError` when the scenario does not fit the workflow.
    """
    day = state_at(scenario, workflow, business_date, as_of)
    rows = _rows(day, workflow)
    codes = sorted({step.batch_code for step in workflow.steps})
    with engine.begin() as conn:
        _delete_day(conn, codes, business_date)
        for table, table_rows in rows.items():
            if table_rows:
                conn.execute(sa.insert(table), table_rows)
        if day.pending_imds is not None:
            _replace_imds(conn, day, workflow, day.pending_imds)
    return PlayResult(
        as_of=day.as_of,
        runs=len(day.runs),
        running=sum(1 for r in day.runs if r.status == RunStatus.RUNNING),
        failed=sum(1 for r in day.runs if r.status == RunStatus.ERROR),
        pending_imds=day.pending_imds,
    )
