"""The OUAF SQL files: each runs on SQLite and PostgreSQL, keeps to SQL Oracle accepts, and the
reader reads a large workflow (5,000 steps, 20,000 threads) in a constant number of queries."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.ccb import DAY, DPDC, at, scenario

from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import RunStatus
from batch_monitor.exceptions import BatchMonitorError, SourceUnavailableError, WorkflowConfigError
from batch_monitor.settings import sql_dir
from batch_monitor.simulator import Scenario, play
from batch_monitor.source import CHUNK_SIZE, SourceReader, bind_parameters, ping

SQL_FILES = sorted(p.relative_to(sql_dir()).as_posix() for p in sql_dir().rglob("*.sql"))

# failure at 15:30: 6 runs (36 threads, one execution each), C1-PPBTR failed in thread 4, no IMD pending
EXPECTED = {
    "batch_runs.sql": (6, {"batch_cd", "batch_nbr", "batch_rerun_nbr", "batch_bus_dt", "run_status", "start_dttm"}),
    "batch_threads.sql": (36, {"batch_cd", "batch_nbr", "batch_rerun_nbr", "batch_thread_nbr", "thread_status"}),
    "batch_instances.sql": (36, {"batch_thread_nbr", "scheduler_id", "start_dttm", "end_dttm", "rec_proc_cnt"}),
    "batch_threads_trimmed.sql": (
        36,
        {"batch_cd", "batch_nbr", "batch_rerun_nbr", "batch_thread_nbr", "thread_status"},
    ),
    "batch_instances_trimmed.sql": (36, {"batch_thread_nbr", "scheduler_id", "start_dttm", "end_dttm", "rec_proc_cnt"}),
    "error_messages.sql": (1, {"batch_cd", "batch_nbr", "batch_rerun_nbr", "batch_thread_nbr", "message_text"}),
    "checks/d1_imd_pending_count.sql": (1, {"pending_count"}),
    "ping.sql": (1, {"row_count"}),
    # the fast path's fingerprint, one row per RUN_STATUS: 4 runs complete, C1-PPBTR's failed run, its rerun running
    "batch_fingerprint.sql": (3, {"run_status", "run_count", "latest_start", "latest_end"}),
}


def test_every_sql_file_is_covered_here() -> None:
    assert sorted(EXPECTED) == SQL_FILES


def test_every_sql_file_runs_and_returns_its_columns(ccb: sa.Engine) -> None:
    play(ccb, scenario("failure"), DPDC, DAY, at("15:30"))
    reader = SourceReader(sql_dir())
    params = bind_parameters(DPDC, DAY, at("15:30"))
    with ccb.connect() as conn:
        for name, (count, columns) in EXPECTED.items():
            rows = reader.query(conn, name, params)
            assert len(rows) == count, name
            assert columns <= set(rows[0]), name
        (message,) = reader.query(conn, "error_messages.sql", params)
        assert (message["message_text"], int(message["batch_thread_nbr"])) == ("ORA-12545 Connection timeout", 4)
        assert [int(r["pending_count"]) for r in reader.query(conn, "checks/d1_imd_pending_count.sql", params)] == [0]


_NOT_FOR_ORACLE = [
    (r"\bLIMIT\b|\bOFFSET\b|\bTOP\s+\d", "row limits differ between databases"),
    (r"\b(FROM|JOIN)\s+\w+\s+AS\s+\w+", "Oracle refuses AS before a table alias"),
    (r";\s*$", "python-oracledb refuses a trailing semicolon"),
    (r"::|\bILIKE\b|\bNOW\(\)|\bSYSDATE\b|\bNVL\(|\bIFNULL\(|\bDATE_TRUNC\(|\bSTRING_AGG\(|\bLISTAGG\(", "vendor-only"),
    (r'"', "quoted identifiers change case rules"),
    (r"--[^\n]*:\w", "a :name in a comment is taken for a bind parameter"),
]


@pytest.mark.parametrize("name", SQL_FILES)
def test_the_sql_keeps_to_what_oracle_postgresql_and_sqlite_all_accept(name: str) -> None:
    text = (sql_dir() / name).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for pattern, why in _NOT_FOR_ORACLE:
        checked = text if pattern.startswith("--") else code
        assert not re.search(pattern, checked, re.IGNORECASE | re.MULTILINE), f"{name}: {why}"
    tables = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", code)
    assert tables and all(t == t.upper() and t.startswith(("CI_", "D1_")) for t in tables), tables


def test_ping_answers_when_the_ouaf_tables_exist(ccb: sa.Engine) -> None:
    with ccb.connect() as conn:
        ping(conn, sql_dir())


def test_ping_raises_source_unavailable_naming_the_query_when_they_do_not(tmp_path: Path) -> None:
    empty = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    refused = pytest.raises(SourceUnavailableError, match=r"query ping\.sql failed: .*no such table")
    with empty.connect() as conn, refused:
        ping(conn, sql_dir())


def test_a_site_sql_file_with_a_bind_parameter_the_reader_does_not_know_is_refused(
    ccb: sa.Engine, tmp_path: Path
) -> None:
    custom = tmp_path / "errors.sql"
    custom.write_text("SELECT 1 AS X FROM CI_BATCH_RUN WHERE START_DTTM > :tomorrow")
    refused = pytest.raises(BatchMonitorError, match=r"errors\.sql: unknown bind parameter.*tomorrow")
    with ccb.connect() as conn, refused:
        SourceReader(sql_dir()).query(conn, str(custom), {})


def test_a_missing_error_message_sql_names_the_workflow_field(ccb: sa.Engine) -> None:
    play(ccb, scenario("failure"), DPDC, DAY, at("15:30"))
    site = DPDC.model_copy(update={"error_message_sql": "site/nowhere.sql"})
    refused = pytest.raises(WorkflowConfigError, match=r"field 'error_message_sql': SQL file .*nowhere")
    with ccb.connect() as conn, refused:
        SourceReader(sql_dir()).read(conn, site, DAY, at("15:30"))


class _CountQueries:
    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


def test_a_workflow_of_5000_steps_and_20000_threads_reads_in_a_few_queries(ccb: sa.Engine) -> None:
    steps = 5000
    codes = [f"BIG{i:05d}" for i in range(steps)]
    workflow = WorkflowConfig.model_validate(
        {"workflow_id": "big", "timezone": "Asia/Dhaka", "steps": [{"batch_code": c, "depends_on": []} for c in codes]}
    )
    day = Scenario.model_validate(
        {
            "name": "big",
            "workflow": "big",
            "runs": [
                {
                    "batch_code": c,
                    "start": f"{6 + i % 16:02d}:{i % 60:02d}",
                    "duration": "40m",
                    "threads": 4,
                    "records": 1000 + i,
                }
                for i, c in enumerate(codes)
            ],
        }
    )
    as_of = at("04:00", DAY, workflow)
    play(ccb, day, workflow, DAY, as_of)
    queries = _CountQueries(ccb)
    with ccb.connect() as conn:
        observed = SourceReader(sql_dir()).read(conn, workflow, DAY, as_of)
    assert len(observed.runs) == steps and sum(len(r.threads) for r in observed.runs) == 4 * steps
    assert observed.anomalies == [] and sum(r.records for r in observed.runs) == sum(range(1000, 1000 + steps))
    assert queries.count == 3 * -(-steps // CHUNK_SIZE)  # runs, threads, executions; CHUNK_SIZE batch codes a query


def test_error_messages_are_read_only_for_the_codes_of_runs_in_error(ccb: sa.Engine) -> None:
    steps = 2500  # three chunks of batch codes for runs, threads and executions; one for the messages
    codes = [f"ERR{i:05d}" for i in range(steps)]
    workflow = WorkflowConfig.model_validate(
        {"workflow_id": "wide", "timezone": "Asia/Dhaka", "steps": [{"batch_code": c, "depends_on": []} for c in codes]}
    )
    failing = {"batch_code": codes[1234], "status": "error", "error": "ORA-00060: deadlock detected"}
    day = Scenario.model_validate(
        {
            "name": "wide",
            "workflow": "wide",
            "runs": [
                {"batch_code": c, "start": "06:00", "duration": "20m", "threads": 1, "records": 10}
                | (failing if c == codes[1234] else {})
                for c in codes
            ],
        }
    )
    as_of = at("04:00", DAY, workflow)
    play(ccb, day, workflow, DAY, as_of)
    queries = _CountQueries(ccb)
    with ccb.connect() as conn:
        observed = SourceReader(sql_dir()).read(conn, workflow, DAY, as_of)
    failed = [r for r in observed.runs if r.status == RunStatus.ERROR]
    assert [(r.batch_cd, r.error_text) for r in failed] == [(codes[1234], "ORA-00060: deadlock detected")]
    assert queries.count == 3 * -(-steps // CHUNK_SIZE) + 1  # the messages: one query, for the one code in error


def test_the_bind_window_is_wide_and_in_the_servers_wall_clock_time() -> None:
    params = bind_parameters(DPDC, DAY, at("12:00"))
    # 3 hours before 05:00: as far back as a CC&B clock behind can put the day's runs (not the day before's)
    assert params["window_start"] == dt.datetime(2026, 11, 24, 2, 0)
    assert params["window_end"] == dt.datetime(2026, 11, 24, 15, 0)  # as_of (12:00) + 3 hours of margin
    assert params["business_date"] == DAY and params["error_codes"] == ["30", "ER"]
    # the business day's exact window, for completion checks that must speak for their day only
    assert params["day_start"] == dt.datetime(2026, 11, 24, 5, 0)
    assert params["day_end"] == dt.datetime(2026, 11, 25, 5, 0)
    assert params["batch_codes"] == sorted(s.batch_code for s in DPDC.steps)
