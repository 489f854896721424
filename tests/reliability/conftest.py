"""The reliability suite's report: every case records what it tried and what it observed, and a
full run of tests/reliability can write docs/RELIABILITY.md from those records and the results
(``make reliability-report``; a plain ``make test`` writes no tracked file).

Each test takes the ``reliability`` fixture and calls ``reliability.tried(...)`` and
``reliability.observed(...)`` with what it did and what it measured (counts, messages, timings);
a test that records nothing fails. The table's sections are the modules' ``AREA`` names. The file
is written only when every test of the folder ran (no ``-k``/``-m`` deselection, no ``-x`` stop),
so a partial run never overwrites the full table. ``BATCH_MONITOR_RELIABILITY_REPORT`` names
the output file; unset (or ``0``), none is written.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor.store import schema

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass
class Case:
    """One row of the table."""

    nodeid: str
    area: str
    name: str
    tried_lines: list[str] = field(default_factory=list)
    observed_lines: list[str] = field(default_factory=list)
    outcome: str = "not run"
    detail: str = ""
    seconds: float = 0.0

    def tried(self, text: str) -> None:
        """What the case did to the monitor (the fault, the bad input, the misuse)."""
        self.tried_lines.append(text)

    def observed(self, text: str) -> None:
        """What the monitor did, as measured by the case."""
        self.observed_lines.append(text)


@dataclass
class Report:
    cases: dict[str, Case] = field(default_factory=dict)
    collected: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)


REPORT = pytest.StashKey[Report]()
CALL_PASSED = pytest.StashKey[bool]()


def _ours(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(HERE)


def _report(config: pytest.Config) -> Report:
    if REPORT not in config.stash:
        config.stash[REPORT] = Report()
    return config.stash[REPORT]


def _case_name(item: pytest.Item) -> str:
    function = getattr(item, "originalname", item.name)
    words = function.removeprefix("test_").replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{words} [{callspec.id}]" if callspec is not None else words


def _area(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    area = getattr(module, "AREA", None)
    return str(area) if area else Path(str(item.path)).stem


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _report(config).collected = [item.nodeid for item in items if _ours(item)]


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if _ours(item):
            _report(item.config).partial.append(item.nodeid)


@pytest.fixture
def clean_monitor(monitor: MonitorEnv) -> Iterator[MonitorEnv]:
    """The shared api-server's store, put back afterwards (alerts this module adds are removed too)."""
    with monitor.store.connect() as conn:
        last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema.alerts.c.id), 0))).scalar_one()
    yield monitor
    with monitor.store.begin() as conn:
        conn.execute(sa.delete(schema.email_outbox).where(schema.email_outbox.c.alert_id > last))
        conn.execute(sa.delete(schema.alerts).where(schema.alerts.c.id > last))
    monitor.reset()


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[Case]:
    """The calling case's row in docs/RELIABILITY.md."""
    item = request.node
    case = Case(nodeid=item.nodeid, area=_area(item), name=_case_name(item))
    _report(request.config).cases[item.nodeid] = case
    yield case
    call = item.stash.get(CALL_PASSED, False)
    if call and (not case.tried_lines or not case.observed_lines):
        pytest.fail("a reliability case must record what it tried and what it observed", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    if not _ours(item):
        return
    result: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    case = _report(item.config).cases.get(item.nodeid)
    if case is None:
        case = Case(nodeid=item.nodeid, area=_area(item), name=_case_name(item))
        _report(item.config).cases[item.nodeid] = case
    case.seconds += result.duration  # setup, call and teardown
    if result.when == "call":
        item.stash[CALL_PASSED] = result.passed
    if result.failed:
        case.outcome = "FAILED" if result.when == "call" else f"ERROR in {result.when}"
        case.detail = _first_line(result.longreprtext)
    elif result.skipped and case.outcome == "not run":
        case.outcome = "skipped"
        case.detail = _first_line(str(result.longrepr[-1]) if isinstance(result.longrepr, tuple) else "")
    elif result.when == "call" and result.passed and case.outcome == "not run":
        case.outcome = "passed"


# the order of the sections: faults, replays and time, bad input, misuse, load
SECTIONS = [
    "test_source_outage",
    "test_dag_faults",
    "test_store_faults",
    "test_smtp_faults",
    "test_channel_faults",
    "test_replays",
    "test_time_edges",
    "test_bad_workflow_yaml",
    "test_source_anomalies",
    "test_source_properties",
    "test_markup",
    "test_api_misuse",
    "test_load",
]


def _order(case: Case) -> int:
    module = case.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return SECTIONS.index(module) if module in SECTIONS else len(SECTIONS)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    return (errors[0][2:].strip() if errors else lines[-1] if lines else "")[:300]


def _cell(lines: list[str]) -> str:
    text = "<br>".join(line.strip() for line in lines if line.strip()) or "—"
    return text.replace("|", "\\|").replace("\n", "<br>")


def _versions() -> str:
    try:
        from importlib.metadata import version

        airflow = version("apache-airflow")
    except Exception:  # only for the report's header
        airflow = "?"
    return f"Python {platform.python_version()}, Airflow {airflow}, {os.cpu_count()} CPU cores"


def render(report: Report) -> str:
    """The Markdown of docs/RELIABILITY.md."""
    cases = [report.cases[nodeid] for nodeid in report.collected if nodeid in report.cases]
    passed = sum(1 for c in cases if c.outcome == "passed")
    failed = [c for c in cases if c.outcome not in ("passed", "skipped")]
    lines = [
        "# Reliability",
        "",
        "What the monitor does under faults, bad input and misuse, as observed by the automated suite in",
        "`tests/reliability/` against real components (PostgreSQL, aiosmtpd, Airflow `dag.test()` and",
        "`airflow api-server`, headless Chromium). This file is generated from the suite's results at the end",
        "of a full run of that folder (`.venv/bin/python -m pytest tests/reliability`); do not edit it by hand.",
        "",
        f"Last run: {dt.date.today().isoformat()}, {len(cases)} cases: {passed} passed, {len(failed)} not passed; "
        f"{sum(c.seconds for c in cases):.0f} s of setup, test and teardown ({_versions()}).",
        "",
    ]
    areas: dict[str, list[Case]] = {}
    for case in sorted(cases, key=_order):
        areas.setdefault(case.area, []).append(case)
    lines += ["| Area | Cases | Passed |", "|---|---|---|"]
    for area, members in areas.items():
        anchor = "".join(c for c in area.lower().replace(" ", "-") if c.isalnum() or c == "-")
        lines.append(f"| [{area}](#{anchor}) | {len(members)} | {sum(1 for c in members if c.outcome == 'passed')} |")
    lines.append("")
    for area, members in areas.items():
        lines += [f"## {area}", "", "| Case | What was tried | Observed outcome | Result |", "|---|---|---|---|"]
        for case in members:
            result = case.outcome if not case.detail else f"{case.outcome}: {case.detail}"
            lines.append(
                f"| {_cell([case.name])} | {_cell(case.tried_lines)} | {_cell(case.observed_lines)} | "
                f"{_cell([result])} ({case.seconds:.1f} s) |"
            )
        lines.append("")
    return "\n".join(lines)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = session.config.stash.get(REPORT, None)
    if report is None or not report.collected:
        return
    target = os.environ.get("BATCH_MONITOR_RELIABILITY_REPORT", "0")
    missing = [nodeid for nodeid in report.collected if report.cases.get(nodeid, Case("", "", "")).outcome == "not run"]
    modules = {nodeid.split("::")[0].rsplit("/", 1)[-1] for nodeid in report.collected}
    missing += sorted({p.name for p in HERE.glob("test_*.py")} - modules)  # a run of some files only
    if target == "0" or report.partial or missing:
        skipped = f"{len(report.partial) + len(missing)} case(s) deselected or not run"
        why = "make reliability-report writes it" if target == "0" else skipped
        sys.stderr.write(f"\nreliability: {Path(target).name if target != '0' else 'report'} not written ({why})\n")
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    sys.stderr.write(f"\nreliability: wrote {path}\n")
