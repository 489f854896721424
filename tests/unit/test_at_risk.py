"""AT_RISK: a deadline still ahead that the prediction says will be missed, raised after 2 late
ticks, cleared only 10 minutes inside, handed over to MISSED_DEADLINE at the deadline."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from tests.support.workflows import load_test_workflow

from batch_monitor import at_risk
from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.constants import FindingKind, RunStatus, Severity
from batch_monitor.evaluate import evaluate
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.models import (
    Evaluation,
    Finding,
    Observations,
    Progress,
    RiskMemory,
    RunObservation,
    ThreadObservation,
)

DAY = dt.date(2026, 11, 24)
CHAIN_YAML = """
workflow_id: risk_demo
timezone: Asia/Dhaka
business_day_start: "05:00"
chain_finish_by: "14:00"
steps:
  - batch_code: LOAD
    expected_start: "06:00"
    expected_duration: 2h
    finish_by: "09:00"
  - batch_code: BILL
    expected_duration: 1h
    finish_by: "11:00"
    at_risk_severity: CRITICAL
  - batch_code: SEND
    expected_duration: 1h
    finish_by: "13:00"
    risk_margin: 30m
"""
WF: WorkflowConfig = parse_workflow(textwrap.dedent(CHAIN_YAML), Path("risk_demo.yaml"))


# --------------------------------------------------------------------------- the rule alone

BASE = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)
DEADLINE = BASE + dt.timedelta(hours=10)


def holds_per_tick(offsets: list[int | None], margin_min: int = 0) -> list[bool]:
    """Feed one tick every 15 minutes whose prediction is ``offset`` minutes from the deadline."""
    memory: RiskMemory | None = None
    result = []
    for i, offset in enumerate(offsets):
        as_of = BASE + dt.timedelta(minutes=15 * i)
        predicted = None if offset is None else DEADLINE + dt.timedelta(minutes=offset)
        memory = at_risk.judge(
            memory,
            as_of=as_of,
            predicted=predicted,
            finish_by=DEADLINE,
            margin=dt.timedelta(minutes=margin_min),
            done=False,
        )
        result.append(at_risk.holds(memory, as_of=as_of, finish_by=DEADLINE))
    return result


@pytest.mark.parametrize(
    ("offsets", "margin", "expected"),
    [
        ([5], 0, [False]),  # one late tick is a blip
        ([5, 5], 0, [False, True]),  # raised at the 2nd consecutive late tick
        ([5, 0, 5], 0, [False, False, False]),  # not consecutive: on time in between
        ([5, 5, -5, -9, -10, 5], 0, [False, True, True, True, False, False]),  # clears only 10 min inside
        ([5, 5, 1, 5], 0, [False, True, True, True]),  # wavering about the line does not flap
        ([10, 10], 15, [False, False]),  # within the margin
        ([20, 20, 6, 5], 15, [False, True, True, False]),  # margin 15: clears at 5 minutes past the deadline
        ([5, 5, None, None], 0, [False, True, True, True]),  # no forecast: nothing changes
        ([5, None, 5], 0, [False, False, True]),  # a tick without forecast does not break the count
    ],
)
def test_at_risk_raises_after_two_late_ticks_and_clears_ten_minutes_inside(
    offsets: list[int | None], margin: int, expected: list[bool]
) -> None:
    assert holds_per_tick(offsets, margin) == expected


def test_no_at_risk_once_the_deadline_is_reached_and_the_memory_keeps_when_it_began() -> None:
    first = DEADLINE - dt.timedelta(minutes=30)
    memory = None
    for as_of in (first, first + dt.timedelta(minutes=15)):
        memory = at_risk.judge(
            memory, as_of=as_of, predicted=DEADLINE + dt.timedelta(hours=1), finish_by=DEADLINE,
            margin=dt.timedelta(0), done=False,
        )  # fmt: skip
    assert at_risk.holds(memory, as_of=first + dt.timedelta(minutes=15), finish_by=DEADLINE)
    for as_of in (DEADLINE, DEADLINE + dt.timedelta(minutes=15)):
        memory = at_risk.judge(
            memory, as_of=as_of, predicted=DEADLINE + dt.timedelta(hours=1), finish_by=DEADLINE,
            margin=dt.timedelta(0), done=False,
        )  # fmt: skip
        assert not at_risk.holds(memory, as_of=as_of, finish_by=DEADLINE)
    assert at_risk.was_at_risk_since(memory) == first


def test_a_step_done_before_its_deadline_ends_the_at_risk() -> None:
    raised = RiskMemory(late_ticks=2, late_since=BASE, raised_since=BASE, predicted=DEADLINE, seen_at=BASE)
    after = BASE + dt.timedelta(minutes=15)
    memory = at_risk.judge(raised, as_of=after, predicted=after, finish_by=DEADLINE, margin=dt.timedelta(0), done=True)
    assert memory is None


# --------------------------------------------------------------------------- through the evaluator


def at(clock: str) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    return bd.at_clock(DAY, dt.time(hour, minute), WF.timezone, WF.business_day_start)


def run(code: str, start: str, end: str | None = None, *, done: int = 0, nbr: int = 1) -> RunObservation:
    finished = end is not None
    threads = [
        ThreadObservation(
            thread_nbr=i + 1,
            status=RunStatus.COMPLETE if finished or i < done else RunStatus.RUNNING,
            start=at(start),
            end=at(end) if end else None,
            last_activity=at(start),
            records=1000 + i,  # grows with the ticks below only by thread, enough not to be stuck
        )
        for i in range(4)
    ]
    return RunObservation(
        batch_cd=code,
        batch_nbr=nbr,
        status=RunStatus.COMPLETE if finished else RunStatus.RUNNING,
        start=at(start),
        end=at(end) if end else None,
        threads=threads,
    )


def replay(ticks: list[tuple[str, list[RunObservation]]], workflow: WorkflowConfig = WF) -> dict[str, list[Finding]]:
    """Judge the ticks in order, each with the previous tick's memories; the findings of each tick."""
    memory: dict[str, Progress] = {}
    risk: dict[str, RiskMemory] = {}
    found: dict[str, list[Finding]] = {}
    start, end = bd.window(DAY, workflow.timezone, workflow.business_day_start)
    for clock, runs in ticks:
        hour, minute = map(int, clock.split(":"))
        as_of = bd.at_clock(DAY, dt.time(hour, minute), workflow.timezone, workflow.business_day_start)
        obs = Observations(
            workflow_id=workflow.workflow_id,
            business_date=DAY,
            as_of=as_of,
            window_start=start,
            window_end=end,
            runs=runs,
        )
        ev: Evaluation = evaluate(workflow, obs, as_of, memory, risk=risk)
        memory, risk = ev.progress, ev.risk
        found[clock] = ev.findings
    return found


