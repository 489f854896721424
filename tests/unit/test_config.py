"""Workflow YAML: defaults, derived fields, and errors that name the file, the step and the field."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from tests.support.workflows import WORKFLOWS_DIR

from batch_monitor import incidents
from batch_monitor.config import DEFAULT_STUCK_AFTER, graph_order, load_workflows, parse_duration, parse_workflow
from batch_monitor.exceptions import WorkflowConfigError

GOOD = """
workflow_id: demo
timezone: Asia/Dhaka
defaults:
  stuck_after: 30m
  min_rps: 5
steps:
  - batch_code: A-ONE
    expected_start: "05:00"
    expected_duration: 30m
    max_duration: 1h
  - batch_code: B-TWO
    repeat: {runs: 3}
  - batch_code: C-THREE
    depends_on: [A-ONE]
    stuck_after: 90m
"""


def parse(text: str, name: str = "wf.yaml") -> object:
    return parse_workflow(textwrap.dedent(text), Path(name))


def test_the_test_workflows_load() -> None:
    result = load_workflows(WORKFLOWS_DIR)
    assert result.errors == []
    dpdc = next(w for w in result.workflows if w.workflow_id == "dpdc_ami")
    assert [s.batch_code for s in dpdc.steps] == [
        "CM-DMRU",
        "D1-IMD",
        "C1-PPBTR",
        "F1-FLUSH",
        "CM_BSGGN",
        "BILLRESTSMS",
    ]
    assert dpdc.dag_id == "batch_monitor_dpdc_ami"
    assert dpdc.step("D1-IMD").repeat.until_sql
    assert dpdc.step("F1-FLUSH").repeat.required_runs == 3


def test_steps_inherit_defaults_and_depend_on_the_step_above() -> None:
    wf = parse_workflow(GOOD, Path("wf.yaml"))
    a, b, c = wf.steps
    assert a.depends_on == [] and b.depends_on == ["A-ONE"] and c.depends_on == ["A-ONE"]
    assert a.stuck_after == dt.timedelta(minutes=30) and c.stuck_after == dt.timedelta(minutes=90)
    assert b.min_rps == 5
    assert wf.source_timezone == "Asia/Dhaka"
    assert wf.schedule == "*/15 * * * *"


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("30m", 30), ("1h30m", 90), ("2h", 120), (45, 45), ("1d", 1440), ("90s", 1.5)],
)
def test_durations_read_as_people_write_them(value: object, minutes: float) -> None:
    assert parse_duration(value) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("yaml_text", "fragments"),
    [
        (
            GOOD.replace("max_duration: 1h", "max_duraton: 1h"),
            ["step 'A-ONE' (steps[0])", "max_duraton", "unknown field"],
        ),
        (
            GOOD.replace("max_duration: 1h", "max_duration: soon"),
            ["step 'A-ONE' (steps[0])", "max_duration", "not a duration"],
        ),
        (
            GOOD.replace("max_duration: 1h", "max_duration: 10m"),
            ["step 'A-ONE' (steps[0])", "shorter than expected_duration"],
        ),
        (GOOD.replace('expected_start: "05:00"', 'expected_start: "25:00"'), ["steps[0]", "expected_start"]),
        (GOOD.replace("timezone: Asia/Dhaka", "timezone: Mars/Olympus"), ["field 'timezone'", "unknown time zone"]),
        (GOOD.replace("repeat: {runs: 3}", "repeat: {runs: -1}"), ["step 'B-TWO' (steps[1])", "repeat.runs"]),
        (GOOD.replace("depends_on: [A-ONE]", "depends_on: [NOPE]"), ["C-THREE", "unknown step 'NOPE'"]),
        (
            GOOD.replace("batch_code: C-THREE", "batch_code: A-ONE"),
            ["step 'A-ONE' (steps[2]), field 'batch_code'", "used twice"],
        ),
        (GOOD.replace("min_rps: 5", "min_rps: fast"), ["step 'A-ONE' (steps[0])", "min_rps"]),
        (GOOD.replace("workflow_id: demo\n", ""), ["field 'workflow_id'", "required field is missing"]),
        (GOOD.replace("stuck_after: 90m", "stuck_after: -5"), ["step 'C-THREE' (steps[2])", "negative"]),
        ("steps: [", ["not valid YAML"]),
        (
            GOOD.replace("stuck_after: 90m", "runbook: {FAILD: resubmit}"),
            ["step 'C-THREE' (steps[2]), field 'runbook'", "'FAILD' is not a kind of alert"],
        ),
        (
            GOOD.replace("stuck_after: 90m", "runbook: {STUCK: ''}"),
            ["step 'C-THREE' (steps[2]), field 'runbook'", "the runbook for STUCK must be a non-empty text"],
        ),
        (
            GOOD.replace("stuck_after: 90m", "runbook: [resubmit]"),
            ["step 'C-THREE' (steps[2]), field 'runbook'", "a mapping such as {FAILED: ..., STUCK: ...}"],
        ),
    ],
)
def test_a_bad_file_names_the_file_the_step_and_the_field(yaml_text: str, fragments: list[str]) -> None:
    with pytest.raises(WorkflowConfigError) as caught:
        parse_workflow(textwrap.dedent(yaml_text), Path("workflows/bad.yaml"))
    message = str(caught.value)
    assert message.startswith("workflows/bad.yaml: invalid workflow file")
    for fragment in fragments:
        assert fragment in message


def test_a_dependency_cycle_is_named() -> None:
    cyclic = GOOD.replace("  - batch_code: A-ONE\n", "  - batch_code: A-ONE\n    depends_on: [C-THREE]\n")
    with pytest.raises(WorkflowConfigError, match=r"cycle: .*A-ONE.*C-THREE"):
        parse_workflow(cyclic, Path("wf.yaml"))


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("workflow_id: demo", "workflow_id: other").replace("30m", "thirty"))
    result = load_workflows(tmp_path)
    assert [w.workflow_id for w in result.workflows] == ["demo"]
    assert len(result.errors) == 1 and result.errors[0].path == tmp_path / "bad.yaml"


def test_two_files_cannot_claim_one_workflow_id(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    result = load_workflows(tmp_path)
    assert len(result.workflows) == 1
    assert "already used by" in str(result.errors[0])


ORDERED = """
workflow_id: ordered
steps:
  - batch_code: X-LATE
    depends_on: [Z-FIRST]
  - batch_code: Y-FREE
    depends_on: []
  - batch_code: Z-FIRST
    depends_on: []
