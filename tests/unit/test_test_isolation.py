"""The tests never read the deployment's workflow files: a site may edit its SLAs in
include/workflows without breaking a test. They load their own copies through
tests/support/workflows.py. The example workflow in examples/ stays valid."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from batch_monitor import business_day as bd
from batch_monitor.config import load_workflows
from batch_monitor.constants import RunStatus
from batch_monitor.simulator import load_scenario, state_at

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
DEPLOYMENT = "include/workflows"


# this module (it names the folder to find it), and settings.py's tests, which check where the folder
# is (its default and its environment override) and read no workflow from it
RESOLVE_THE_FOLDER_ONLY = {Path(__file__).resolve(), Path(__file__).resolve().parent / "test_settings.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (they may name the folder)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def reads_of_the_deployment_folder(source: str) -> list[str]:
    """Where Python code names the deployment's workflows folder: a string holding the path,
    ``"include" / "workflows"`` joined as a path, or a call of ``settings.workflows_dir()``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if DEPLOYMENT in node.value:
                found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left, right = node.left, node.right
            if isinstance(left, ast.BinOp):
                left = left.right
            if (
                isinstance(left, ast.Constant)
                and left.value == "include"
                and isinstance(right, ast.Constant)
                and right.value == "workflows"
            ):
                found.append(f"line {node.lineno}: 'include' / 'workflows'")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "workflows_dir":
                found.append(f"line {node.lineno}: workflows_dir()")
    return found


@pytest.mark.parametrize(
    ("code", "found"),
    [
        ('load_workflow(ROOT / "include" / "workflows" / "dpdc_ami.yaml")', True),
        ('Path("include/workflows/dpdc_ami.yaml")', True),
        ('load_workflow(workflows_dir() / "dpdc_ami.yaml")', True),
        ('load_workflow(settings.workflows_dir() / "dpdc_ami.yaml")', True),
        ('load_test_workflow("dpdc_ami")', False),
        ('def f() -> None:\n    """Not include/workflows: a docstring may name it."""', False),
    ],
)
def test_the_scan_finds_each_way_of_naming_the_deployment_folder(code: str, found: bool) -> None:
    assert bool(reads_of_the_deployment_folder(code)) is found


def test_no_test_or_benchmark_reads_the_deployments_workflow_files() -> None:
    offenders = {
        str(path.relative_to(ROOT)): hits
        for path in SOURCES
        if path not in RESOLVE_THE_FOLDER_ONLY
        and (hits := reads_of_the_deployment_folder(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "load workflows through tests/support/workflows.py instead"


def test_the_example_workflow_loads_and_its_scenario_plays_on_the_spring_forward_day() -> None:
    loaded = load_workflows(ROOT / "examples" / "workflows")
    assert loaded.errors == []
    [us_east] = loaded.workflows
    scenario = load_scenario(ROOT / "examples" / "scenarios" / "us_east_normal.yaml")
    day = dt.date(2024, 3, 10)
    _, end = bd.window(day, us_east.timezone, us_east.business_day_start)
    whole_day = state_at(scenario, us_east, day, end - dt.timedelta(minutes=1))
    assert [(r.batch_cd, r.status) for r in whole_day.runs] == [
        ("SETL-EXTR", RunStatus.COMPLETE),
        ("SETL-POST", RunStatus.COMPLETE),
    ]
