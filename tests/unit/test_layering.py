"""The package's arrows run one way: the pure alerting diff imports neither the store nor the
renderers nor Airflow, and the store never renders a message (nothing under store/ reaches
batch_monitor.notify, not even through another module or an import inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "batch_monitor"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (``from a import b``: a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the package imports absolutely)"
            assert node.module is not None
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def reached(module: str) -> dict[str, str]:
    """The package's modules ``module`` imports, directly or through others: {module: who imports it}."""
    found: dict[str, str] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in imported(MODULES[current]):
            if name in MODULES and name not in found and name != module:
                found[name] = current
                todo.append(name)
    return found


def third_party(module: str) -> set[str]:
    """The top-level packages outside batch_monitor that ``module`` imports."""
    return {name.split(".")[0] for name in imported(MODULES[module])} - {"batch_monitor"}


STORE = sorted(m for m in MODULES if m.startswith("batch_monitor.store"))


@pytest.mark.parametrize("module", STORE)
def test_nothing_under_store_reaches_the_renderers(module: str) -> None:
    via = reached(module)
    assert not {m: who for m, who in via.items() if m.startswith("batch_monitor.notify")}


@pytest.mark.parametrize("module", ["batch_monitor.alerting", "batch_monitor.incidents", "batch_monitor.silences"])
def test_the_alerting_diff_is_pure(module: str) -> None:
    assert not third_party(module) & {"sqlalchemy", "airflow", "psycopg2", "jinja2"}
    for other, who in reached(module).items():
        assert not other.startswith(("batch_monitor.store", "batch_monitor.notify", "batch_monitor.api")), (
            f"{module} reaches {other} through {who}"
        )
        assert not third_party(other) & {"sqlalchemy", "airflow"}, f"{module} reaches {other}, which is not pure"


def test_the_check_sees_an_import_of_the_renderers() -> None:
    """The pipeline does import them (it hands the renderer to the store): the walk finds that."""
    assert "batch_monitor.notify.alert_mail" in reached("batch_monitor.pipeline")
    assert "batch_monitor.alerting" in reached("batch_monitor.notify.alert_mail")
