"""Every DAG file imports; each workflow YAML becomes one well-formed monitoring DAG."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from tests.support.workflows import workflow_path

ROOT = Path(__file__).resolve().parents[2]


def load_dagbag() -> DagBag:
    return DagBag(str(ROOT / "dags"))


def test_every_dag_file_imports_and_each_workflow_has_its_dag() -> None:
    bag = load_dagbag()
    assert bag.import_errors == {}
    assert set(bag.dags) == {"batch_monitor_dpdc_ami", "batch_monitor_us_east_settlement"}


def test_the_deployment_folder_yields_exactly_the_dpdc_dag_and_no_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """include/workflows holds only what the deployment monitors: the examples live in examples/."""
    monkeypatch.delenv("BATCH_MONITOR_WORKFLOWS_DIR")  # the deployment's default folder, as Airflow sees it
    monkeypatch.delenv("BATCH_MONITOR_INCLUDE_DIR", raising=False)
    bag = load_dagbag()
    assert bag.import_errors == {}  # batch_monitor_config_check.py finds every file valid
    assert set(bag.dags) == {"batch_monitor_dpdc_ami"}


def test_the_examples_folder_enabled_through_the_environment_yields_the_example_dag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(ROOT / "examples" / "workflows"))
    bag = load_dagbag()
    assert bag.import_errors == {}
    assert set(bag.dags) == {"batch_monitor_us_east_settlement"}


def test_the_monitor_dag_is_a_15_minute_schedule_with_one_run_at_a_time() -> None:
    dag = load_dagbag().dags["batch_monitor_dpdc_ami"]
    assert dag.schedule == "*/15 * * * *" or str(dag.timetable.summary) == "*/15 * * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"batch-monitor", "dpdc_ami"} <= set(dag.tags)
    assert [t.task_id for t in dag.topological_sort()] == [
        "prepare_store",
        "source_available",
        "extract",
        "evaluate",
        "persist",
        "notify",
        "summarize_and_purge",
    ]
    sensor = dag.get_task("source_available")
    assert sensor.mode == "reschedule" and sensor.timeout == 600
    for task in dag.tasks:
        assert task.on_failure_callback, task.task_id
        if task.task_id != "source_available":
            assert task.retries == 2


def test_a_typo_in_one_workflow_is_an_import_error_naming_file_step_and_field_while_others_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(workflow_path("dpdc_ami"), tmp_path / "dpdc_ami.yaml")
    broken = workflow_path("us_east_settlement").read_text().replace("max_duration: 2h", "max_duraton: 2h")
    (tmp_path / "us_east_settlement.yaml").write_text(broken)
    monkeypatch.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(tmp_path))

    bag = load_dagbag()

    assert set(bag.dags) == {"batch_monitor_dpdc_ami"}
    [(path, message)] = bag.import_errors.items()
    assert path.endswith("batch_monitor_config_check.py")
    assert f"{tmp_path / 'us_east_settlement.yaml'}: invalid workflow file" in message
    assert "step 'SETL-POST' (steps[1]), field 'max_duraton': unknown field" in message
