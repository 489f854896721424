"""Bad rows in CC&B's tables: the tick survives, each bad row is logged and reported as a
DATA_QUALITY alert, and the rest of the day is judged exactly as without it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database

from batch_monitor import pipeline
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate

from .conftest import Case
from .support import DPDC, PAGE, Ccb, alert_rows, at, local, outbox_rows, prepare, quarter_ticks

AREA = "Bad input: CC&B rows (source data anomalies)"
AS_OF = quarter_ticks("14:00", "14:00")[0]
NOON, ONE = "'2026-11-24 12:00:00.000000'", "'2026-11-24 13:00:00.000000'"
RUN = "INSERT INTO ci_batch_run (batch_cd, batch_nbr, batch_rerun_nbr, batch_bus_dt, run_status, start_dttm, end_dttm)"
THD = "INSERT INTO ci_batch_thd (batch_cd, batch_nbr, batch_rerun_nbr, batch_thread_nbr, thread_status)"
INST = (
    "INSERT INTO ci_batch_inst (batch_cd, batch_nbr, batch_rerun_nbr, batch_thread_nbr, start_dttm, end_dttm, "
    "rec_proc_cnt, rec_err_cnt, scheduler_id)"
)


def run(nbr: str = "5", status: str = "'40'", start: str = NOON, end: str = ONE) -> str:
    return f"{RUN} VALUES ('BILLRESTSMS', {nbr}, 0, '2026-11-24', {status}, {start}, {end})"


def thread(records: str = "100", start: str = NOON, end: str = ONE) -> list[str]:
    return [
        f"{THD} VALUES ('BILLRESTSMS', 5, 0, 1, '40')",
        f"{INST} VALUES ('BILLRESTSMS', 5, 0, 1, {start}, {end}, {records}, 0, 905)",
    ]


# name: (SQL run against CC&B's tables, the anomaly the reader must report)
ANOMALIES: dict[str, tuple[list[str], str]] = {
    "NULL start": ([run(status="'20'", start="NULL", end="NULL")], "START_DTTM is empty"),
    "end before start": ([run(start=ONE, end=NOON)], "END_DTTM is before START_DTTM"),
    "negative count": ([run(), *thread("-5")], "REC_PROC_CNT is negative (-5)"),
    "absurd count (10^20)": ([run(), *thread("100000000000000000000")], "is not believable"),
    "absurd batch number (10^25)": ([run(nbr="10000000000000000000000000")], "without a usable BATCH_NBR"),
    "unknown status code": ([run(status="'ZZ'")], "RUN_STATUS 'ZZ' is not in the workflow's status_map"),
    "duplicate rows": ([run(), run(), *thread(), *thread()], "duplicate CI_BATCH_RUN row ignored"),
    "text in a count column": ([run(), *thread("'lots'")], "REC_PROC_CNT 'lots' is not a number"),
    "text as batch number": ([run(nbr="'five'")], "without a usable BATCH_NBR"),
    "text as a time": ([run(start="'2026-11-24 12h00'")], "START_DTTM '2026-11-24 12h00' is not a timestamp"),
}


def judged(store: sa.Engine) -> dict[str, Any]:
    """What the tick made of every step but BILLRESTSMS (the last step, where the bad rows are)."""
    r = schema.execution_logs
    with store.connect() as conn:
        runs = sorted(
            tuple(x)
            for x in conn.execute(
                sa.select(r.c.batch_cd, r.c.batch_nbr, r.c.status, r.c.records, r.c.start_time, r.c.end_time).where(
                    r.c.batch_cd != "BILLRESTSMS"
                )
            )
        )
    alerts = sorted(
        (a["kind"], a["step_id"], a["state"])
        for a in alert_rows(store)
        if a["step_id"] != "BILLRESTSMS" and a["kind"] != "DATA_QUALITY"
    )
    return {"runs": runs, "alerts": alerts}


@pytest.fixture(scope="module")
def clean(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The 14:00 tick of the normal day without bad rows."""
    url = create_database(pg_admin_url)
    store = sa.create_engine(url)
    migrate(store)
    ccb = Ccb(tmp_path_factory.mktemp("clean"), "normal")
    prepare(store)
    ccb.play(AS_OF)
    pipeline.run_tick(ccb.engine, store, DPDC, AS_OF, page_url_base=PAGE)
    yield judged(store)
    ccb.dispose()
    store.dispose()
    drop_database(pg_admin_url, url)


