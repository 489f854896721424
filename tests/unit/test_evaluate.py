"""The evaluator judges a business day as of a moment: states, findings, progress memory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.support.workflows import load_test_workflow

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import FindingKind, RunStatus, StepStatus
from batch_monitor.evaluate import evaluate
from batch_monitor.models import (
    Evaluation,
    Observations,
    Progress,
    RunObservation,
    StepBaseline,
    ThreadObservation,
)
from batch_monitor.text import format_duration

DAY = dt.date(2026, 11, 24)
WF: WorkflowConfig = load_test_workflow("dpdc_ami")
_NEXT_NBR = iter(range(1000, 100000))


def at(clock: str, date: dt.date = DAY) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    return bd.at_clock(date, dt.time(hour, minute), WF.timezone, WF.business_day_start)


def run(
    code: str,
    start: str,
    end: str | None = None,
    *,
    status: RunStatus | None = None,
    records: int = 120_000,
    threads: int = 4,
    done: int | None = None,
    nbr: int | None = None,
    rerun: int = 0,
    error: str | None = None,
    date: dt.date = DAY,
    active: str | None = None,
) -> RunObservation:
    """A run; ``active``: when its running threads last showed activity in CC&B (default: its start)."""
    status = status or (RunStatus.COMPLETE if end else RunStatus.RUNNING)
    finished = status in (RunStatus.COMPLETE, RunStatus.ERROR)
    done = threads if done is None and finished else (done or 0)
    thread_rows = [
        ThreadObservation(
            thread_nbr=i + 1,
            status=(status if finished else RunStatus.COMPLETE) if i < done else RunStatus.RUNNING,
            start=at(start, date),
            end=at(end, date) if end and i < done else None,
            last_activity=at(end, date) if end and i < done else at(active or start, date),
            records=records // threads,
        )
        for i in range(threads)
    ]
    return RunObservation(
        batch_cd=code,
        batch_nbr=nbr or next(_NEXT_NBR),
        rerun_nbr=rerun,
        status=status,
        start=at(start, date),
        end=at(end, date) if end else None,
        threads=thread_rows,
        error_text=error,
    )


NORMAL_MORNING = [
    run("CM-DMRU", "05:00", "05:50", records=200_000),
    run("D1-IMD", "06:00", "06:40"),
    run("D1-IMD", "07:00", "07:30"),
]


def judge(
    clock: str,
    runs: list[RunObservation],
    checks: dict[str, int | None] | None = None,
    memory: dict[str, Progress] | None = None,
    anomalies: list[str] | None = None,
    completed: set[str] | None = None,
    as_of: dt.datetime | None = None,
    baselines: dict[str, StepBaseline] | None = None,
) -> Evaluation:
    as_of = as_of or at(clock)
    start, end = bd.window(DAY, WF.timezone, WF.business_day_start)
    obs = Observations(
        workflow_id=WF.workflow_id,
        business_date=DAY,
        as_of=as_of,
        window_start=start,
        window_end=end,
        runs=runs,
        checks=checks or {},
        anomalies=anomalies or [],
    )
    return evaluate(WF, obs, as_of, memory, completed or set(), baselines=baselines)


def kinds(ev: Evaluation) -> set[tuple[str, str]]:
    return {(f.kind.value, f.step_id) for f in ev.findings}


def status(ev: Evaluation, step: str) -> StepStatus:
    return next(s.status for s in ev.steps if s.step_id == step)


@pytest.mark.parametrize(
    ("clock", "runs", "checks", "expected_status", "expected_findings"),
    [
        ("05:10", [], {}, {"CM-DMRU": StepStatus.PENDING, "D1-IMD": StepStatus.WAITING}, set()),
        ("05:16", [], {}, {"CM-DMRU": StepStatus.PENDING}, {("LATE_START", "CM-DMRU")}),
        ("05:30", [run("CM-DMRU", "05:00", records=90_000)], {}, {"CM-DMRU": StepStatus.RUNNING}, set()),
        ("07:10", NORMAL_MORNING, {"D1-IMD": 500}, {"D1-IMD": StepStatus.REPEATING}, set()),
        (
            "07:35",
            NORMAL_MORNING,
            {"D1-IMD": 0},
            {"D1-IMD": StepStatus.COMPLETE, "C1-PPBTR": StepStatus.PENDING},
            set(),
        ),
        # D1-IMD done at 07:30: C1-PPBTR is not late before its 12:00 clock start + 15 min grace
        ("12:10", NORMAL_MORNING, {"D1-IMD": 0}, {"C1-PPBTR": StepStatus.PENDING}, set()),
        ("12:20", NORMAL_MORNING, {"D1-IMD": 0}, {"C1-PPBTR": StepStatus.PENDING}, {("LATE_START", "C1-PPBTR")}),
        # D1-IMD's pending count never reaches 0 → it is not complete, and its 11:30 deadline passes
        ("11:45", NORMAL_MORNING, {"D1-IMD": 40}, {"D1-IMD": StepStatus.REPEATING}, {("MISSED_DEADLINE", "D1-IMD")}),
        # a step that waits on an unfinished predecessor is not "late": the predecessor is the problem
        (
            "12:30",
            NORMAL_MORNING[:1],
            {},
            {"D1-IMD": StepStatus.PENDING, "C1-PPBTR": StepStatus.WAITING},
            {("LATE_START", "D1-IMD"), ("MISSED_DEADLINE", "D1-IMD")},
        ),
    ],
)
def test_steps_and_findings_as_of_a_moment(
    clock: str,
    runs: list[RunObservation],
    checks: dict[str, int | None],
    expected_status: dict[str, StepStatus],
    expected_findings: set[tuple[str, str]],
) -> None:
    ev = judge(clock, runs, checks)
    for step, want in expected_status.items():
        assert status(ev, step) == want, step
    assert kinds(ev) == expected_findings


DONE_TO_PPBTR = [*NORMAL_MORNING]


def test_a_failed_step_raises_failed_with_the_error_text_until_a_rerun_completes() -> None:
    failed = run(
        "C1-PPBTR",
        "12:00",
        "14:30",
        status=RunStatus.ERROR,
        nbr=77,
        error="ORA-12545 Connection timeout\nat CIPBPPBT thread 3",
    )
    ev = judge("14:45", [*NORMAL_MORNING, failed], {"D1-IMD": 0})
    finding = next(f for f in ev.findings if f.kind == FindingKind.FAILED)
    assert finding.title == "C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout"
    assert finding.error_text and "ORA-12545" in finding.error_text
    assert finding.severity.value == "CRITICAL" and finding.since == at("14:30")
    assert status(ev, "C1-PPBTR") == StepStatus.FAILED
    assert status(ev, "F1-FLUSH") == StepStatus.WAITING

    rerun_running = run("C1-PPBTR", "15:00", nbr=77, rerun=1, records=50_000)
    ev = judge("15:30", [*NORMAL_MORNING, failed, rerun_running], {"D1-IMD": 0})
    assert status(ev, "C1-PPBTR") == StepStatus.RUNNING
    assert ("FAILED", "C1-PPBTR") in kinds(ev)

    rerun_done = run("C1-PPBTR", "15:00", "16:30", nbr=77, rerun=1)
    ev = judge("16:45", [*NORMAL_MORNING, failed, rerun_done], {"D1-IMD": 0})
    assert status(ev, "C1-PPBTR") == StepStatus.COMPLETE
    assert kinds(ev) == set()


def test_a_run_without_progress_for_stuck_after_is_stuck_and_also_long_running_once_past_its_limit() -> None:
    stalled = run("D1-IMD", "06:00", records=40_000, threads=4, done=1, nbr=5)
    key = stalled.key.token()
    memory = {key: Progress(records=stalled.records, threads_done=1, changed_at=at("06:30"), seen_at=at("07:15"))}
    ev = judge("07:30", [NORMAL_MORNING[0], stalled], memory=memory)
    assert status(ev, "D1-IMD") == StepStatus.STUCK
    assert kinds(ev) == {("STUCK", "D1-IMD")}  # 1h30m elapsed = max_duration: not yet long-running
    stuck = next(f for f in ev.findings if f.kind == FindingKind.STUCK)
    assert stuck.since == at("06:30") and "no progress for 1h 00m" in stuck.title
    # the progress memory carries the unchanged counts forward with their original change time
    assert ev.progress[key].changed_at == at("06:30")

    ev = judge("07:45", [NORMAL_MORNING[0], stalled], memory=memory)
    assert kinds(ev) == {("STUCK", "D1-IMD"), ("LONG_RUNNING", "D1-IMD")}  # 1h45m: past max_duration


def test_growing_records_reset_the_stuck_clock() -> None:
    moving = run("D1-IMD", "06:00", records=90_000, threads=4, done=1, nbr=6)
    memory = {moving.key.token(): Progress(records=40_000, threads_done=1, changed_at=at("06:30"), seen_at=at("07:15"))}
    ev = judge("07:30", [NORMAL_MORNING[0], moving], memory=memory)
    assert status(ev, "D1-IMD") == StepStatus.RUNNING
    assert ev.progress[moving.key.token()].changed_at == at("07:30")


LONG_BASELINE = StepBaseline(step_id="C1-PPBTR", sample_days=20, runs_per_day=1, duration_p50_s=4 * 3600)
FIRST_SIGHTINGS = [
    # seen at, the C1-PPBTR run's threads' last activity (it started 12:00), baselines, status
    ("14:00", "12:00", {}, StepStatus.RUNNING),  # 2h in, within its expected 2h45m: silence is normal
    ("14:30", "14:20", {}, StepStatus.RUNNING),
    ("15:00", "12:00", {}, StepStatus.STUCK),  # 3h: longer than a typical run, silent for 3h
    ("15:00", "14:30", {}, StepStatus.RUNNING),  # longer than typical, but a thread moved 30m ago
    ("15:00", "12:00", {"C1-PPBTR": LONG_BASELINE}, StepStatus.RUNNING),  # typically 4h: still normal
    # a baseline with too little history is not used: expected_duration (2h45m) speaks
    ("15:00", "12:00", {"C1-PPBTR": LONG_BASELINE.model_copy(update={"sample_days": 3})}, StepStatus.STUCK),
]


@pytest.mark.parametrize(("clock", "active", "baselines", "expected"), FIRST_SIGHTINGS)
def test_a_run_seen_for_the_first_time_is_judged_from_its_threads_once_it_outlasts_a_typical_run(
    clock: str, active: str, baselines: dict[str, StepBaseline], expected: StepStatus
) -> None:
    """Within a typical run's time a healthy run's threads run on without ending (the monitor started,
    or came back after an outage, mid-run); past it, their silence is the source's evidence."""
    ppbtr = run("C1-PPBTR", "12:00", records=150_000, threads=6, done=0, nbr=31, active=active)
    ev = judge(clock, [*NORMAL_MORNING, ppbtr], {"D1-IMD": 0}, baselines=baselines)
    assert status(ev, "C1-PPBTR") == expected


