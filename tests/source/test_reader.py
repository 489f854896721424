"""The reader against a simulated CC&B (SQLite file and PostgreSQL): what it sees, when, and in UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.ccb import DAY, DPDC, US_EAST, WORKFLOWS, at, scenario

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import RunStatus
from batch_monitor.models import Observations, RunObservation
from batch_monitor.settings import sql_dir
from batch_monitor.simulator import play, state_at
from batch_monitor.simulator.ddl import ci_batch_inst, ci_batch_run, ci_batch_thd
from batch_monitor.source import SourceReader

UTC = dt.UTC
NEXT_DAY = DAY + dt.timedelta(days=1)


def read(engine: sa.Engine, as_of: dt.datetime, workflow: WorkflowConfig = DPDC, date: dt.date = DAY) -> Observations:
    with engine.connect() as conn:
        return SourceReader(sql_dir()).read(conn, workflow, date, as_of)


def runs_of(observations: Observations, code: str) -> list[RunObservation]:
    return sorted((r for r in observations.runs if r.batch_cd == code), key=lambda r: (r.batch_nbr, r.rerun_nbr))


AS_SIMULATED = [
    ("normal", "dpdc_ami", DAY, ["05:00", "05:24", "09:10", "23:00"]),
    ("failure", "dpdc_ami", DAY, ["14:45", "15:30"]),
    ("stuck", "dpdc_ami", DAY, ["07:30", "08:15"]),
    ("midnight", "dpdc_ami", DAY, ["00:10", "00:50"]),
    ("us_east_normal", "us_east_settlement", dt.date(2024, 3, 10), ["03:50", "04:30"]),  # spring forward
    ("us_east_normal", "us_east_settlement", dt.date(2024, 11, 3), ["02:50", "03:30"]),  # fall back
]


@pytest.mark.parametrize(
    ("name", "workflow_id", "date", "clocks"), AS_SIMULATED, ids=[f"{c[0]}-{c[2]}" for c in AS_SIMULATED]
)
def test_it_reads_every_run_thread_and_execution_as_the_simulator_plays_them(
    ccb: sa.Engine, name: str, workflow_id: str, date: dt.date, clocks: list[str]
) -> None:
    workflow, loaded = WORKFLOWS[workflow_id], scenario(name)
    for clock in clocks:
        as_of = at(clock, date, workflow)
        play(ccb, loaded, workflow, date, as_of)
        observed = read(ccb, as_of, workflow, date)
        truth = state_at(loaded, workflow, date, as_of)
        assert observed.anomalies == []
        assert [(r.batch_cd, r.batch_nbr, r.rerun_nbr, r.status, r.start, r.end) for r in observed.runs] == sorted(
            ((r.batch_cd, r.batch_nbr, r.rerun_nbr, r.status, r.start, r.end) for r in truth.runs),
            key=lambda r: (r[0], r[4], r[1], r[2]),
        ), clock
        by_key = {(r.batch_cd, r.batch_nbr, r.rerun_nbr): r for r in truth.runs}
        for run in observed.runs:
            expected = by_key[(run.batch_cd, run.batch_nbr, run.rerun_nbr)]
            assert [(t.thread_nbr, t.status, t.records, t.executions, t.start) for t in run.threads] == [
                (t.thread_nbr, t.status, sum(e.records for e in t.executions), len(t.executions), t.executions[0].start)
                for t in expected.threads
            ], (clock, run.key)
            assert run.bus_dt == date


def test_times_are_read_in_the_source_zone_and_handed_on_in_utc(ccb: sa.Engine) -> None:
    play(ccb, scenario("normal"), DPDC, DAY, at("06:00"))
    observed = read(ccb, at("06:00"))
    (dmru,) = runs_of(observed, "CM-DMRU")
    assert dmru.start == dt.datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 05:00 in Dhaka (+06)
    assert dmru.end == dt.datetime(2026, 11, 23, 23, 48, tzinfo=UTC)
    assert (observed.window_start, observed.window_end) == (
        dt.datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 24, 23, 0, tzinfo=UTC),
    )
    assert dmru.status_code == "40" and len(dmru.threads) == 8 and dmru.records == 240_000


def test_on_the_spring_forward_day_the_window_and_the_runs_shift_with_the_clock(ccb: sa.Engine) -> None:
    date = dt.date(2024, 3, 10)  # 02:30 does not exist in New York: the day starts 03:30 EDT
    play(ccb, scenario("us_east_normal"), US_EAST, date, at("04:30", date, US_EAST))
    observed = read(ccb, at("04:30", date, US_EAST), US_EAST, date)
    assert observed.window_start == dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    assert observed.window_end - observed.window_start == dt.timedelta(hours=23)
    (extract,) = runs_of(observed, "SETL-EXTR")
    (post,) = runs_of(observed, "SETL-POST")
    assert (extract.start, extract.end) == (
        dt.datetime(2024, 3, 10, 7, 35, tzinfo=UTC),  # "02:35" → 03:35 EDT
        dt.datetime(2024, 3, 10, 7, 55, tzinfo=UTC),
    )
    assert post.start == dt.datetime(2024, 3, 10, 8, 2, tzinfo=UTC) and post.status == RunStatus.RUNNING


def _insert_run(
    conn: sa.Connection,
    code: str,
    nbr: Any,
    start: dt.datetime | None,
    end: dt.datetime | None = None,
    status: str = "40",
    *,
    threads: list[tuple[int, str, list[tuple[Any, ...]]]] | None = None,
    bus_dt: dt.date | None = DAY,
) -> None:
    """A run with threads (number, status, executions: (start, end, records[, errors, scheduler id]))."""
    key = {"batch_cd": code, "batch_nbr": nbr, "batch_rerun_nbr": 0}
    conn.execute(
        sa.insert(ci_batch_run).values(**key, batch_bus_dt=bus_dt, run_status=status, start_dttm=start, end_dttm=end)
    )
    for number, thread_status, executions in threads or []:
        conn.execute(sa.insert(ci_batch_thd).values(**key, batch_thread_nbr=number, thread_status=thread_status))
        for index, (e_start, e_end, records, *rest) in enumerate(executions):
            conn.execute(
                sa.insert(ci_batch_inst).values(
                    **key,
                    batch_thread_nbr=number,
                    start_dttm=e_start,
                    end_dttm=e_end,
                    rec_proc_cnt=records,
                    rec_err_cnt=rest[0] if rest else 0,
                    scheduler_id=rest[1] if len(rest) > 1 else 900_000 + number * 10 + index,
                )
            )


def test_a_run_starting_at_0450_belongs_to_the_previous_business_day(ccb: sa.Engine) -> None:
    with ccb.begin() as conn:  # 04:50 on the 25th, Dhaka: still business day the 24th (05:00 → 05:00)
        _insert_run(conn, "CM-DMRU", 41, dt.datetime(2026, 11, 25, 4, 50), dt.datetime(2026, 11, 25, 5, 30))
        _insert_run(conn, "CM-DMRU", 42, dt.datetime(2026, 11, 25, 5, 0), dt.datetime(2026, 11, 25, 5, 40))
    day = read(ccb, at("06:00", NEXT_DAY), date=DAY)
    next_day = read(ccb, at("06:00", NEXT_DAY), date=NEXT_DAY)
    assert [r.batch_nbr for r in day.runs] == [41]
    assert [r.batch_nbr for r in next_day.runs] == [42]
    assert day.runs[0].start == dt.datetime(2026, 11, 24, 22, 50, tzinfo=UTC)


def test_a_run_crossing_midnight_belongs_to_the_day_it_started_in(ccb: sa.Engine) -> None:
    play(ccb, scenario("midnight"), DPDC, DAY, at("04:00"))
    (sms,) = runs_of(read(ccb, at("04:00")), "BILLRESTSMS")
    assert (sms.start, sms.end, sms.status) == (
        dt.datetime(2026, 11, 24, 17, 30, tzinfo=UTC),  # 23:30 on the 24th, Dhaka
        dt.datetime(2026, 11, 24, 18, 40, tzinfo=UTC),  # 00:40 on the 25th
        RunStatus.COMPLETE,
    )
    assert runs_of(read(ccb, at("06:00", NEXT_DAY), date=NEXT_DAY), "BILLRESTSMS") == []


def test_the_day_before_clocks_go_back_has_25_hours_and_keeps_the_repeated_hour(ccb: sa.Engine) -> None:
    date = dt.date(2024, 11, 2)  # 02:30 EDT on the 2nd → 02:30 EST on the 3rd
    with ccb.begin() as conn:
        _insert_run(conn, "SETL-POST", 7, dt.datetime(2024, 11, 3, 1, 30), dt.datetime(2024, 11, 3, 2, 20), bus_dt=date)
        _insert_run(conn, "SETL-POST", 8, dt.datetime(2024, 11, 3, 2, 40), None, "20", bus_dt=date)
    observed = read(ccb, dt.datetime(2024, 11, 3, 8, 0, tzinfo=UTC), US_EAST, date)
    assert observed.window_end - observed.window_start == dt.timedelta(hours=25)
    # 01:30 happens twice that night; the reader reads it as business_day.localize does
    assert [(r.batch_nbr, r.start, r.end) for r in observed.runs] == [
        (
            7,
            bd.localize(dt.datetime(2024, 11, 3, 1, 30), US_EAST.timezone),
            dt.datetime(2024, 11, 3, 7, 20, tzinfo=UTC),  # 02:20 EST
        ),
    ]


def test_a_failed_run_carries_the_message_its_thread_logged(ccb: sa.Engine) -> None:
    failure = scenario("failure")
    play(ccb, failure, DPDC, DAY, at("14:45"))
    (failed,) = runs_of(read(ccb, at("14:45")), "C1-PPBTR")
    assert (failed.status, failed.status_code, failed.error_text) == (
        RunStatus.ERROR,
        "30",
        "ORA-12545 Connection timeout",
    )
    assert [t.thread_nbr for t in failed.threads if t.status == RunStatus.ERROR] == [4]
    assert failed.end == at("14:30")
    play(ccb, failure, DPDC, DAY, at("15:30"))
    first, rerun = runs_of(read(ccb, at("15:30")), "C1-PPBTR")
    assert (first.batch_nbr, first.rerun_nbr, rerun.rerun_nbr) == (rerun.batch_nbr, 0, 1)
    assert (rerun.status, rerun.error_text, first.error_text) == (
        RunStatus.RUNNING,
        None,
        "ORA-12545 Connection timeout",
    )


def test_it_sees_only_what_existed_at_as_of_when_the_tables_hold_more(ccb: sa.Engine) -> None:
    play(ccb, scenario("failure"), DPDC, DAY, at("04:45"))  # the whole day has run
    at_one = read(ccb, at("13:00"))
    assert sorted({r.batch_cd for r in at_one.runs}) == ["C1-PPBTR", "CM-DMRU", "D1-IMD"]
    (ppbtr,) = runs_of(at_one, "C1-PPBTR")
    assert (ppbtr.status, ppbtr.status_code, ppbtr.end, ppbtr.error_text) == (RunStatus.RUNNING, "20", None, None)
    assert all(t.status == RunStatus.RUNNING and t.end is None for t in ppbtr.threads)
    assert at_one.anomalies == []
    at_quarter_to_three = read(ccb, at("14:45"))
    assert [(r.rerun_nbr, r.status) for r in runs_of(at_quarter_to_three, "C1-PPBTR")] == [(0, RunStatus.ERROR)]


def test_a_restart_after_as_of_is_not_seen(ccb: sa.Engine) -> None:
    play(ccb, scenario("stuck"), DPDC, DAY, at("04:45"))
    first_imd = runs_of(read(ccb, at("07:30")), "D1-IMD")[0]
    stalled = first_imd.threads[3]
    assert (first_imd.status, stalled.status, stalled.executions, stalled.end) == (
        RunStatus.RUNNING,
        RunStatus.RUNNING,
        1,
        None,
    )
    assert [t.status for t in first_imd.threads].count(RunStatus.COMPLETE) == 5
    restarted = runs_of(read(ccb, at("08:15")), "D1-IMD")[0].threads[3]
    assert (restarted.executions, restarted.last_activity) == (2, at("08:00"))


def test_the_completion_check_runs_for_steps_that_have_one(ccb: sa.Engine) -> None:
    normal = scenario("normal")
    checks = []
    for clock in ("05:15", "09:10", "09:30"):
        play(ccb, normal, DPDC, DAY, at(clock))
        checks.append(read(ccb, at(clock)).checks)
    assert checks == [{"D1-IMD": 2400}, {"D1-IMD": 150}, {"D1-IMD": 0}]
    steps = [s.model_copy(update={"enabled": False}) if s.id == "D1-IMD" else s for s in DPDC.steps]
    without_imd = DPDC.model_copy(update={"steps": steps})
    observed = read(ccb, at("09:30"), without_imd)
    assert observed.checks == {} and runs_of(observed, "D1-IMD") == []


def test_the_completion_check_read_for_yesterday_does_not_count_the_new_days_pending_imds(ccb: sa.Engine) -> None:
    next_day = DAY + dt.timedelta(days=1)
    next_morning = at("05:15", next_day)
    play(ccb, scenario("normal"), DPDC, DAY, next_morning)  # yesterday: every IMD done by 09:25
    play(ccb, scenario("normal"), DPDC, next_day, next_morning)  # today: 2,400 IMDs arrived at 05:00
    assert read(ccb, next_morning, date=next_day).checks == {"D1-IMD": 2400}
    assert read(ccb, next_morning, date=DAY).checks == {"D1-IMD": 0}


def test_a_site_may_replace_the_error_message_sql(ccb: sa.Engine, tmp_path: Any) -> None:
    custom = tmp_path / "site_errors.sql"
    custom.write_text(
        "SELECT T.BATCH_CD, T.BATCH_NBR, T.BATCH_RERUN_NBR, T.BATCH_THREAD_NBR,\n"
        "       'thread failed, see the batch server log' AS MESSAGE_TEXT\n"
        "FROM CI_BATCH_THD T\n"
        "WHERE RTRIM(T.THREAD_STATUS) IN :error_codes AND RTRIM(T.BATCH_CD) IN :batch_codes\n"
    )
    site = DPDC.model_copy(update={"error_message_sql": str(custom)})
    play(ccb, scenario("failure"), DPDC, DAY, at("14:45"))
    (failed,) = runs_of(read(ccb, at("14:45"), site), "C1-PPBTR")
    assert failed.error_text == "thread failed, see the batch server log"


def test_sites_that_write_er_for_an_error_are_understood(ccb: sa.Engine) -> None:
    with ccb.begin() as conn:
        _insert_run(
            conn,
            "C1-PPBTR",
            9,
            dt.datetime(2026, 11, 24, 12, 0),
            dt.datetime(2026, 11, 24, 12, 30),
            "ER",
            threads=[(1, "ER", [(dt.datetime(2026, 11, 24, 12, 0), dt.datetime(2026, 11, 24, 12, 30), 10)])],
        )
    observed = read(ccb, at("13:00"))
    assert [(r.status, r.status_code) for r in observed.runs] == [(RunStatus.ERROR, "ER")]
    assert observed.anomalies == []


T = dt.datetime(2026, 11, 24, 12, 0)  # noon in Dhaka
H = dt.timedelta(hours=1)

ANOMALIES: list[tuple[str, Any, str, Any]] = [
    (
        "no start time",
        lambda c: _insert_run(c, "CM_BSGGN", 5, None, None, "20"),
        "CM_BSGGN run 5: START_DTTM is empty; the run cannot be placed in the day",
        lambda o: [r.start for r in runs_of(o, "CM_BSGGN")] == [None],
    ),
    (
        "end before start",
        lambda c: _insert_run(c, "CM_BSGGN", 5, T, T - H),
        "CM_BSGGN run 5: END_DTTM is before START_DTTM; end taken as the start",
        lambda o: [(r.start, r.end) for r in runs_of(o, "CM_BSGGN")] == [(at("12:00"), at("12:00"))],
    ),
    (
        "complete without an end",
        lambda c: _insert_run(c, "CM_BSGGN", 5, T, None, "40"),
        "CM_BSGGN run 5: RUN_STATUS '40' (complete) but END_DTTM is empty",
        lambda o: [r.status for r in runs_of(o, "CM_BSGGN")] == [RunStatus.COMPLETE],
    ),
    (
        "unknown status",
        lambda c: _insert_run(c, "CM_BSGGN", 5, T, T + H, "XX"),
        "CM_BSGGN run 5: RUN_STATUS 'XX' is not in the workflow's status_map; status unknown",
        lambda o: [r.status for r in runs_of(o, "CM_BSGGN")] == [RunStatus.UNKNOWN],
    ),
    (
        "negative record count",
        lambda c: _insert_run(
            c, "CM_BSGGN", 5, T, T + H, threads=[(1, "40", [(T, T + H, -5)]), (2, "40", [(T, T + H, 7)])]
        ),
        "CM_BSGGN run 5 thread 1: REC_PROC_CNT is negative (-5); taken as 0",
        lambda o: [r.records for r in runs_of(o, "CM_BSGGN")] == [7],
    ),
    (
        "duplicate run row",
        lambda c: [_insert_run(c, "CM_BSGGN", 5, T, T + H) for _ in range(2)],
        "CM_BSGGN run 5: duplicate CI_BATCH_RUN row ignored",
        lambda o: len(runs_of(o, "CM_BSGGN")) == 1,
    ),
    (
        "duplicate thread and execution rows",
        lambda c: (
            [_insert_run(c, "CM_BSGGN", 5, T, T + H, threads=[(1, "40", [(T, T + H, 100)])])]
            + [
                c.execute(sa.insert(t).from_select(list(t.c.keys()), sa.select(t)))
                for t in (ci_batch_thd, ci_batch_inst)
            ]
        ),
        "CM_BSGGN run 5 thread 1: duplicate CI_BATCH_INST row ignored",
        lambda o: [(len(r.threads), r.records) for r in runs_of(o, "CM_BSGGN")] == [(1, 100)],
    ),
    (
        "execution without a thread row",
        lambda c: [
            _insert_run(c, "CM_BSGGN", 5, T, T + H, threads=[(1, "40", [(T, T + H, 100)])]),
            c.execute(sa.delete(ci_batch_thd).where(ci_batch_thd.c.batch_nbr == 5)),
        ],
        "CM_BSGGN run 5 thread 1: thread execution without a CI_BATCH_THD row; thread status unknown",
        lambda o: [[t.status for t in r.threads] for r in runs_of(o, "CM_BSGGN")] == [[RunStatus.UNKNOWN]],
    ),
    (
        "execution ending before it starts",
        lambda c: _insert_run(c, "CM_BSGGN", 5, T, T + H, threads=[(1, "40", [(T + H, T, 100)])]),
        "CM_BSGGN run 5 thread 1: thread execution END_DTTM is before START_DTTM; end taken as the start",
        lambda o: [[t.end for t in r.threads] for r in runs_of(o, "CM_BSGGN")] == [[at("13:00")]],
    ),
]


@pytest.mark.parametrize(("insert", "anomaly", "check"), [a[1:] for a in ANOMALIES], ids=[a[0] for a in ANOMALIES])
def test_a_bad_row_is_kept_or_skipped_and_reported_never_a_crash(
    ccb: sa.Engine, insert: Any, anomaly: str, check: Any
) -> None:
    play(ccb, scenario("normal"), DPDC, DAY, at("14:00"))
    with ccb.begin() as conn:
        insert(conn)
    observed = read(ccb, at("14:00"))
    assert anomaly in observed.anomalies, observed.anomalies
    assert check(observed)
    assert len(runs_of(observed, "D1-IMD")) == 3  # the rest of the day is read as always


def _raw(sql: str) -> Any:
    """Insert with plain SQL: SQLite keeps text in a NUMBER or TIMESTAMP column as it is."""
    return lambda conn: conn.execute(sa.text(sql))


_RUN_COLUMNS = "INSERT INTO CI_BATCH_RUN (BATCH_CD, BATCH_NBR, BATCH_RERUN_NBR, BATCH_BUS_DT, RUN_STATUS, START_DTTM)"

SQLITE_ONLY_ANOMALIES = [
    (
        "text in a count column",
        lambda c: [
            _insert_run(c, "CM_BSGGN", 5, T, None, "20", threads=[(1, "20", [])]),
            _raw(
                "INSERT INTO CI_BATCH_INST (BATCH_CD, BATCH_NBR, BATCH_RERUN_NBR, BATCH_THREAD_NBR, START_DTTM, "
                "REC_PROC_CNT, SCHEDULER_ID) VALUES ('CM_BSGGN', 5, 0, 1, '2026-11-24 12:00:00.000000', 'lots', 1)"
            )(c),
        ],
        "CM_BSGGN run 5 thread 1: REC_PROC_CNT 'lots' is not a number",
        lambda o: [(r.records, r.threads[0].executions) for r in runs_of(o, "CM_BSGGN")] == [(0, 1)],
    ),
    (
        "text as batch number",
        _raw(f"{_RUN_COLUMNS} VALUES ('CM_BSGGN', 'five', 0, '2026-11-24', '20', '2026-11-24 12:00:00.000000')"),
        "CM_BSGGN run 'five': row without a usable BATCH_NBR ignored",
        lambda o: runs_of(o, "CM_BSGGN") == [],
    ),
    (
        "text as start time",
        _raw(f"{_RUN_COLUMNS} VALUES ('CM_BSGGN', 5, 0, '2026-11-24', '20', '2026-11-24 12h00')"),
        "CM_BSGGN run 5: START_DTTM '2026-11-24 12h00' is not a timestamp",
        lambda o: [r.start for r in runs_of(o, "CM_BSGGN")] == [None],
    ),
]


@pytest.mark.parametrize(
    ("insert", "anomaly", "check"), [a[1:] for a in SQLITE_ONLY_ANOMALIES], ids=[a[0] for a in SQLITE_ONLY_ANOMALIES]
)
@pytest.mark.parametrize("ccb", ["sqlite"], indirect=True)
def test_text_where_a_number_or_time_belongs_is_reported_not_a_crash(
    ccb: sa.Engine, insert: Any, anomaly: str, check: Any
) -> None:
    play(ccb, scenario("normal"), DPDC, DAY, at("14:00"))
    with ccb.begin() as conn:
        insert(conn)
    observed = read(ccb, at("14:00"))
    assert anomaly in observed.anomalies, observed.anomalies
    assert check(observed)