@pytest.mark.parametrize("name", list(ANOMALIES))
def test_a_bad_source_row_is_logged_and_reported_and_nothing_else_is_skipped(
    name: str,
    store: sa.Engine,
    tmp_path: Path,
    clean: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    reliability: Case,
) -> None:
    statements, anomaly = ANOMALIES[name]
    reliability.tried(
        f"{name}: normal day at 14:00 plus “{statements[0].split(' VALUES ')[1]}”"
        + (f" (+{len(statements) - 1} row(s))" if len(statements) > 1 else "")
    )
    ccb = Ccb(tmp_path, "normal")
    prepare(store)
    ccb.play(AS_OF)
    with ccb.engine.begin() as conn:
        for sql in statements:
            conn.execute(sa.text(sql))
    with caplog.at_level(logging.WARNING, logger="batch_monitor.pipeline"):
        pipeline.run_tick(ccb.engine, store, DPDC, AS_OF, page_url_base=PAGE)
    [quality] = alert_rows(store, kind="DATA_QUALITY")
    reported = [a for a in quality["details"]["anomalies"] if anomaly in a]
    logged = [r.getMessage() for r in caplog.records if anomaly in r.getMessage()]
    assert quality["state"] == "open" and reported and logged
    assert judged(store) == clean
    reliability.observed(
        f"tick completed; DATA_QUALITY alert (WARNING, on the page) and a log line: “{reported[0]}”; the other "
        f"steps' {len(clean['runs'])} runs and {len(clean['alerts'])} alert(s) exactly as without the bad row"
    )
    ccb.dispose()


# ----------------------------------------------------------------- rows the reader distrusts or corrects

OUAF_TABLES = ("ci_msg_logparm", "ci_msg_log", "ci_batch_inst", "ci_batch_thd", "ci_batch_run")
TIMES = (
    ("ci_batch_run", "start_dttm"),
    ("ci_batch_run", "end_dttm"),
    ("ci_batch_inst", "start_dttm"),
    ("ci_batch_inst", "end_dttm"),
    ("ci_msg_log", "cre_dttm"),
)


def shifted(by: str) -> list[str]:
    """The CC&B server's clock off by ``by`` ('+1 hour'): every time it writes is off by as much."""
    return [
        f"UPDATE {table} SET {column} = datetime({column}, '{by}') WHERE {column} IS NOT NULL"
        for table, column in TIMES
    ]


BACKWARD = (
    "UPDATE ci_batch_inst SET rec_proc_cnt = rec_proc_cnt - 5000 WHERE batch_cd = 'D1-IMD' AND rec_proc_cnt > 5000"
)

# name: (scenario, ticks (local clocks), SQL after each play (by tick index), what the DATA_QUALITY alert says)
DISTRUSTED: dict[str, tuple[str, list[str], Callable[[int], list[str]], str]] = {
    "completed run without START_DTTM": (
        "normal",
        ["17:15", "22:15"],
        lambda _: ["UPDATE ci_batch_run SET start_dttm = NULL WHERE batch_cd = 'C1-PPBTR'"],
        "start taken as its threads' earliest start",
    ),
    "RUN_STATUS '99', every thread complete": (
        "normal",
        ["17:15", "22:15"],
        lambda _: ["UPDATE ci_batch_run SET run_status = '99' WHERE batch_cd = 'C1-PPBTR'"],
        "RUN_STATUS '99' is unknown; taken as complete",
    ),
    "empty RUN_STATUS, every thread complete": (
        "normal",
        ["17:15", "22:15"],
        lambda _: ["UPDATE ci_batch_run SET run_status = '' WHERE batch_cd = 'C1-PPBTR'"],
        "RUN_STATUS '' is unknown; taken as complete",
    ),
    "CC&B clock 1 h ahead": (
        "failure",
        [local(t) for t in quarter_ticks("14:15", "17:15")],
        lambda _: shifted("+1 hour"),
        "CC&B clock ahead by about 1h 00m",
    ),
    "CC&B clock 1 h behind": (
        "normal",
        ["06:00", "07:15", "12:30"],
        lambda _: shifted("-1 hour"),
        "CC&B clock behind by about 1h 00m",
    ),
    "REC_PROC_CNT going back and forth on a stuck run": (
        "stuck",
        [local(t) for t in quarter_ticks("06:15", "07:45")],
        lambda i: [BACKWARD] if i % 2 else [],
        "REC_PROC_CNT went back",
    ),
    "batch code blank-padded in CI_BATCH_RUN only": (
        "normal",
        [local(t) for t in quarter_ticks("12:15", "14:00")],
        lambda _: ["UPDATE ci_batch_run SET batch_cd = 'C1-PPBTR   ' WHERE batch_cd = 'C1-PPBTR'"],
        "matched without trailing blanks",
    ),
}