def test_a_run_already_frozen_when_first_seen_is_stuck_at_the_first_tick() -> None:
    """Regression: the stuck clock counted from the monitor's first sighting, so a run whose threads
    had shown no activity for 3 h (long past its typical 40m) waited another stuck_after before it
    was called stuck."""
    frozen = run("D1-IMD", "06:00", records=40_000, threads=4, done=1, nbr=7)
    threads = [t.model_copy(update={"last_activity": at("06:30")}) if t.thread_nbr == 1 else t for t in frozen.threads]
    frozen = frozen.model_copy(update={"threads": threads})  # its last thread execution ended at 06:30
    ev = judge("09:30", [NORMAL_MORNING[0], frozen])  # no memory: the monitor has never seen it
    assert status(ev, "D1-IMD") == StepStatus.STUCK
    stuck = next(f for f in ev.findings if f.kind == FindingKind.STUCK)
    assert stuck.since == at("06:30") and "no progress for 3h 00m" in stuck.title
    assert ev.progress[frozen.key.token()].changed_at == at("06:30")
    # growth seen at a later tick is progress again
    grown = frozen.model_copy(update={"threads": [t.model_copy(update={"records": 20_000}) for t in threads]})
    assert status(judge("09:45", [NORMAL_MORNING[0], grown], memory=ev.progress), "D1-IMD") == StepStatus.RUNNING


