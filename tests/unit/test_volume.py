"""UNUSUAL_VOLUME: a completed run far below or above its typical records, or done suspiciously fast."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.test_evaluate import NORMAL_MORNING, WF, at, judge, kinds, run

from batch_monitor.advice import advice
from batch_monitor.constants import FindingKind, RunStatus, Severity
from batch_monitor.models import RunView, StepBaseline
from batch_monitor.volume import VolumeLimits, unusual_volume

LIMITS = VolumeLimits(low=0.20, high=5.00, min_days=5)
START = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


def baseline(days: int = 12, records: float | None = 100_000, duration_s: float | None = 3600) -> StepBaseline:
    return StepBaseline(
        step_id="CM-DMRU", sample_days=days, runs_per_day=1, records_p50=records, duration_p50_s=duration_s
    )


def view(records: int, minutes: float = 60, status: RunStatus = RunStatus.COMPLETE) -> RunView:
    return RunView(
        batch_cd="CM-DMRU",
        batch_nbr=1,
        rerun_nbr=0,
        step_id="CM-DMRU",
        status=status,
        start=START,
        end=START + dt.timedelta(minutes=minutes) if status == RunStatus.COMPLETE else None,
        duration_s=minutes * 60,
        records=records,
    )


@pytest.mark.parametrize(
    ("run_view", "base", "rule"),
    [
        (view(100_000), baseline(), None),  # a usual run
        (view(20_000), baseline(), None),  # exactly 20 %: not below
        (view(19_999), baseline(), "low"),
        (view(1_000), baseline(), "low"),  # 1 % of the usual records
        (view(500_000), baseline(), None),  # exactly 500 %
        (view(500_001), baseline(), "high"),
        (view(1_000, minutes=60), baseline(days=4), None),  # too little history (4 < 5 days)
        (view(1_000), baseline(days=5), "low"),  # just enough history
        (view(1_000), None, None),  # no baseline at all
        (view(1_000), baseline(records=None), None),  # a baseline without a records figure
        (view(0), baseline(), None),  # 0 records is EMPTY_RUN's
        (view(1_000, status=RunStatus.RUNNING), baseline(), None),  # only completed runs are judged
        (view(1_000, status=RunStatus.ERROR), baseline(), None),
    ],
)
def test_a_completed_run_is_judged_against_its_typical_records(
    run_view: RunView, base: StepBaseline | None, rule: str | None
) -> None:
    found = unusual_volume([run_view], base, LIMITS)
    assert (found.rule if found else None) == rule


@pytest.mark.parametrize(
    ("records", "minutes", "rule"),
    [
        (9_000, 5, "quick"),  # 9 % of the records in 8 % of the time: done without doing its work
        (9_000, 30, None),  # 9 % of the records, half the usual time: within the 5 % low limit
        (11_000, 5, None),  # quick, but 11 % of the records
        (9_000, 6, None),  # 6 minutes is 10 % of the time: not under it
    ],
)
def test_a_run_done_in_under_a_tenth_of_its_time_with_under_a_tenth_of_its_records_is_unusual(
    records: int, minutes: float, rule: str | None
) -> None:
    permissive = VolumeLimits(low=0.05, high=5.00, min_days=5)  # so that only the quick rule can speak
    found = unusual_volume([view(records, minutes=minutes)], baseline(), permissive)
    assert (found.rule if found else None) == rule


def test_the_latest_unusual_completed_run_is_reported() -> None:
    runs = [view(1_000), view(100_000), view(900_000)]
    found = unusual_volume(runs, baseline(), LIMITS)
    assert found is not None and (found.rule, found.records) == ("high", 900_000)


FIRST_READS = StepBaseline(
    step_id="CM-DMRU", sample_days=20, runs_per_day=1, records_p50=992_000, duration_p50_s=2 * 3600 + 12 * 60
)


def test_the_evaluation_raises_unusual_volume_with_actual_against_typical() -> None:
    tiny = run("CM-DMRU", "05:03", "07:15", records=9_920, threads=8)  # 1 % of its usual 992,000
    ev = judge("07:15", [tiny], {"D1-IMD": 500}, baselines={"CM-DMRU": FIRST_READS})
    assert kinds(ev) == {("UNUSUAL_VOLUME", "CM-DMRU")}
    [found] = ev.findings
    assert found.severity == Severity.WARNING
    assert found.title == "CM-DMRU completed at 07:15 with 9,920 records, 1% of its typical 992,000"
    assert found.actual == "9,920 records in 2h 12m (typical 992,000 in 2h 12m)"
    assert found.expected == "at least 20% of the typical 992,000 records"
    assert found.since == at("07:15") and found.details["rule"] == "low"
    # the same run against too little history, or without baselines at all, raises nothing
    young = FIRST_READS.model_copy(update={"sample_days": WF.baseline_min_days - 1})
    assert kinds(judge("07:15", [tiny], {"D1-IMD": 500}, baselines={"CM-DMRU": young})) == set()
    assert kinds(judge("07:15", [tiny], {"D1-IMD": 500})) == set()


def test_a_run_with_no_records_stays_an_empty_run_and_a_step_without_records_is_never_unusual() -> None:
    empty = run("CM-DMRU", "05:00", "05:40", records=0)
    assert kinds(judge("05:50", [empty], baselines={"CM-DMRU": FIRST_READS})) == {("EMPTY_RUN", "CM-DMRU")}
    flushes = [run("F1-FLUSH", f"{h}:00", f"{h}:10", records=1) for h in (15, 16, 17)]
    day = [*NORMAL_MORNING, run("C1-PPBTR", "12:00", "14:45"), *flushes]
    flush_base = FIRST_READS.model_copy(update={"step_id": "F1-FLUSH"})
    assert ("UNUSUAL_VOLUME", "F1-FLUSH") not in kinds(  # F1-FLUSH: expect_records false
        judge("17:15", day, {"D1-IMD": 0}, baselines={"F1-FLUSH": flush_base})
    )


def test_unusual_volume_has_its_own_advice_naming_the_step() -> None:
    text = advice(FindingKind.UNUSUAL_VOLUME, WF.step("CM-DMRU"))
    assert "CM-DMRU" in text and "input" in text
    assert text != advice(FindingKind.EMPTY_RUN, WF.step("CM-DMRU"))
