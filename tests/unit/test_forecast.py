"""The forecast: a running run's progress and remaining time, each step's predicted start and end,
the chain's predicted finish and its critical path. Pure: runs and steps built by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from batch_monitor.config import parse_workflow
from batch_monitor.constants import RunStatus, StepStatus
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.forecast import Basis, StepInput, Typical, drivers, forecast, run_progress
from batch_monitor.models import RunView, StepBaseline

T0 = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)  # 12:00 in Dhaka; the tests count minutes from here
H = dt.timedelta(hours=1)


def m(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def view(
    start: float,
    end: float | None = None,
    *,
    status: RunStatus | None = None,
    records: int = 0,
    threads: int = 1,
    done: int = 0,
    failed: int = 0,
    step: str = "S",
    rerun: int = 0,
) -> RunView:
    """A run from minute ``start`` (to ``end``), with its records and threads."""
    status = status or (RunStatus.COMPLETE if end is not None else RunStatus.RUNNING)
    return RunView(
        batch_cd=step,
        batch_nbr=1,
        rerun_nbr=rerun,
        step_id=step,
        status=status,
        start=m(start),
        end=m(end) if end is not None else None,
        records=records,
        threads_total=threads,
        threads_done=done,
        threads_failed=failed,
    )


TYPICAL = Typical(duration=2 * H, records=120_000)


# --------------------------------------------------------------------------- one running run


@pytest.mark.parametrize(
    ("case", "run", "typical", "basis", "fraction", "remaining_min"),
    [
        # records: 30,000 of a typical 120,000 in 30 minutes: a quarter, 90 minutes more
        ("records", view(0, records=30_000, threads=4, done=1), TYPICAL, Basis.RECORDS, 0.25, 90),
        # crawling at a third of the usual rate (60,000 an hour): 10,000 in 30 minutes, 5h30m more
        ("records, crawling", view(0, records=10_000), TYPICAL, Basis.RECORDS, 1 / 12, 330),
        # records win over threads when both are known
        ("records over threads", view(0, records=60_000, threads=4, done=1), TYPICAL, Basis.RECORDS, 0.5, 30),
        # more records than usual: nearly done, never shown complete
        ("records beyond typical", view(0, records=200_000), TYPICAL, Basis.RECORDS, 0.99, 30 * 0.01 / 0.99),
        # no typical records: threads, 3 of 4 done in 45 minutes: 15 more
        ("threads", view(-15, records=5, threads=4, done=3), Typical(duration=2 * H), Basis.THREADS, 0.75, 15),
        # a failed thread is not done work
        ("threads, one failed", view(0, threads=4, done=2, failed=1), Typical(duration=2 * H), Basis.THREADS, 0.25, 90),
        # a single thread says nothing until it ends: elapsed against typical
        ("one thread", view(0, threads=1), Typical(duration=2 * H), Basis.ELAPSED, 0.25, 90),
        # no thread done yet: elapsed
        ("no thread done", view(0, threads=4), Typical(duration=2 * H), Basis.ELAPSED, 0.25, 90),
        # past its typical duration on elapsed time alone: nothing says more is left
        ("elapsed past typical", view(-150, threads=4), Typical(duration=2 * H), Basis.ELAPSED, 0.99, 0),
    ],
)
def test_a_running_run_progress_rests_on_records_then_threads_then_elapsed_time(
    case: str, run: RunView, typical: Typical, basis: Basis, fraction: float, remaining_min: float
) -> None:
    progress = run_progress(run, typical, m(30))
    assert progress is not None, case
    assert progress.basis == basis, case
    assert progress.fraction == pytest.approx(fraction, abs=0.001), case
    assert progress.remaining.total_seconds() == pytest.approx(remaining_min * 60, abs=1), case


def test_a_run_with_no_evidence_has_no_progress() -> None:
    assert run_progress(view(0, threads=4), Typical(), m(30)) is None


def test_a_nearly_empty_run_is_predicted_at_most_49_times_its_elapsed_time() -> None:
    progress = run_progress(view(0, records=1), TYPICAL, m(10))
    assert progress is not None and progress.remaining == dt.timedelta(minutes=10) * 49


@pytest.mark.parametrize(
    ("case", "failed", "rerun", "typical", "basis", "remaining_min"),
    [
        # 200,000 of a typical 300,000 committed before the failure; the rerun did 10,000 of the
        # 100,000 left in 15 minutes: 135 minutes more, at its own pace
        (
            "records",
            view(-180, -30, status=RunStatus.ERROR, records=200_000),
            view(0, records=10_000),
            Typical(duration=2 * H, records=300_000),
            Basis.RECORDS,
            135,
        ),
        # five of six threads completed before the failure: the rerun has a sixth of 2h to do
        (
            "threads",
            view(-150, -30, status=RunStatus.ERROR, threads=6, done=6, failed=1),
            view(0, threads=6),
            Typical(duration=2 * H),
            Basis.ELAPSED,
            20 - 15,
        ),
        # nothing but time: 1h30m of 2h ran before the failure, 30 minutes of work are left
        ("elapsed", view(-120, -30, status=RunStatus.ERROR), view(0), Typical(duration=2 * H), Basis.ELAPSED, 30 - 15),
        # the failed attempt's records count against the typical records; its pace does not
        (
            "records, slow rerun",
            view(-180, -30, status=RunStatus.ERROR, records=60_000),
            view(0, records=6_000),
            Typical(duration=2 * H, records=120_000),
            Basis.RECORDS,
            135,
        ),
    ],
)
def test_a_rerun_continues_the_work_its_failed_attempt_left_at_its_own_pace(
    case: str, failed: RunView, rerun: RunView, typical: Typical, basis: Basis, remaining_min: float
) -> None:
    progress = run_progress(rerun, typical, m(15), [failed])
    assert progress is not None, case
    assert progress.basis == basis, case
    assert progress.remaining.total_seconds() == pytest.approx(remaining_min * 60, abs=1), case


def test_a_rerun_is_not_predicted_from_a_fresh_typical_duration() -> None:
    """The failure day: 12:00-14:30 failed (5 of 6 threads done), rerun from 15:00; 2h45m typical, 17:00 deadline."""
    failed = view(0, 150, status=RunStatus.ERROR, threads=6, done=6, failed=1)
    rerun = view(180, threads=6)
    step = StepInput(
        step_id="S",
        status=StepStatus.RUNNING,
        typical=Typical(duration=dt.timedelta(hours=2, minutes=45)),
        runs=(failed, rerun),
    )
    predicted = forecast([step], m(195)).steps["S"].predicted_end
    assert predicted is not None and predicted <= m(300)  # inside 17:00 (not 15:00 + 2h45m = 17:45)


# --------------------------------------------------------------------------- steps and the chain


def step(step_id: str, *deps: str, status: StepStatus = StepStatus.WAITING, **fields: object) -> StepInput:
    fields.setdefault("typical", Typical(duration=H))
    return StepInput(step_id=step_id, status=status, depends_on=deps, **fields)  # type: ignore[arg-type]


def test_a_chain_not_yet_started_is_predicted_from_its_clock_starts_gaps_and_typical_durations() -> None:
    steps = [
        step("LOAD", earliest_start=m(60), typical=Typical(duration=2 * H)),
        step("BILL", "LOAD", typical=Typical(duration=H, gap=dt.timedelta(minutes=10))),
        step("SEND", "BILL", earliest_start=m(300), typical=Typical(duration=H / 2)),
    ]
    result = forecast(steps, m(0))
    assert [(result.steps[s].predicted_start, result.steps[s].predicted_end) for s in ("LOAD", "BILL", "SEND")] == [
        (m(60), m(180)),  # its clock
        (m(190), m(250)),  # LOAD's end + its 10-minute gap
        (m(300), m(330)),  # its clock is later than BILL's end
    ]
    assert result.predicted_finish == m(330)
    assert result.critical_path == ["SEND"]  # its own clock sets its start: nothing before it moves the finish


def test_a_step_whose_start_is_overdue_is_predicted_from_now() -> None:
    result = forecast([step("LOAD", status=StepStatus.PENDING, earliest_start=m(0))], m(45))
    assert result.steps["LOAD"].predicted_start == m(45) and result.predicted_finish == m(105)


def test_the_critical_path_of_a_diamond_runs_through_the_longer_branch() -> None:
    steps = [
        step("A", status=StepStatus.RUNNING, runs=(view(0, records=60_000, step="A"),),
             typical=Typical(duration=2 * H, records=120_000)),
        step("B", "A", typical=Typical(duration=2 * H)),
        step("C", "A", typical=Typical(duration=H)),
        step("D", "B", "C", typical=Typical(duration=H / 2)),
    ]  # fmt: skip
    result = forecast(steps, m(60))
    assert result.steps["A"].predicted_end == m(120)  # half done in an hour
    assert result.steps["D"].predicted_start == m(240) and result.steps["D"].driver == "B"
    assert result.predicted_finish == m(270)
    assert result.critical_path == ["A", "B", "D"]
    assert [s for s, f in result.steps.items() if f.on_critical_path] == ["A", "B", "D"]
    assert drivers("D", result.steps) == ["D", "B", "A"]
    assert drivers("C", result.steps) == ["C", "A"]


def test_when_the_short_branch_runs_late_it_becomes_the_critical_path() -> None:
    steps = [
        step("A", status=StepStatus.COMPLETE, runs=(view(0, 60, step="A"),), end=m(60)),
        step("B", "A", status=StepStatus.RUNNING, runs=(view(60, step="B"),), typical=Typical(duration=H)),
        step("C", "A", status=StepStatus.RUNNING, runs=(view(60, threads=4, done=1, step="C"),),
             typical=Typical(duration=H)),
        step("D", "B", "C", typical=Typical(duration=H / 2)),
    ]  # fmt: skip
    result = forecast(steps, m(90))  # C: a quarter of its threads in 30 minutes, 90 more
    assert result.steps["C"].predicted_end == m(180) and result.steps["B"].predicted_end == m(120)
    assert result.critical_path == ["C", "D"]  # A is done: its delay can no longer move anything


@pytest.mark.parametrize(
    ("case", "item", "as_of", "end"),
    [
        # 3 runs of 10 minutes, 5 minutes apart; the 1st done, the 2nd at 4 of 8 threads after 5 minutes
        ("runs: 3, mid-way", step("F", status=StepStatus.RUNNING, required_runs=3,
                                  runs=(view(0, 10, step="F"), view(15, threads=8, done=4, step="F")),
                                  typical=Typical(duration=dt.timedelta(minutes=10))),
         m(20), m(25 + 5 + 10)),
        # between runs: the next starts after the gap seen today (5 minutes), then 10 minutes each
        ("runs: 3, between runs", step("F", status=StepStatus.REPEATING, required_runs=3,
                                       runs=(view(0, 10, step="F"), view(15, 25, step="F")),
                                       typical=Typical(duration=dt.timedelta(minutes=10))),
         m(26), m(26 + 5 + 10)),
        # until_sql: the check still sees work after the required run: one more
        ("until_sql, pending", step("I", status=StepStatus.REPEATING, until_check=True, pending=150,
                                    runs=(view(0, 40, step="I"),), typical=Typical(duration=dt.timedelta(minutes=40))),
         m(45), m(45 + 40)),
        # until_sql with a baseline of 3 runs a day: the running 2nd and one more
        ("until_sql, runs a day", step("I", status=StepStatus.RUNNING, until_check=True, pending=900,
                                       runs=(view(0, 40, step="I"), view(60, step="I")),
                                       typical=Typical(duration=dt.timedelta(minutes=40), runs=3)),
         m(70), m(100 + 20 + 40)),
        # not started: its required runs back to back
        ("runs: 3, not started", step("F", required_runs=3, earliest_start=m(0),
                                      typical=Typical(duration=dt.timedelta(minutes=10))),
         m(0), m(30)),
    ],
)  # fmt: skip
def test_a_multi_run_step_is_predicted_from_its_remaining_runs(
    case: str, item: StepInput, as_of: dt.datetime, end: dt.datetime
) -> None:
    assert forecast([item], as_of).steps[item.step_id].predicted_end == end, case


def test_a_failed_step_and_what_waits_for_it_have_no_prediction_nor_has_the_chain() -> None:
    steps = [
        step("A", status=StepStatus.FAILED, runs=(view(0, 30, status=RunStatus.ERROR, step="A"),)),
        step("B", "A"),
    ]
    result = forecast(steps, m(45))
    assert result.steps["B"].predicted_end is None
    assert result.predicted_finish is None and result.critical_path == []


def test_a_skipped_step_is_passed_over() -> None:
    steps = [
        step("A", status=StepStatus.SKIPPED),
        step("B", "A", earliest_start=m(30)),
    ]
    result = forecast(steps, m(0))
    assert result.steps["B"].predicted_end == m(90) and result.critical_path == ["B"]


def test_a_step_without_a_typical_duration_counts_as_taking_none() -> None:
    result = forecast([step("A", earliest_start=m(30), typical=Typical())], m(0))
    assert result.steps["A"].predicted_end == m(30)


def test_a_complete_chain_finishes_when_its_last_step_ended() -> None:
    steps = [
        step("A", status=StepStatus.COMPLETE, runs=(view(0, 60, step="A"),), end=m(60)),
        step("B", "A", status=StepStatus.COMPLETE, runs=(view(60, 90, step="B"),), end=m(90)),
    ]
    result = forecast(steps, m(120))
    assert result.predicted_finish == m(90) and result.critical_path == ["B"]
    assert result.steps["A"].progress == 1.0


# --------------------------------------------------------------------------- configuration


def test_expected_records_sets_the_typical_records_and_wins_over_the_baseline() -> None:
    text = "workflow_id: wf\nsteps:\n  - batch_code: LOAD\n    expected_records: 300000\n    expected_duration: 2h\n"
    load = parse_workflow(text, Path("wf.yaml")).step("LOAD")
    learned = StepBaseline(step_id="LOAD", sample_days=20, runs_per_day=1, duration_p50_s=600, records_p50=900)
    assert Typical.of(load, learned) == Typical(duration=2 * H, records=300_000, runs=1)
    bare = parse_workflow("workflow_id: wf\nsteps:\n  - batch_code: LOAD\n", Path("wf.yaml")).step("LOAD")
    assert Typical.of(bare, learned) == Typical(duration=dt.timedelta(minutes=10), records=900, runs=1)
    assert Typical.of(bare, None) == Typical()


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_bad_expected_records_names_the_file_the_step_and_the_field(value: str) -> None:
    text = f"workflow_id: wf\nsteps:\n  - batch_code: LOAD\n    expected_records: {value}\n"
    with pytest.raises(WorkflowConfigError) as caught:
        parse_workflow(text, Path("wf.yaml"))
    assert "wf.yaml" in str(caught.value) and "step 'LOAD' (steps[0]), field 'expected_records'" in str(caught.value)