# tick, D1-IMD's record count then (started 06:00, max_duration 1h30m, stuck_after 1h), what holds
LONG_AND_STUCK = [
    ("06:15", 40_000, set()),
    ("07:00", 40_000, set()),  # no growth since 06:15, when it was first seen: 45m
    ("07:15", 40_000, {"STUCK"}),  # 1h without progress
    ("07:45", 40_000, {"STUCK", "LONG_RUNNING"}),  # past max_duration while stuck: both hold
    ("08:00", 80_000, {"LONG_RUNNING"}),  # it moves again: still long, no longer stuck
    ("08:15", 80_000, {"LONG_RUNNING"}),
    ("09:00", 80_000, {"STUCK", "LONG_RUNNING"}),  # frozen again since 08:00
]


def test_long_running_holds_while_a_long_run_is_stuck_and_after_it_moves_again() -> None:
    """Tick after tick with the memory each tick leaves: LONG_RUNNING never takes turns with STUCK."""
    memory: dict[str, Progress] = {}
    for clock, records, expected in LONG_AND_STUCK:
        imd = run("D1-IMD", "06:00", records=records, threads=4, done=0, nbr=9)
        ev = judge(clock, [NORMAL_MORNING[0], imd], memory=memory)
        memory = dict(ev.progress)
        held = {kind for kind, step in kinds(ev) if step == "D1-IMD"} - {"LOW_THROUGHPUT"}
        assert held == expected, clock


