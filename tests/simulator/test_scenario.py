"""Scenario files: validation with clear errors, and what CC&B shows of a scenario at a moment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from tests.support.ccb import DAY, DPDC, WORKFLOWS, at, scenario
from tests.support.workflows import scenario_files

from batch_monitor.constants import CHAIN_STEP_ID, RunStatus
from batch_monitor.simulator import ScenarioError, load_scenario, parse_scenario, state_at

SCENARIO_FILES = scenario_files()


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_fits_its_workflow(path: Path) -> None:
    loaded = load_scenario(path)
    workflow = WORKFLOWS[loaded.workflow]
    assert loaded.name == path.stem
    assert loaded.description
    whole_day = state_at(loaded, workflow, DAY, at("04:59", DAY, workflow))
    assert len(whole_day.runs) == len(loaded.runs)
    assert all(r.status in (RunStatus.COMPLETE, RunStatus.ERROR) for r in whole_day.runs)
    step_ids = {s.id for s in workflow.steps} | {CHAIN_STEP_ID}
    assert {step for _, step in loaded.expected} <= step_ids
    assert all(4 <= run.threads <= 10 for run in loaded.runs)


def test_the_dpdc_scenarios_cover_every_case_the_monitor_must_raise() -> None:
    expected = {path.stem: load_scenario(path).expected for path in SCENARIO_FILES}
    assert expected["normal"] == set()
    assert expected["failure"] == {("FAILED", "C1-PPBTR")}
    assert expected["stuck"] == {("STUCK", "D1-IMD"), ("LONG_RUNNING", "D1-IMD")}
    assert expected["long_running"] == {("LONG_RUNNING", "C1-PPBTR"), ("LOW_THROUGHPUT", "C1-PPBTR")}
    assert expected["late_start"] == {("LATE_START", "CM-DMRU")}
    assert expected["deadline"] == {("MISSED_DEADLINE", "CM_BSGGN")}
    assert expected["at_risk"] == {
        ("LATE_START", "C1-PPBTR"),
        ("AT_RISK", "C1-PPBTR"),
        ("MISSED_DEADLINE", "C1-PPBTR"),
    }
    assert expected["midnight"] == {
        ("LATE_START", "BILLRESTSMS"),
        ("MISSED_DEADLINE", "BILLRESTSMS"),
        ("MISSED_DEADLINE", "_chain"),
    }


def _document(*runs: dict[str, object], **fields: object) -> str:
    body: dict[str, object] = {"name": "bad", "workflow": "dpdc_ami", "runs": list(runs), **fields}
    return yaml.safe_dump(body)


DMRU = {"batch_code": "CM-DMRU", "start": "05:00", "end": "05:48", "records": 1000}

BAD_FILES = [
    ("unknown field", _document({**DMRU, "colour": "red"}), "runs[0] (CM-DMRU), field 'colour': unknown field"),
    (
        "missing records",
        _document({k: v for k, v in DMRU.items() if k != "records"}),
        "runs[0] (CM-DMRU), field 'records': required field is missing",
    ),
    ("negative records", _document({**DMRU, "records": -1}), "runs[0] (CM-DMRU), field 'records'"),
    ("end and duration", _document({**DMRU, "duration": "40m"}), "give either 'end' (a clock time) or 'duration'"),
    (
        "neither end nor duration",
        _document({k: v for k, v in DMRU.items() if k != "end"}),
        "give either 'end' (a clock time) or 'duration'",
    ),
    ("error without message", _document({**DMRU, "status": "error"}), "a run in error needs 'error'"),
    ("message on a complete run", _document({**DMRU, "error": "ORA-1"}), "need status: error"),
    (
        "failed thread out of range",
        _document({**DMRU, "status": "error", "error": "x", "failed_threads": [9]}),
        "thread 9 does not exist: the run has 4 thread(s)",
    ),
    (
        "stall never restarted",
        _document({**DMRU, "stalls": [{"thread": 1, "at": "05:10"}]}),
        "thread 1 stalls and is never restarted",
    ),
    ("bad clock", _document({**DMRU, "end": "25:00"}), "runs[0] (CM-DMRU), field 'end': '25:00' is not a clock time"),
    ("bad relative start", _document(DMRU, {**DMRU, "start": "+5x"}), "runs[1] (CM-DMRU), field 'start'"),
    ("relative first run", _document({**DMRU, "start": "+5m"}), "runs[0]: the first run needs a clock start"),
    ("rerun of nothing", _document({**DMRU, "rerun": True}), "a rerun needs an earlier run of the same code"),
    ("bad status", _document({**DMRU, "status": "done"}), "runs[0] (CM-DMRU), field 'status'"),
    (
        "bad expected kind",
        _document(DMRU, expected_alerts=[{"kind": "ON_FIRE", "step_id": "CM-DMRU"}]),
        "field 'expected_alerts.0.kind'",
    ),
    ("no runs", _document(), "field 'runs'"),
    ("not a mapping", "- just\n- a list\n", "must be a mapping"),
    ("not YAML", "name: [unclosed\n", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_a_bad_scenario_file_is_refused_naming_the_file_and_the_field(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, Path("include/scenarios/bad.yaml"))
    assert str(caught.value).startswith("include/scenarios/bad.yaml: invalid scenario")
    assert message in str(caught.value)


def test_a_missing_scenario_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nowhere\.yaml: invalid scenario\n  - cannot be read"):
        load_scenario(tmp_path / "nowhere.yaml")


MISFITS = [
    (
        "unknown batch code",
        _document({**DMRU, "batch_code": "XX-NOPE"}),
        "runs[0] (XX-NOPE), field 'batch_code': not a batch code of dpdc_ami",
    ),
    (
        "ends before it starts",
        _document({**DMRU, "start": "06:00", "end": "05:30"}),
        "runs[0] (CM-DMRU), field 'end': the run ends before it starts",
    ),
    (
        "stall outside the run",
        _document({**DMRU, "stalls": [{"thread": 1, "at": "09:00", "restart": "09:10"}]}),
        "stall of thread 1, field 'at': must fall within the run",
    ),
    (
        "restart before the stall",
        _document({**DMRU, "stalls": [{"thread": 1, "at": "05:20", "restart": "05:10"}]}),
        "stall of thread 1, field 'restart': must fall after 'at'",
    ),
    (
        "threads done after the end",
        _document({**DMRU, "threads_done_by": "06:00"}),
        "field 'threads_done_by': must fall after the start, by the end",
    ),
    (
        "rerun before the run ends",
        _document(DMRU, {**DMRU, "start": "05:30", "end": "06:00", "rerun": True}),
        "runs[1] (CM-DMRU), field 'start': a rerun starts after the run it reruns ends",
    ),
    (
        "pending out of order",
        _document(DMRU, pending_imds=[{"at": "07:00", "count": 5}, {"at": "06:00", "count": 1}]),
        "field 'pending_imds': list the points in time order",
    ),
    (
        "another workflow",
        _document(DMRU).replace("dpdc_ami", "us_east_settlement"),
        "the scenario is for 'us_east_settlement', not 'dpdc_ami'",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in MISFITS], ids=[c[0] for c in MISFITS])
def test_a_scenario_that_does_not_fit_the_workflow_is_refused_when_played(text: str, message: str) -> None:
    loaded = parse_scenario(text, Path("bad.yaml"))
    with pytest.raises(ScenarioError) as caught:
        state_at(loaded, DPDC, DAY, at("12:00"))
    assert message in str(caught.value)


def test_runs_that_have_not_started_are_absent_and_running_ones_grow_linearly() -> None:
    day = state_at(scenario("normal"), DPDC, DAY, at("05:24"))  # CM-DMRU runs 05:00-05:48
    assert [r.batch_cd for r in day.runs] == ["CM-DMRU"]
    run = day.runs[0]
    assert run.status == RunStatus.RUNNING and run.end is None
    assert len(run.threads) == 8 and all(t.status == RunStatus.RUNNING for t in run.threads)
    records = sum(e.records for t in run.threads for e in t.executions)
    # halfway through the run, threads that finish a little early are a little further along
    assert 240_000 * 0.5 < records < 240_000 * 0.56
    assert day.pending_imds == 2400


def test_a_finished_run_shows_every_record_and_its_end() -> None:
    day = state_at(scenario("normal"), DPDC, DAY, at("06:00"))
    dmru = day.runs[0]
    assert dmru.status == RunStatus.COMPLETE and dmru.end == at("05:48")
    assert sum(e.records for t in dmru.threads for e in t.executions) == 240_000
    assert max(e.end for t in dmru.threads for e in t.executions if e.end) == at("05:48")


def test_a_stalled_thread_stops_growing_keeps_running_and_restarts_as_a_second_execution() -> None:
    stuck = scenario("stuck")

    def imd_thread(clock: str) -> tuple[RunStatus, list[int], int]:
        run = next(r for r in state_at(stuck, DPDC, DAY, at(clock)).runs if r.batch_cd == "D1-IMD")
        thread = run.threads[3]
        return thread.status, [e.records for e in thread.executions], len(run.threads)

    status_0630, records_0630, threads = imd_thread("06:30")
    status_0745, records_0745, _ = imd_thread("07:45")
    assert threads == 6
    assert status_0630 == status_0745 == RunStatus.RUNNING
    assert records_0630 == records_0745 and len(records_0745) == 1
    status_0815, records_0815, _ = imd_thread("08:15")
    assert status_0815 == RunStatus.RUNNING and len(records_0815) == 2
    assert records_0815[0] == records_0745[0] and records_0815[1] > 0
    status_0845, records_0845, _ = imd_thread("08:45")
    assert status_0845 == RunStatus.COMPLETE and len(records_0845) == 2


def test_a_rerun_keeps_the_batch_number_and_counts_up_the_rerun_number() -> None:
    day = state_at(scenario("failure"), DPDC, DAY, at("15:30"))
    ppbtr = [r for r in day.runs if r.batch_cd == "C1-PPBTR"]
    assert [(r.rerun_nbr, r.status) for r in ppbtr] == [(0, RunStatus.ERROR), (1, RunStatus.RUNNING)]
    assert ppbtr[0].batch_nbr == ppbtr[1].batch_nbr
    failed = [t for t in ppbtr[0].threads if t.status == RunStatus.ERROR]
    assert [(t.thread_nbr, t.error) for t in failed] == [(4, "ORA-12545 Connection timeout")]


def test_batch_numbers_are_the_same_on_every_play_and_differ_between_days() -> None:
    normal = scenario("normal")

    def numbers(date: dt.date) -> list[tuple[str, int]]:
        return [(r.batch_cd, r.batch_nbr) for r in state_at(normal, DPDC, date, at("23:00", date)).runs]

    assert numbers(DAY) == numbers(DAY)
    assert {n for _, n in numbers(DAY)}.isdisjoint({n for _, n in numbers(DAY + dt.timedelta(days=1))})
    imd = [n for code, n in numbers(DAY) if code == "D1-IMD"]
    assert len(set(imd)) == 3
