"""The tests' workflow files and scenarios: the one place tests find them.

Tests load their own copies in tests/data/workflows (dpdc_ami.yaml as shipped when the tests were
written, and the US-East example for the daylight-saving tests), never the deployment's
include/workflows: a site may change its SLAs, or add and remove workflows, without breaking a
test. tests/conftest.py also points ``BATCH_MONITOR_WORKFLOWS_DIR`` here, so the DAGs Airflow parses
in the tests (and the api-server the API tests start) are built from the same files.

Scenarios are the simulator's shipped ones (include/scenarios, also played by ``make demo``),
plus the tests' own in tests/data/scenarios (the US-East example's nights: a normal one, and one
whose extract fails and is rerun, played by the scale-out test).
"""

from __future__ import annotations

from pathlib import Path

from batch_monitor.config import WorkflowConfig, load_workflow
from batch_monitor.settings import scenarios_dir
from batch_monitor.simulator import Scenario, load_scenario

DATA = Path(__file__).resolve().parent.parent / "data"
WORKFLOWS_DIR = DATA / "workflows"
SCENARIOS_DIR = DATA / "scenarios"


def workflow_path(workflow_id: str) -> Path:
    """The tests' file of a workflow ('dpdc_ami' → tests/data/workflows/dpdc_ami.yaml)."""
    path = WORKFLOWS_DIR / f"{workflow_id}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no test workflow {workflow_id!r} in {WORKFLOWS_DIR}")
    return path


def load_test_workflow(workflow_id: str) -> WorkflowConfig:
    """The tests' copy of a workflow, loaded."""
    return load_workflow(workflow_path(workflow_id))


def scenario_files() -> list[Path]:
    """Every scenario the tests may play: the shipped ones and the tests' own."""
    return sorted([*scenarios_dir().glob("*.yaml"), *SCENARIOS_DIR.glob("*.yaml")])


def scenario_path(name: str) -> Path:
    """A scenario by name: the tests' own (tests/data/scenarios) first, then the shipped ones."""
    for folder in (SCENARIOS_DIR, scenarios_dir()):
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no scenario {name!r} in {SCENARIOS_DIR} or {scenarios_dir()}")


def scenario(name: str) -> Scenario:
    """A scenario by name, loaded (see :func:`scenario_path`)."""
    return load_scenario(scenario_path(name))