def play_distrusted(ccb: Ccb, store: sa.Engine, clocks: list[str], sql: Callable[[int], list[str]] | None) -> None:
    """Each tick: CC&B shows the scenario at that moment (plus the bad rows), then one real tick."""
    prepare(store)
    for index, clock in enumerate(clocks):
        as_of = at(clock)
        with ccb.engine.begin() as conn:
            for table in OUAF_TABLES:  # play() replaces only the rows it recognises
                conn.execute(sa.text(f"DELETE FROM {table}"))
        ccb.play(as_of)
        if sql is not None:
            with ccb.engine.begin() as conn:
                for statement in sql(index):
                    conn.execute(sa.text(statement))
        pipeline.run_tick(ccb.engine, store, DPDC, as_of, page_url_base=PAGE)


def critical(store: sa.Engine) -> list[tuple[str, str, str, str]]:
    """The CRITICAL alerts: kind, step, and the ticks at which they were first and last seen."""
    return sorted(
        (a["kind"], a["step_id"], local(a["first_seen_at"]), local(a["last_seen_at"]))
        for a in alert_rows(store)
        if a["severity"] == "CRITICAL"
    )


@pytest.mark.parametrize("name", list(DISTRUSTED))
def test_rows_the_reader_distrusts_are_judged_from_the_best_evidence_and_mailed_as_a_data_problem(
    name: str, store: sa.Engine, pg_admin_url: str, tmp_path: Path, reliability: Case
) -> None:
    scenario_name, clocks, sql, text = DISTRUSTED[name]
    reliability.tried(f"{name}: {scenario_name} day, ticks {clocks[0]}–{clocks[-1]} ({len(clocks)})")
    url = create_database(pg_admin_url)
    reference = sa.create_engine(url)
    try:
        play_distrusted(_ccb(tmp_path / "clean", scenario_name), reference, clocks, None)
        expected = critical(reference)
    finally:
        reference.dispose()
        drop_database(pg_admin_url, url)
    play_distrusted(_ccb(tmp_path / "dirty", scenario_name), store, clocks, sql)
    assert critical(store) == expected
    quality = [a for a in alert_rows(store, kind="DATA_QUALITY") if any(text in x for x in a["details"]["anomalies"])]
    assert quality, [a["details"] for a in alert_rows(store, kind="DATA_QUALITY")]
    mails = outbox_rows(store)
    assert [m for m in mails if m["alert_id"] == quality[0]["id"] and m["kind"] == "alert"]
    critical_ids = {a["id"] for a in alert_rows(store, severity="CRITICAL")}
    naming = [
        m
        for m in mails
        if m["alert_id"] in critical_ids
        and m["kind"] == "alert"
        and "Data problem" in m["body_text"]
        and text in m["body_text"]
    ]
    if name == "CC&B clock 1 h ahead":  # the FAILED mail rests on times taken an hour back: it says so
        assert naming, [m["body_text"] for m in mails if m["alert_id"] in critical_ids]
    reliability.observed(
        f"CRITICAL alerts as on the clean day, seen at the same ticks "
        f"({', '.join(f'{k} {s} {first}–{last}' for k, s, first, last in expected) or 'none'}), "
        f"{len(naming)} of them mailed with a “Data problem” line; DATA_QUALITY alert mailed to on-call: "
        f"“{next(x for x in quality[0]['details']['anomalies'] if text in x)}”"
    )


def _ccb(folder: Path, name: str) -> Ccb:
    folder.mkdir()
    return Ccb(folder, name)
