"""Broken workflow YAML: each mistake is one clear error naming the file, the step and the field,
and the other workflow files keep loading (and keep their DAGs in Airflow)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from tests.support.workflows import workflow_path
from tests.unit.test_config import GOOD

from batch_monitor.config import load_workflows

from .conftest import Case

AREA = "Bad input: workflow YAML"
ROOT = Path(__file__).resolve().parents[2]

BAD = GOOD.replace("workflow_id: demo", "workflow_id: broken")


def swap(old: str, new: str) -> str:
    assert old in BAD, old
    return BAD.replace(old, new, 1)


# name: (what was done to the valid file, its text, fragments the error must hold)
CASES: dict[str, tuple[str, str, list[str]]] = {
    "missing workflow_id": (
        "workflow_id removed",
        swap("workflow_id: broken\n", ""),
        ["field 'workflow_id'", "required field is missing"],
    ),
    "missing batch_code": (
        "a step without batch_code",
        swap("  - batch_code: B-TWO\n", "  - name: B-TWO\n"),
        ["step steps[1]", "field 'batch_code'", "required field is missing"],
    ),
    "unknown step field": (
        "max_duration misspelt max_duraton",
        swap("max_duration: 1h", "max_duraton: 1h"),
        ["step 'A-ONE' (steps[0])", "field 'max_duraton'", "unknown field"],
    ),
    "unknown workflow field": (
        "schedule misspelt schedul",
        swap("timezone: Asia/Dhaka", "timezone: Asia/Dhaka\nschedul: '*/15 * * * *'"),
        ["field 'schedul'", "unknown field"],
    ),
    "schedule that is not cron": (
        "schedule: every 15 minutes",
        swap("timezone: Asia/Dhaka", "timezone: Asia/Dhaka\nschedule: every 15 minutes"),
        ["field 'schedule'", "'every 15 minutes' is not a cron expression"],
    ),
    "wrong type: text for a number": (
        "min_rps: fast",
        swap("  - batch_code: C-THREE\n", "  - batch_code: C-THREE\n    min_rps: fast\n"),
        ["step 'C-THREE' (steps[2])", "field 'min_rps'"],
    ),
    "wrong type: text for a boolean": (
        "enabled: maybe",
        swap("    repeat: {runs: 3}", "    repeat: {runs: 3}\n    enabled: maybe"),
        ["step 'B-TWO' (steps[1])", "field 'enabled'", "valid boolean"],
    ),
    "wrong type: steps not a list": (
        "steps: A-ONE",
        "workflow_id: broken\nsteps: A-ONE\n",
        ["field 'steps'", "valid list"],
    ),
    "wrong type: a clock time out of range": (
        'expected_start: "25:00"',
        swap('expected_start: "05:00"', 'expected_start: "25:00"'),
        ["step 'A-ONE' (steps[0])", "field 'expected_start'", "not a clock time"],
    ),
    "duplicate step id": (
        "two steps with id SAME",
        swap("  - batch_code: B-TWO\n", "  - batch_code: B-TWO\n    id: SAME\n").replace(
            "  - batch_code: C-THREE\n", "  - batch_code: C-THREE\n    id: SAME\n"
        ),
        ["step 'SAME' (steps[2])", "field 'id'", "duplicate step id"],
    ),
    "duplicate batch code": (
        "C-THREE's batch_code changed to A-ONE",
        swap("batch_code: C-THREE", "batch_code: A-ONE\n    id: C-THREE"),
        ["step 'C-THREE' (steps[2])", "field 'batch_code'", "'A-ONE' is used twice"],
    ),
    "dependency cycle": (
        "A-ONE depends on C-THREE, which depends on A-ONE",
        swap("  - batch_code: A-ONE\n", "  - batch_code: A-ONE\n    depends_on: [C-THREE]\n"),
        ["field 'depends_on'", "cycle", "A-ONE", "C-THREE"],
    ),
    "unknown dependency": (
        "depends_on: [NOPE]",
        swap("depends_on: [A-ONE]", "depends_on: [NOPE]"),
        ["step 'C-THREE' (steps[2])", "field 'depends_on'", "unknown step 'NOPE'"],
    ),
    "unknown time zone": (
        "timezone: Mars/Olympus",
        swap("timezone: Asia/Dhaka", "timezone: Mars/Olympus"),
        ["field 'timezone'", "unknown time zone 'Mars/Olympus'"],
    ),
    "deadline before expected start + duration": (
        'finish_by "05:20" for a step expected at 05:00 for 30m',
        swap("    max_duration: 1h\n", '    max_duration: 1h\n    finish_by: "05:20"\n'),
        ["step 'A-ONE' (steps[0])", "field 'finish_by'", "05:20 is before the step can finish", "05:00"],
    ),
    "deadline before expected start": (
        'expected_start "09:00", finish_by "08:00"',
        swap('expected_start: "05:00"\n    expected_duration: 30m', 'expected_start: "09:00"\n    finish_by: "08:00"'),
        ["step 'A-ONE' (steps[0])", "field 'finish_by'", "08:00 is before the step can finish"],
    ),
    "negative duration (number)": (
        "stuck_after: -5",
        swap("stuck_after: 90m", "stuck_after: -5"),
        ["step 'C-THREE' (steps[2])", "field 'stuck_after'", "cannot be negative"],
    ),
    "negative duration (text)": (
        "expected_duration: '-30m'",
        swap("expected_duration: 30m", "expected_duration: '-30m'"),
        ["step 'A-ONE' (steps[0])", "field 'expected_duration'", "not a duration"],
    ),
    "max shorter than expected": (
        "max_duration 10m under expected_duration 30m",
        swap("max_duration: 1h", "max_duration: 10m"),
        ["step 'A-ONE' (steps[0])", "max_duration is shorter than expected_duration"],
    ),
    "negative repeat count": (
        "repeat: {runs: -1}",
        swap("repeat: {runs: 3}", "repeat: {runs: -1}"),
        ["step 'B-TWO' (steps[1])", "field 'repeat.runs'"],
    ),
    "maintenance window without a duration": (
        'maintenance: [{cron: "0 2 * * SUN"}]',
        swap("timezone: Asia/Dhaka", 'timezone: Asia/Dhaka\nmaintenance: [{cron: "0 2 * * SUN"}]'),
        ["field 'maintenance[0]'", "a 'cron' window needs a 'duration'"],
    ),
    "maintenance window for an unknown step": (
        'maintenance: [{from: "2026-12-06 02:00", to: "2026-12-06 04:00", steps: [NOPE]}]',
        swap(
            "timezone: Asia/Dhaka",
            'timezone: Asia/Dhaka\nmaintenance: [{from: "2026-12-06 02:00", to: "2026-12-06 04:00", steps: [NOPE]}]',
        ),
        ["field 'maintenance[0].steps'", "unknown step 'NOPE'"],
    ),
    "maintenance window that ends before it starts": (
        'maintenance: [{from: "2026-12-06 04:00", to: "2026-12-06 02:00"}]',
        swap(
            "timezone: Asia/Dhaka",
            'timezone: Asia/Dhaka\nmaintenance: [{from: "2026-12-06 04:00", to: "2026-12-06 02:00"}]',
        ),
        ["field 'maintenance[0]'", "'to' must come after 'from'"],
    ),
    "not YAML": ("an unclosed bracket", "steps: [", ["not valid YAML"]),
    "not a mapping": ("a YAML list", "- a\n- b\n", ["must be a mapping"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_broken_workflow_file_is_one_clear_error_and_the_other_files_still_load(
    name: str, tmp_path: Path, reliability: Case
) -> None:
    change, text, fragments = CASES[name]
    reliability.tried(f"bad.yaml beside a valid good.yaml; bad.yaml: {change}")
    (tmp_path / "good.yaml").write_text(textwrap.dedent(GOOD))
    (tmp_path / "bad.yaml").write_text(textwrap.dedent(text))
    result = load_workflows(tmp_path)
    assert [w.workflow_id for w in result.workflows] == ["demo"]
    [error] = result.errors
    message = str(error)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}: invalid workflow file")
    for fragment in fragments:
        assert fragment in message, message
    reliability.observed(
        "“" + " / ".join(message.replace(str(tmp_path) + "/", "").splitlines()) + "”; good.yaml loaded"
    )


def test_a_broken_file_is_an_airflow_import_error_while_the_other_workflows_keep_their_dags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Case
) -> None:
    reliability.tried(
        "the workflows folder holds dpdc_ami.yaml and the us_east_settlement.yaml example with a step's "
        "finish_by before it can finish; Airflow parses dags/"
    )
    shutil.copy(workflow_path("dpdc_ami"), tmp_path / "dpdc_ami.yaml")
    text = workflow_path("us_east_settlement").read_text()
    broken = text.replace('finish_by: "04:00"', 'finish_by: "02:45"')
    assert broken != text
    (tmp_path / "us_east_settlement.yaml").write_text(broken)
    monkeypatch.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(tmp_path))
    bag = DagBag(str(ROOT / "dags"))
    assert set(bag.dags) == {"batch_monitor_dpdc_ami"}
    [(path, message)] = bag.import_errors.items()
    assert path.endswith("batch_monitor_config_check.py")
    line = next(line for line in message.splitlines() if "finish_by" in line)
    assert "step 'SETL-EXTR' (steps[0]), field 'finish_by'" in line
    reliability.observed(f"DAG batch_monitor_dpdc_ami loaded; import error on {Path(path).name}: “{line.strip()}”")