def test_a_long_slow_run_is_long_running_and_low_throughput() -> None:
    slow = run("C1-PPBTR", "12:00", records=100_000, threads=8)  # 100k records in 4h15m ≈ 6.5/s < 10
    seen = {slow.key.token(): Progress(records=95_000, threads_done=0, changed_at=at("16:00"), seen_at=at("16:00"))}
    ev = judge("16:15", [*NORMAL_MORNING, slow], {"D1-IMD": 0}, memory=seen)  # still growing: slow, not stuck
    assert kinds(ev) == {("LONG_RUNNING", "C1-PPBTR"), ("LOW_THROUGHPUT", "C1-PPBTR")}
    long = next(f for f in ev.findings if f.kind == FindingKind.LONG_RUNNING)
    assert long.title.startswith("C1-PPBTR running 4h 15m, expected 2h 45m, RPS 6.5 (threshold 10)")


def test_low_throughput_waits_for_15_minutes_of_running() -> None:
    early = run("C1-PPBTR", "12:00", records=10, threads=8)
    assert kinds(judge("12:10", [*NORMAL_MORNING, early], {"D1-IMD": 0})) == set()
    assert kinds(judge("12:16", [*NORMAL_MORNING, early], {"D1-IMD": 0})) == {("LOW_THROUGHPUT", "C1-PPBTR")}


def test_a_multi_run_step_completes_after_its_required_runs() -> None:
    base = [*NORMAL_MORNING, run("C1-PPBTR", "12:00", "14:45")]
    flushes = [run("F1-FLUSH", "15:00", "15:10"), run("F1-FLUSH", "15:30", "15:40")]
    ev = judge("15:50", [*base, *flushes], {"D1-IMD": 0})
    state = next(s for s in ev.steps if s.step_id == "F1-FLUSH")
    assert (state.status, state.runs_done, state.runs_required) == (StepStatus.REPEATING, 2, 3)
    ev = judge("16:15", [*base, *flushes, run("F1-FLUSH", "16:00", "16:10")], {"D1-IMD": 0})
    assert status(ev, "F1-FLUSH") == StepStatus.COMPLETE
    assert status(ev, "CM_BSGGN") == StepStatus.PENDING