def risks(findings: list[Finding]) -> dict[str, Finding]:
    return {f.step_id: f for f in findings if f.kind == FindingKind.AT_RISK}


# LOAD started on time but a quarter of its threads are done after 2h: at that rate it ends at 14:00
CRAWL = [run("LOAD", "06:00", done=1)]


def test_a_crawling_step_puts_itself_its_successors_and_the_chain_at_risk_from_the_second_late_tick() -> None:
    found = replay([("08:00", CRAWL), ("08:15", CRAWL)])
    assert risks(found["08:00"]) == {}  # one late tick
    raised = risks(found["08:15"])
    assert set(raised) == {"LOAD", "BILL", "SEND", "_chain"}
    load = raised["LOAD"]
    predicted = at("06:00") + (at("08:15") - at("06:00")) * 4  # a quarter done after 2h15m
    assert load.details["predicted_end"] == predicted.isoformat()
    assert load.title == (
        "LOAD predicted to finish at 15:00, 6h 00m after its 09:00 deadline; "
        "driven by LOAD (running, 25% done, predicted end 15:00)"
    )
    assert load.details["progress_basis"] == "threads" and load.details["critical_path"] == ["LOAD"]
    assert load.since == at("08:00") and load.severity == Severity.WARNING
    assert load.details["gap_s"] == 6 * 3600


