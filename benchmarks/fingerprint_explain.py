"""EXPLAIN of the fast path's fingerprint query, as the trigger sends it (benchmarks/FINDINGS.md).

    python benchmarks/fingerprint_explain.py

A CC&B stand-in on PostgreSQL (the simulator's tables and indexes) holds 90 days of history for
300 other batch codes (2 runs a day each) besides the DPDC workflow's failure day; the statement
``read_fingerprint`` sends is captured with its parameters and explained with ANALYZE and BUFFERS.
Oracle cannot run here: the same file is printed as SQLAlchemy's Oracle dialect compiles it (the
list bind expanded), which is what python-oracledb receives.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository and plugins/ importable
    sys.path[:0] = [
        str(Path(__file__).resolve().parent.parent),
        str(Path(__file__).resolve().parent.parent / "plugins"),
    ]

import sqlalchemy as sa
from sqlalchemy.dialects import oracle
from tests.support.ccb import DAY, DPDC, at, scenario

from batch_monitor.settings import sql_dir
from batch_monitor.simulator import create_schema, play
from batch_monitor.source import FINGERPRINT_SQL, SourceReader, _prepare, fingerprint_window, read_fingerprint
from benchmarks import common

OTHER_CODES = 300
HISTORY_DAYS = 90


def fill_history(engine: sa.Engine) -> int:
    """90 days before DAY of 300 other batch codes, two runs a day each (set-based, PostgreSQL)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ci_batch_run (batch_cd, batch_nbr, batch_rerun_nbr, batch_bus_dt, run_status, "
                "start_dttm, end_dttm, user_id) "
                "SELECT 'OTHER-' || c, d * 10 + r, 0, CAST(:day AS date) - d, '40', "
                "CAST(:day AS timestamp) - d * interval '1 day' + (c % 20 + r * 6) * interval '1 hour', "
                "CAST(:day AS timestamp) - d * interval '1 day' + (c % 20 + r * 6) * interval '1 hour' "
                "+ interval '25 minutes', 'BATCH' "
                "FROM generate_series(1, :codes) c, generate_series(0, :days) d, generate_series(0, 1) r"
            ),
            {"day": DAY, "codes": OTHER_CODES, "days": HISTORY_DAYS},
        )
        conn.execute(sa.text("ANALYZE ci_batch_run"))
        return int(conn.scalar(sa.text("SELECT count(*) FROM ci_batch_run")) or 0)


def explain(engine: sa.Engine) -> tuple[str, Any, list[str]]:
    """The fingerprint statement read_fingerprint sends, its parameters, and its EXPLAIN (ANALYZE, BUFFERS)."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters))

    date = DAY
    window = (date, *fingerprint_window(date, DPDC.timezone, DPDC.business_day_start, DPDC.source_timezone))
    codes = [s.batch_code for s in DPDC.enabled_steps]
    with engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", record)
        read_fingerprint(conn, SourceReader(sql_dir()), codes, window, timeout=10)
        sa.event.remove(conn, "before_cursor_execute", record)
        statement, parameters = next((s, p) for s, p in sent if "CI_BATCH_RUN" in s)
        with conn.begin():
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
    return statement, parameters, [row[0] for row in rows]


def oracle_sql() -> str:
    path = sql_dir() / FINGERPRINT_SQL
    prepared = _prepare(path, path.read_text(encoding="utf-8"))
    window = fingerprint_window(DAY, DPDC.timezone, DPDC.business_day_start, DPDC.source_timezone)
    statement = prepared.statement.bindparams(
        batch_codes=sorted(s.batch_code for s in DPDC.enabled_steps), window_start=window[0], window_end=window[1]
    )
    compiled = statement.compile(dialect=oracle.dialect(), compile_kwargs={"render_postcompile": True})
    body = [line for line in compiled.string.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(body) + "\n-- binds: " + ", ".join(f"{k}={v!r}" for k, v in compiled.params.items())


def main() -> int:
    with common.database("fp_explain") as url:
        engine = sa.create_engine(url)
        create_schema(engine)
        play(engine, scenario("failure"), DPDC, DAY, at("15:30"))
        total = fill_history(engine)
        _, parameters, plan = explain(engine)
        engine.dispose()
    print(f"CI_BATCH_RUN rows: {total:,} ({OTHER_CODES} other codes x {HISTORY_DAYS + 1} days x 2 runs + DPDC's day)")
    print(f"parameters: {parameters}")
    print("\nPostgreSQL EXPLAIN (ANALYZE, BUFFERS):\n" + "\n".join(plan))
    print("\nOracle (SQLAlchemy's Oracle dialect, as python-oracledb receives it):\n" + oracle_sql())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