def test_a_past_days_step_seen_complete_is_not_reopened_by_a_later_reading_of_its_check() -> None:
    next_morning = bd.window(DAY, WF.timezone, WF.business_day_start)[1] + dt.timedelta(minutes=15)
    ppbtr = run("C1-PPBTR", "12:00", "14:30", status=RunStatus.ERROR, error="ORA-12545")
    runs = [*NORMAL_MORNING, ppbtr]
    # the check, read the next morning, counts pending IMDs again (a check that ignores its day)
    reopened = judge("", runs, {"D1-IMD": 2400}, as_of=next_morning)
    assert status(reopened, "D1-IMD") == StepStatus.REPEATING  # what the monitor saw without memory
    kept = judge("", runs, {"D1-IMD": 2400}, completed={"CM-DMRU", "D1-IMD"}, as_of=next_morning)
    assert status(kept, "D1-IMD") == StepStatus.COMPLETE
    assert not kinds(kept) & {("MISSED_DEADLINE", "D1-IMD"), ("OUT_OF_ORDER", "C1-PPBTR")}
    # while the day is still on, the check speaks: new pending IMDs mean more runs are due
    assert status(judge("08:00", NORMAL_MORNING, {"D1-IMD": 300}, completed={"D1-IMD"}), "D1-IMD") == (
        StepStatus.REPEATING
    )


def test_a_step_that_completed_after_its_deadline_between_two_ticks_is_a_closed_missed_deadline() -> None:
    day = [
        *NORMAL_MORNING,
        run("C1-PPBTR", "12:00", "14:45"),
        *[run("F1-FLUSH", f"{h}:00", f"{h}:10") for h in (15, 16, 17)],
        run("CM_BSGGN", "17:20", "20:10", records=200_000),
    ]
    assert ("MISSED_DEADLINE", "CM_BSGGN") not in kinds(judge("20:00", [*day[:-1], run("CM_BSGGN", "17:20")]))
    ev = judge("20:15", day, {"D1-IMD": 0})
    [late] = [f for f in ev.findings if f.kind == FindingKind.MISSED_DEADLINE]
    assert (late.step_id, late.severity.value, late.closed) == ("CM_BSGGN", "CRITICAL", True)
    assert late.ended_at == at("20:10") and late.since == at("20:00")
    assert "completed 10m late" in late.title


def test_a_step_that_started_after_its_grace_between_two_ticks_is_a_closed_late_start() -> None:
    ev = judge("05:30", [run("CM-DMRU", "05:20")])  # the 05:15 tick saw nothing late yet
    [late] = [f for f in ev.findings if f.kind == FindingKind.LATE_START]
    assert (late.step_id, late.closed, late.ended_at) == ("CM-DMRU", True, at("05:20"))
    assert "started 20m late" in late.title
    assert not [f for f in judge("05:30", [run("CM-DMRU", "05:14")]).findings if f.kind == FindingKind.LATE_START]


def test_a_step_started_while_its_predecessor_had_failed_is_out_of_order_not_late() -> None:
    failed = run("C1-PPBTR", "12:00", "14:30", status=RunStatus.ERROR, error="ORA-12545")
    ev = judge("15:45", [*NORMAL_MORNING, failed, run("F1-FLUSH", "15:30")], {"D1-IMD": 0})
    assert ("OUT_OF_ORDER", "F1-FLUSH") in kinds(ev)
    assert ("LATE_START", "F1-FLUSH") not in kinds(ev)