def test_a_waiting_step_at_risk_names_the_running_predecessor_that_pushes_it() -> None:
    bill = risks(replay([("08:00", CRAWL), ("08:15", CRAWL)])["08:15"])["BILL"]
    assert bill.details["critical_path"] == ["LOAD", "BILL"] and bill.details["driver"] == "LOAD"
    assert bill.title.endswith("after its 11:00 deadline; driven by LOAD (running, 25% done, predicted end 15:00)")
    assert bill.actual == "predicted 16:00 as of 08:15; critical path: LOAD → BILL"
    assert bill.severity == Severity.CRITICAL  # its at_risk_severity


def test_the_chain_at_risk_names_its_critical_path_and_the_open_step_at_its_head_that_drives_it() -> None:
    chain = risks(replay([("08:00", CRAWL), ("08:15", CRAWL)])["08:15"])["_chain"]
    assert chain.details["critical_path"] == ["LOAD", "BILL", "SEND"] and chain.details["driver"] == "LOAD"
    assert chain.title == (
        "risk_demo predicted to finish at 17:00, 3h 00m after its 14:00 deadline; "
        "driven by LOAD (running, 25% done, predicted end 15:00)"
    )
    assert chain.actual == "predicted 17:00 as of 08:15; critical path: LOAD → BILL → SEND"


def test_the_risk_margin_lets_a_step_run_that_much_past_its_deadline_before_it_is_at_risk() -> None:
    # LOAD ends 11:30 by its rate, so SEND is predicted at 13:30: 30m past 13:00, not beyond its 30m margin
    slow = [run("LOAD", "06:00", done=2)]  # half done after 2h45m: ends 11:30
    found = replay([("08:30", slow), ("08:45", slow)])
    assert "SEND" not in risks(found["08:45"]) and "LOAD" in risks(found["08:45"])


def test_at_the_deadline_at_risk_gives_way_to_a_missed_deadline_that_names_it() -> None:
    found = replay([(clock, CRAWL) for clock in ("08:00", "08:15", "08:30", "08:45", "09:00", "09:15")])
    assert "LOAD" in risks(found["08:45"])
    assert "LOAD" not in risks(found["09:00"]) and "LOAD" not in risks(found["09:15"])
    [missed] = [f for f in found["09:15"] if f.kind == FindingKind.MISSED_DEADLINE and f.step_id == "LOAD"]
    assert missed.details["was_at_risk_since"] == at("08:00").isoformat()


def test_a_step_that_catches_up_is_no_longer_at_risk_and_its_deadline_is_not_missed() -> None:
    done = [run("LOAD", "06:00", "08:40")]
    found = replay([("08:00", CRAWL), ("08:15", CRAWL), ("08:45", done), ("09:15", done)])
    assert "LOAD" in risks(found["08:15"])
    assert risks(found["08:45"]) == {}
    assert not [f for f in found["09:15"] if f.kind in (FindingKind.AT_RISK, FindingKind.MISSED_DEADLINE)]


def test_a_missed_deadline_without_an_at_risk_before_it_names_none() -> None:
    late = [run("LOAD", "08:50")]  # starts late; its 2h puts it past 09:00 only from the 08:50 start
    found = replay([("09:15", late)])
    [missed] = [f for f in found["09:15"] if f.kind == FindingKind.MISSED_DEADLINE and f.step_id == "LOAD"]
    assert "was_at_risk_since" not in missed.details


# --------------------------------------------------------------------------- a normal day is quiet


