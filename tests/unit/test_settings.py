"""settings.py: every setting defined once, with its source and default; the environment overrides."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from batch_monitor import settings
from batch_monitor.settings import Source

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins" / "batch_monitor"
CODE = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "dags").glob("*.py")])
# the one name the driver shares: psycopg's own connect_timeout argument, beside the extra of that name
SHARED_WITH_A_DRIVER = {settings.CONNECT_TIMEOUT.name}


def _string_constants(path: Path) -> list[str]:
    """The string literals of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_each_setting_is_listed_once_under_its_own_name() -> None:
    labels = [s.label for s in settings.SETTINGS]
    assert len(labels) == len(set(labels))
    assert all(s.description for s in settings.SETTINGS)


def test_each_settings_name_is_written_only_in_settings_py() -> None:
    """Everywhere else refers to the definition (settings.RETENTION_DAYS, settings.SOURCE_CONN_ID, ...)."""
    names = {s.name for s in settings.SETTINGS} - SHARED_WITH_A_DRIVER
    elsewhere = {
        str(path.relative_to(ROOT)): sorted(names.intersection(_string_constants(path)))
        for path in CODE
        if path != PACKAGE / "settings.py"
    }
    assert {path: found for path, found in elsewhere.items() if found} == {}
    assert names <= set(_string_constants(PACKAGE / "settings.py"))


def test_the_stores_settings_have_numeric_defaults() -> None:
    assert [s.name for s in settings.TABLE_SETTINGS] == [
        "retention_days",
        "snapshot_retention_days",
        "stuck_threshold_minutes",
        "refresh_interval_seconds",
        "max_silence_days",
    ]
    assert [s.default for s in settings.TABLE_SETTINGS] == [60, 2, 60, 1800, 7]
    assert all(s.source == Source.TABLE for s in settings.TABLE_SETTINGS)


def test_without_the_environment_the_folders_are_those_of_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in (settings.INCLUDE_DIR, settings.WORKFLOWS_DIR, settings.SQL_DIR, settings.TEMPLATES_DIR):
        monkeypatch.delenv(setting.name, raising=False)
    include = ROOT / "include"
    assert settings.include_dir() == include
    folders = [settings.workflows_dir(), settings.sql_dir(), settings.templates_dir(), settings.scenarios_dir()]
    assert folders == [include / "workflows", include / "sql", include / "templates", include / "scenarios"]
    assert all(folder.is_dir() for folder in folders)


def test_the_include_folder_moves_every_folder_and_a_folder_of_its_own_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for setting in (settings.WORKFLOWS_DIR, settings.SQL_DIR, settings.TEMPLATES_DIR):
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setenv(settings.INCLUDE_DIR.name, str(tmp_path))
    assert [settings.workflows_dir(), settings.sql_dir(), settings.templates_dir(), settings.scenarios_dir()] == [
        tmp_path / "workflows",
        tmp_path / "sql",
        tmp_path / "templates",
        tmp_path / "scenarios",
    ]
    monkeypatch.setenv(settings.SQL_DIR.name, str(tmp_path / "oracle-sql"))
    monkeypatch.setenv(settings.WORKFLOWS_DIR.name, "  ")  # blank: as if unset
    assert settings.sql_dir() == tmp_path / "oracle-sql"
    assert settings.workflows_dir() == tmp_path / "workflows"


def test_the_readmes_table_of_settings_is_the_one_settings_py_writes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in readme


def test_the_readme_names_no_setting_settings_py_does_not_define() -> None:
    """The README's table rows are exactly SETTINGS (none left behind after a rename)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| setting | source | default | what |")
    rows = re.findall(r"^\| `([^`]+)` \|", readme[start:].split("\n\n")[0], flags=re.MULTILINE)
    assert rows == [s.label for s in settings.SETTINGS]