def test_the_dpdc_description_healthy_morning_raises_nothing() -> None:
    first_reads = run("CM-DMRU", "05:03", "07:15", records=992_000, threads=8, nbr=501)  # 2h 12m, RPS 125
    running = run("CM-DMRU", "05:03", records=900_000, threads=8, done=7, nbr=501, active="06:55")
    imd = run("D1-IMD", "07:20", "08:00", records=214_000, nbr=502)  # RPS 89
    imd_running = run("D1-IMD", "07:20", records=100_000, done=2, nbr=502, active="07:28")
    assert kinds(judge("07:00", [running])) == set()
    assert kinds(judge("07:15", [first_reads], {"D1-IMD": 500})) == set()
    for clock in ("07:30", "07:45"):
        assert kinds(judge(clock, [first_reads, imd_running], {"D1-IMD": 500})) == set(), clock
    assert kinds(judge("08:15", [first_reads, imd], {"D1-IMD": 0})) == set()


def test_a_step_started_before_its_predecessor_completed_is_out_of_order() -> None:
    early = run("C1-PPBTR", "07:10", "09:00")
    ev = judge("09:10", [*NORMAL_MORNING, early], {"D1-IMD": 0})
    assert ("OUT_OF_ORDER", "C1-PPBTR") in kinds(ev)


def test_a_completed_run_with_no_records_is_an_empty_run_unless_none_are_expected() -> None:
    ev = judge("05:50", [run("CM-DMRU", "05:00", "05:40", records=0)])
    assert kinds(ev) == {("EMPTY_RUN", "CM-DMRU")}
    base = [*NORMAL_MORNING, run("C1-PPBTR", "12:00", "14:45")]
    ev = judge("15:20", [*base, run("F1-FLUSH", "15:00", "15:10", records=0)], {"D1-IMD": 0})
    assert ("EMPTY_RUN", "F1-FLUSH") not in kinds(ev)  # F1-FLUSH has expect_records: false


def test_a_run_crossing_midnight_stays_in_its_business_day_and_the_chain_deadline_is_judged() -> None:
    day = [
        *NORMAL_MORNING,
        run("C1-PPBTR", "12:00", "14:45"),
        *[run("F1-FLUSH", f"{h}:00", f"{h}:10") for h in (15, 16, 17)],
        run("CM_BSGGN", "17:20", "18:30"),
    ]
    sms = {"nbr": 4242, "records": 30_000}
    sms_running = run("BILLRESTSMS", "23:30", active="00:20", **sms)
    ev = judge("00:30", [*day, sms_running], {"D1-IMD": 0})  # 00:30 Nov 25: still Nov 24
    assert status(ev, "BILLRESTSMS") == StepStatus.RUNNING
    assert ("MISSED_DEADLINE", "_chain") in kinds(ev)
    ev = judge("00:45", [*day, run("BILLRESTSMS", "23:30", "00:40", **sms)], {"D1-IMD": 0})
    assert ev.chain_status == StepStatus.COMPLETE
    # nothing holds any more; the day's breaches stay on record as over (closed)
    assert all(f.closed for f in ev.findings)
    over = {("LATE_START", "BILLRESTSMS"), ("MISSED_DEADLINE", "BILLRESTSMS"), ("MISSED_DEADLINE", "_chain")}
    assert kinds(ev) == over


def test_a_run_that_started_before_0500_belongs_to_the_previous_day() -> None:
    yesterday_late = run("CM-DMRU", "04:50", "05:20", date=DAY)  # 04:50 on Nov 25 → business day Nov 24
    early_today = RunObservation(**{**yesterday_late.model_dump(), "start": at("04:50", DAY - dt.timedelta(days=1))})
    ev = judge("05:10", [early_today])
    assert status(ev, "CM-DMRU") == StepStatus.PENDING


def test_source_anomalies_become_one_data_quality_finding() -> None:
    ev = judge("05:10", [], anomalies=["CI_BATCH_RUN CM-DMRU 12/0: START_DTTM is NULL"])
    assert kinds(ev) == {("DATA_QUALITY", "_chain")}


def test_evaluation_is_deterministic_for_the_same_inputs() -> None:
    args: dict[str, Any] = {
        "clock": "16:15",
        "runs": [*NORMAL_MORNING, run("C1-PPBTR", "12:00", nbr=9)],
        "checks": {"D1-IMD": 0},
    }
    assert judge(**args).model_dump() == judge(**args).model_dump()