def test_the_dpdc_description_healthy_morning_raises_no_at_risk_tick_after_tick() -> None:
    dpdc = load_test_workflow("dpdc_ami")

    def dpdc_run(code: str, start: str, end: str | None, done: int, nbr: int) -> RunObservation:
        def moment(clock: str) -> dt.datetime:
            hour, minute = map(int, clock.split(":"))
            return bd.at_clock(DAY, dt.time(hour, minute), dpdc.timezone, dpdc.business_day_start)

        threads = [
            ThreadObservation(
                thread_nbr=i + 1,
                status=RunStatus.COMPLETE if end or i < done else RunStatus.RUNNING,
                start=moment(start),
                end=moment(end) if end else None,
                last_activity=moment(end) if end else moment(start),
                records=100_000,
            )
            for i in range(8)
        ]
        return RunObservation(
            batch_cd=code,
            batch_nbr=nbr,
            status=RunStatus.COMPLETE if end else RunStatus.RUNNING,
            start=moment(start),
            end=moment(end) if end else None,
            threads=threads,
        )

    # CM-DMRU 05:03-07:15 (2h 12m), D1-IMD from 07:20: the description's healthy morning
    ticks = [(f"{h:02d}:{m:02d}", [dpdc_run("CM-DMRU", "05:03", None, 0, 1)]) for h in (5, 6) for m in (15, 30, 45)]
    ticks += [("07:00", [dpdc_run("CM-DMRU", "05:03", None, 7, 1)])]
    done = dpdc_run("CM-DMRU", "05:03", "07:15", 8, 1)
    ticks += [(clock, [done, dpdc_run("D1-IMD", "07:20", None, 2, 2)]) for clock in ("07:30", "07:45", "08:00")]
    found = replay(ticks, dpdc)
    assert {clock: risks(findings) for clock, findings in found.items() if risks(findings)} == {}


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("risk_margin", "-5m", "step 'LOAD' (steps[0]), field 'risk_margin'"),
        ("risk_margin", "soon", "step 'LOAD' (steps[0]), field 'risk_margin': 'soon' is not a duration"),
        ("at_risk_severity", "LOUD", "step 'LOAD' (steps[0]), field 'at_risk_severity'"),
    ],
)
def test_a_bad_at_risk_setting_names_the_file_the_step_and_the_field(field: str, value: str, message: str) -> None:
    text = CHAIN_YAML.replace('    finish_by: "09:00"\n', f'    finish_by: "09:00"\n    {field}: {value}\n', 1)
    with pytest.raises(WorkflowConfigError) as caught:
        parse_workflow(textwrap.dedent(text), Path("risk_demo.yaml"))
    assert "risk_demo.yaml" in str(caught.value) and message in str(caught.value)


def test_at_risk_settings_default_to_no_margin_and_warning_and_come_from_defaults() -> None:
    assert (WF.risk_margin, WF.at_risk_severity) == (dt.timedelta(0), Severity.WARNING)
    load = WF.step("LOAD")
    assert (load.risk_margin, load.at_risk_severity) == (dt.timedelta(0), Severity.WARNING)
    text = CHAIN_YAML.replace("steps:", "defaults:\n  risk_margin: 20m\nsteps:", 1)
    with_defaults = parse_workflow(textwrap.dedent(text), Path("risk_demo.yaml"))
    assert with_defaults.step("LOAD").risk_margin == dt.timedelta(minutes=20)
    assert with_defaults.step("SEND").risk_margin == dt.timedelta(minutes=30)  # its own wins


def test_an_at_risk_holds_on_when_a_failure_takes_the_prediction_away_and_names_the_failed_step() -> None:
    failed = [run("LOAD", "06:00", "08:20", done=4).model_copy(update={"status": RunStatus.ERROR})]
    found = replay([("08:00", CRAWL), ("08:15", CRAWL), ("08:30", failed)])
    assert set(risks(found["08:15"])) == {"LOAD", "BILL", "SEND", "_chain"}
    held = risks(found["08:30"])
    assert set(held) == {"LOAD", "BILL", "SEND", "_chain"}  # no forecast this tick: nothing changes
    assert held["BILL"].details["critical_path"] == ["LOAD", "BILL"] and held["BILL"].details["driver"] == "LOAD"
    assert held["_chain"].details["critical_path"] == ["LOAD", "BILL", "SEND"]
    assert "driven by LOAD (failed)" in held["_chain"].title
    assert held["LOAD"].details["predicted_end"] == risks(found["08:15"])["LOAD"].details["predicted_end"]
