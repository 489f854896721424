"""Synthetic workflows of any size, and the CC&B rows of their business days.

A synthetic workflow is a YAML document (parsed by the real ``parse_workflow``) of ``steps``
batch codes in lanes of ten: each step waits for the one above it in its lane, lane heads start
at a clock time between 05:00 and 12:50. Its business day, as CC&B records it, is written
straight into the simulator's OUAF tables with COPY (the scenario format is made for a handful
of runs written by hand, not thousands), with the mix a real night has: most runs complete,
about 1 % fail (an ORA- message logged by one thread) and are rerun, a few run long and slow,
a few process nothing, and a few start three hours late (their lane waits for them). Every
lane ends before midnight, so each day's chain completes, as most nights do.

Every run has ``threads`` CI_BATCH_THD rows and one CI_BATCH_INST execution per thread. Rows
hold the whole day as it ends; the reader shows them as of each tick (runs that had not
started are left out, runs that ended later are running).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.simulator import ddl
from batch_monitor.simulator.scenario import batch_number_base

LANE = 10
TIMEZONE = "Asia/Dhaka"
DAY_START = dt.time(5, 0)
STEP_MINUTES = 25  # a normal run
GAP_MINUTES = 5  # between a run's end and the next step's start
ERROR_TEXT = "ORA-12545: Connect failed because target host or object does not exist"
COMPLETE, ERROR, RUNNING = "40", "30", "20"


@dataclass(frozen=True)
class Size:
    """One synthetic workflow: how many steps, and threads per run."""

    steps: int
    threads: int

    @property
    def workflow_id(self) -> str:
        return f"synth_{self.steps}_{self.threads}"

    @property
    def label(self) -> str:
        return f"{self.steps:,} steps × {self.threads} threads"


def batch_code(index: int) -> str:
    return f"SYN{index:05d}"


def _kind(index: int) -> str:
    """What happens to step ``index`` in every synthetic day (deterministic, spread out)."""
    if index % 199 == 7:
        return "late"  # submitted three hours late: LATE_START until it starts, its lane waits
    if index % 97 == 13:
        return "fail"  # fails, rerun completes 20 minutes later
    if index % 151 == 11:
        return "slow"  # 2.5 hours at a crawl: LONG_RUNNING and LOW_THROUGHPUT while it runs
    if index % 173 == 17:
        return "empty"  # completes with 0 records: EMPTY_RUN
    return "normal"


def workflow_yaml(size: Size) -> str:
    """The workflow as its YAML file would hold it."""
    lines = [
        f"workflow_id: {size.workflow_id}",
        f"name: Synthetic chain of {size.steps} steps",
        f"timezone: {TIMEZONE}",
        'business_day_start: "05:00"',
        "on_call: [oncall@example.test]",
        "email_min_severity: CRITICAL",
        'chain_finish_by: "23:30"',
        "defaults:",
        "  expected_duration: 25m",
        "  max_duration: 1h",
        "  min_rps: 5",
        "steps:",
    ]
    for i in range(size.steps):
        lane, position = divmod(i, LANE)
        lines.append(f"  - batch_code: {batch_code(i)}")
        if position == 0:
            start = dt.datetime.combine(dt.date(2000, 1, 1), DAY_START) + dt.timedelta(minutes=10 * (lane % 48))
            lines.append(f'    expected_start: "{start:%H:%M}"')
            lines.append("    depends_on: []")
        if position == LANE - 1:
            lines.append('    finish_by: "23:00"')
    return "\n".join(lines) + "\n"


def workflow(size: Size) -> WorkflowConfig:
    return parse_workflow(workflow_yaml(size), path=Path(f"{size.workflow_id}.yaml"))


@dataclass
class DayRows:
    """The rows of one business day, as CSV text per OUAF table."""

    runs: int = 0
    threads: int = 0
    run_csv: io.StringIO | None = None
    thd_csv: io.StringIO | None = None
    inst_csv: io.StringIO | None = None
    msg_csv: io.StringIO | None = None
    parm_csv: io.StringIO | None = None


class _Writer:
    def __init__(self) -> None:
        self.buffers = {name: io.StringIO() for name in ("run", "thd", "inst", "msg", "parm")}
        self.writers = {name: csv.writer(buf) for name, buf in self.buffers.items()}

    def row(self, table: str, *values: object) -> None:
        self.writers[table].writerow(["" if v is None else v for v in values])


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _attempts(kind: str, start: dt.datetime) -> list[tuple[int, dt.datetime, int, str]]:
    """A step's runs of the day: (rerun, start, minutes, final status)."""
    if kind == "fail":
        return [(0, start, 15, ERROR), (1, start + dt.timedelta(minutes=35), STEP_MINUTES, COMPLETE)]
    if kind == "slow":
        return [(0, start, 150, COMPLETE)]
    return [(0, start, STEP_MINUTES, COMPLETE)]