def test_a_running_step_has_a_predicted_end_and_progress() -> None:
    ev = judge("12:30", [*NORMAL_MORNING, run("C1-PPBTR", "12:00", records=50_000, threads=4, done=2)], {"D1-IMD": 0})
    state = next(s for s in ev.steps if s.step_id == "C1-PPBTR")
    assert state.progress == 0.5 and state.progress_basis == "threads"
    # half its threads done in 30 minutes: the other half takes as long again (the forecast's threads
    # rule); the typical 2h45m no longer overrides the run's own evidence
    assert state.predicted_start == at("12:00") and state.predicted_end == at("13:00")
    assert state.expected_start == at("12:00") and state.finish_by == at("17:00")


@pytest.mark.parametrize(("seconds", "text"), [(40, "40s"), (35 * 60, "35m"), (4 * 3600 + 23 * 60, "4h 23m")])
def test_durations_print_as_operators_read_them(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_what_to_do_fits_the_alert_the_ora_runbook_only_for_the_failure() -> None:
    slow = run("C1-PPBTR", "12:00", records=9_000, nbr=777, active="12:50")  # 5 records/s against 10
    slow_ev = judge("13:00", [*NORMAL_MORNING, slow], {"D1-IMD": 0})
    [low] = [f for f in slow_ev.findings if f.kind == FindingKind.LOW_THROUGHPUT]
    assert "ORA-" not in low.action and "C1-PPBTR" in low.action
    failed = run("C1-PPBTR", "12:00", "14:30", status=RunStatus.ERROR, error="ORA-12545", nbr=778)
    [failure] = [f for f in judge("14:45", [*NORMAL_MORNING, failed], {"D1-IMD": 0}).findings if f.kind == "FAILED"]
    assert failure.action.startswith("On ORA- errors")
    late = judge(
        "17:15", [*NORMAL_MORNING, run("C1-PPBTR", "12:00", records=900_000, nbr=779, active="17:00")], {"D1-IMD": 0}
    )
    [deadline] = [f for f in late.findings if f.kind == FindingKind.MISSED_DEADLINE]
    assert "ORA-" not in deadline.action and deadline.action


def test_a_count_going_back_is_not_progress_and_is_a_data_problem() -> None:
    stalled = run("D1-IMD", "06:00", records=40_000, threads=4, done=1, nbr=8)
    key = stalled.key.token()
    memory = {key: Progress(records=52_000, threads_done=1, changed_at=at("06:30"), seen_at=at("07:15"))}
    ev = judge("07:30", [NORMAL_MORNING[0], stalled], memory=memory)
    assert status(ev, "D1-IMD") == StepStatus.STUCK  # 52,000 then 40,000: no progress since 06:30
    assert ev.progress[key].records == 52_000 and ev.progress[key].changed_at == at("06:30")
    (quality,) = [f for f in ev.findings if f.kind == FindingKind.DATA_QUALITY]
    assert "D1-IMD run 8: REC_PROC_CNT went back from 52,000 to 40,000" in quality.details["anomalies"][0]
    stuck = next(f for f in ev.findings if f.kind == FindingKind.STUCK)
    assert "REC_PROC_CNT went back" in stuck.details["data_problem"]


def test_a_critical_finding_names_the_data_problems_of_its_step_and_predecessors_only() -> None:
    anomalies = [
        "CM-DMRU run 3: START_DTTM is empty; start taken as its threads' earliest start",
        "BILLRESTSMS run 4: duplicate CI_BATCH_RUN row ignored",
    ]
    ev = judge("11:45", NORMAL_MORNING[:1], anomalies=anomalies)  # D1-IMD has not cleared the IMDs by 11:30
    missed = {f.step_id: f for f in ev.findings if f.kind == FindingKind.MISSED_DEADLINE}
    assert missed["D1-IMD"].details["data_problem"] == anomalies[0]  # CM-DMRU comes before D1-IMD
    assert all(f.kind != FindingKind.DATA_QUALITY or "data_problem" not in f.details for f in ev.findings)