"""


def test_steps_are_ordered_after_their_predecessors_and_in_yaml_order_where_free() -> None:
    workflow = parse_workflow(textwrap.dedent(ORDERED), Path("ordered.yaml"))
    assert [s.id for s in workflow.ordered_steps] == ["Y-FREE", "Z-FIRST", "X-LATE"]


def test_the_incidents_walk_the_chain_in_the_same_order_as_the_timeline() -> None:
    """One topological order (config's): the incidents' graph of step ids is ordered by it too."""
    workflow = parse_workflow(textwrap.dedent(ORDERED), Path("ordered.yaml"))
    graph = incidents.dependency_graph(workflow)
    assert incidents.chain_order(graph) == [s.id for s in workflow.ordered_steps] == ["Y-FREE", "Z-FIRST", "X-LATE"]
    assert graph_order({"B": ["A"], "C": []}) == ["C", "A", "B"]  # a predecessor named only as one comes in


def test_a_longer_cycle_is_named_in_the_direction_of_depends_on() -> None:
    cyclic = ORDERED.replace(
        "  - batch_code: Z-FIRST\n    depends_on: []", "  - batch_code: Z-FIRST\n    depends_on: [Y-FREE]"
    )
    cyclic = cyclic.replace(
        "  - batch_code: Y-FREE\n    depends_on: []", "  - batch_code: Y-FREE\n    depends_on: [X-LATE]"
    )
    with pytest.raises(WorkflowConfigError, match=r"forms a cycle: X-LATE -> Z-FIRST -> Y-FREE -> X-LATE"):
        parse_workflow(textwrap.dedent(cyclic), Path("ordered.yaml"))


@pytest.mark.parametrize("schedule", ["every 15 minutes", "61 * * * *", "*/15 * * *"])
def test_a_schedule_that_is_not_cron_is_named_with_its_file_and_field(schedule: str) -> None:
    text = GOOD.replace("timezone: Asia/Dhaka", f"timezone: Asia/Dhaka\nschedule: '{schedule}'")
    with pytest.raises(WorkflowConfigError) as caught:
        parse(text, "site/demo.yaml")
    message = str(caught.value)
    assert "site/demo.yaml" in message
    assert f"field 'schedule': {schedule!r} is not a cron expression" in message


def test_a_cron_schedule_or_preset_is_kept() -> None:
    for schedule in ("*/5 * * * *", "@hourly"):
        text = GOOD.replace("timezone: Asia/Dhaka", f"timezone: Asia/Dhaka\nschedule: '{schedule}'")
        assert parse(text).schedule == schedule  # type: ignore[attr-defined]


def test_reminders_default_to_every_2h_and_escalation_to_after_1h_to_nobody() -> None:
    workflow = parse(GOOD)
    assert (workflow.remind_every, workflow.escalate_after, workflow.escalate_to) == (  # type: ignore[attr-defined]
        dt.timedelta(hours=2),
        dt.timedelta(hours=1),
        [],
    )


def test_reminders_and_escalation_read_as_people_write_them() -> None:
    extra = "remind_every: 0\nescalate_after: 30m\nescalate_to: 'boss@dpdc.example; noc@dpdc.example'"
    workflow = parse(GOOD.replace("timezone: Asia/Dhaka", f"timezone: Asia/Dhaka\n{extra}"))
    assert workflow.remind_every == dt.timedelta(0)  # type: ignore[attr-defined]
    assert workflow.escalate_after == dt.timedelta(minutes=30)  # type: ignore[attr-defined]
    assert workflow.escalate_to == ["boss@dpdc.example", "noc@dpdc.example"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("remind_every: soon", "field 'remind_every': 'soon' is not a duration"),
        ("escalate_after: -1h", "field 'escalate_after'"),
        ("escalate_to: [boss-at-dpdc]", "'boss-at-dpdc' is not an e-mail address"),
    ],
)
def test_bad_reminder_settings_are_named_with_their_file_and_field(line: str, fragment: str) -> None:
    with pytest.raises(WorkflowConfigError) as caught:
        parse(GOOD.replace("timezone: Asia/Dhaka", f"timezone: Asia/Dhaka\n{line}"), "site/demo.yaml")
    message = str(caught.value)
    assert "site/demo.yaml" in message
    assert fragment in message


def test_the_stores_stuck_default_applies_only_to_steps_that_set_no_stuck_after() -> None:
    own = parse_workflow(
        textwrap.dedent(
            """
            workflow_id: demo
            steps:
              - {batch_code: A-ONE, stuck_after: 20m}
              - {batch_code: B-TWO}
            """
        ),
        Path("demo.yaml"),
    )
    by_defaults = parse_workflow(
        "workflow_id: demo\ndefaults: {stuck_after: 45m}\nsteps: [{batch_code: A-ONE}]\n", Path("demo.yaml")
    )
    judged = own.with_stuck_after(dt.timedelta(minutes=25))
    assert [s.stuck_after for s in judged.steps] == [dt.timedelta(minutes=20), dt.timedelta(minutes=25)]
    assert [s.stuck_after for s in own.steps] == [dt.timedelta(minutes=20), DEFAULT_STUCK_AFTER]  # unchanged
    assert by_defaults.with_stuck_after(dt.timedelta(minutes=25)).steps[0].stuck_after == dt.timedelta(minutes=45)
    assert own.with_stuck_after(DEFAULT_STUCK_AFTER) is own
    with pytest.raises(ValueError, match="longer than 0"):
        own.with_stuck_after(dt.timedelta(0))