def _thread_span(
    size: Size, thread: int, run_start: dt.datetime, run_end: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    return (
        run_start + dt.timedelta(seconds=thread % 30),
        run_end - dt.timedelta(seconds=(size.threads - thread) % 30),
    )


def _thread_rows(
    out: _Writer,
    key: tuple[str, int, int, int],
    scheduler: int,
    span: tuple[dt.datetime, dt.datetime],
    status: str,
    per_thread: int,
    until: dt.datetime | None,
) -> None:
    """One thread's rows (its status, its one execution, the first thread's error of a failed run)."""
    t_start, t_end = span
    records, shown_end = per_thread, _ts(t_end)
    going = until is not None and t_end > until
    if until is not None and going:  # still going: no end yet, the records it has done so far
        done = max((until - t_start).total_seconds(), 0.0) / (t_end - t_start).total_seconds()
        records, shown_end = int(per_thread * done), ""
    failed = status == ERROR and key[3] == 1 and not going
    out.row("thd", *key, RUNNING if going else (ERROR if failed else COMPLETE), 0)
    out.row("inst", *key, _ts(t_start), shown_end, records, 0, scheduler)
    if failed:
        out.row("msg", scheduler, 1, 11001, 101, _ts(t_end))
        out.row("parm", scheduler, 1, 1, ERROR_TEXT)


def day_rows(size: Size, business_date: dt.date, scheduler_base: int, until: dt.datetime | None = None) -> DayRows:
    """Every CC&B row of the synthetic workflow's business day (wall-clock times in Dhaka).

    ``until`` (Dhaka wall clock): the day as CC&B holds it at that moment, not as it ends: a run not
    yet started is absent, one still going is RUNNING with no end, its threads' records so far.
    """
    out = _Writer()
    day_start = dt.datetime.combine(business_date, DAY_START)
    base = batch_number_base(business_date)
    scheduler = scheduler_base
    result = DayRows()
    lane_clock: dict[int, dt.datetime] = {}
    for i in range(size.steps):
        lane, position = divmod(i, LANE)
        if position == 0:
            lane_clock[lane] = day_start + dt.timedelta(minutes=10 * (lane % 48))
        start = lane_clock[lane]
        kind = _kind(i)
        if kind == "late":
            start += dt.timedelta(hours=3)
        code = batch_code(i)
        for rerun, run_start, minutes, status in _attempts(kind, start):
            run_end = run_start + dt.timedelta(minutes=minutes)
            lane_clock[lane] = run_end + dt.timedelta(minutes=GAP_MINUTES)
            if until is not None and run_start > until:
                scheduler += size.threads  # the same scheduler numbers as in the whole day
                continue
            going = until is not None and run_end > until
            run_status, shown_end = (RUNNING, "") if going else (status, _ts(run_end))
            out.row("run", code, base, rerun, business_date, run_status, _ts(run_start), shown_end, "SYSUSER")
            result.runs += 1
            per_thread = 0 if kind == "empty" else (200 if kind == "slow" else 3000)
            for thread in range(1, size.threads + 1):
                scheduler += 1
                key = (code, base, rerun, thread)
                _thread_rows(
                    out, key, scheduler, _thread_span(size, thread, run_start, run_end), status, per_thread, until
                )
                result.threads += 1
    for buffer in out.buffers.values():
        buffer.seek(0)
    result.run_csv = out.buffers["run"]
    result.thd_csv = out.buffers["thd"]
    result.inst_csv = out.buffers["inst"]
    result.msg_csv = out.buffers["msg"]
    result.parm_csv = out.buffers["parm"]
    return result


_COLUMNS = {
    "run": (
        ddl.ci_batch_run,
        "batch_cd, batch_nbr, batch_rerun_nbr, batch_bus_dt, run_status, start_dttm, end_dttm, user_id",
    ),
    "thd": (ddl.ci_batch_thd, "batch_cd, batch_nbr, batch_rerun_nbr, batch_thread_nbr, thread_status, thd_retry_cnt"),
    "inst": (
        ddl.ci_batch_inst,
        "batch_cd, batch_nbr, batch_rerun_nbr, batch_thread_nbr, start_dttm, end_dttm, rec_proc_cnt, rec_err_cnt, "
        "scheduler_id",
    ),
    "msg": (ddl.ci_msg_log, "scheduler_id, message_seq_nbr, message_cat_nbr, message_nbr, cre_dttm"),
    "parm": (ddl.ci_msg_logparm, "scheduler_id, message_seq_nbr, parm_seq, message_parm"),
}


def load_days(
    engine: sa.Engine,
    size: Size,
    dates: list[dt.date],
    first: int = 0,
    until: dt.datetime | None = None,
    analyze: bool = True,
) -> tuple[int, int]:
    """COPY the synthetic days into the OUAF tables (which must exist); returns (runs, threads).

    ``first``: how many days earlier calls loaded (each day's scheduler numbers follow its position).
    ``until``: load the days as CC&B holds them at that moment (see :func:`day_rows`).
    """
    runs = threads = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for n, date in enumerate(dates):
            rows = day_rows(size, date, scheduler_base=(first + n + 1) * 10_000_000, until=until)
            runs, threads = runs + rows.runs, threads + rows.threads
            for name, (table, columns) in _COLUMNS.items():
                buffer = getattr(rows, f"{name}_csv")
                cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
        raw.commit()
        if analyze:
            cursor.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    return runs, threads


def day_player(engine: sa.Engine, size: Size, date: dt.date, first: int) -> Callable[[dt.datetime], None]:
    """Move CC&B's copy of the day ``date`` (loaded ``first``-th) to each tick's moment, as a real CC&B holds it.

    Without it CC&B would hold the day's later rows at an earlier tick: the reader takes that for a
    CC&B clock hours ahead and judges a shifted day (issue 15's skew check).
    """
    low = batch_number_base(date)
    scheduler = ((first + 1) * 10_000_000, (first + 2) * 10_000_000)
    wall_clock = ZoneInfo(TIMEZONE)

    def play(as_of: dt.datetime) -> None:
        until = dt.datetime.fromtimestamp(as_of.timestamp(), wall_clock).replace(tzinfo=None)  # not pendulum's
        with engine.begin() as conn:
            for table in (ddl.ci_msg_logparm, ddl.ci_msg_log):
                conn.execute(sa.delete(table).where(table.c.scheduler_id.between(*scheduler)))
            for table in (ddl.ci_batch_inst, ddl.ci_batch_thd, ddl.ci_batch_run):
                conn.execute(sa.delete(table).where(table.c.batch_nbr.between(low, low + 99)))
        load_days(engine, size, [date], first=first, until=until, analyze=False)

    return play
