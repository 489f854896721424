"""Every scenario, replayed over its whole business day in 15-minute ticks through the reader and
the evaluator, raises exactly the alerts its file expects, and nothing else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.simulator.ccb import DAY, WORKFLOWS, scenario, ticks

from batch_monitor.evaluate import evaluate
from batch_monitor.models import Progress
from batch_monitor.paths import sql_dir
from batch_monitor.simulator import Scenario, create_schema, play
from batch_monitor.source import SourceReader

# us_east_settlement also on its DST days: spring forward (23-hour day starting 03:30 EDT),
# the 25-hour day before fall back, and the fall-back Sunday itself
DAYS = [(name, DAY) for name in ("normal", "failure", "stuck", "long_running", "late_start", "deadline", "midnight")]
DAYS += [("us_east_normal", d) for d in (dt.date(2024, 3, 10), dt.date(2024, 11, 2), dt.date(2024, 11, 3), DAY)]


def replay_day(engine: sa.Engine, loaded: Scenario, date: dt.date) -> dict[tuple[str, str], list[str]]:
    """Play and judge every tick of the day; the findings seen, with the local ticks."""
    workflow = WORKFLOWS[loaded.workflow]
    reader = SourceReader(sql_dir())
    memory: dict[str, Progress] = {}
    seen: dict[tuple[str, str], list[str]] = {}
    for as_of in ticks(date, workflow):
        play(engine, loaded, workflow, date, as_of)
        with engine.connect() as conn:
            observations = reader.read(conn, workflow, date, as_of)
        assert observations.anomalies == []
        evaluation = evaluate(workflow, observations, as_of, memory)
        memory = evaluation.progress
        for finding in evaluation.findings:
            local = as_of.in_timezone(workflow.timezone).format("HH:mm")
            seen.setdefault((finding.kind.value, finding.step_id), []).append(local)
    return seen


# when (first and last tick, local time) some alerts must hold
WHEN = {
    "failure": {("FAILED", "C1-PPBTR"): ("14:30", "16:15")},  # from the failure until the rerun completes
    "stuck": {("STUCK", "D1-IMD"): ("07:15", "07:45"), ("LONG_RUNNING", "D1-IMD"): ("08:00", "08:30")},
    "late_start": {("LATE_START", "CM-DMRU"): ("05:30", "05:30")},
    "deadline": {("MISSED_DEADLINE", "CM_BSGGN"): ("20:15", "20:15")},
    "midnight": {
        ("LATE_START", "BILLRESTSMS"): ("17:00", "23:15"),
        ("MISSED_DEADLINE", "BILLRESTSMS"): ("21:45", "00:30"),
        ("MISSED_DEADLINE", "_chain"): ("22:15", "00:30"),
    },
}


@pytest.mark.parametrize(("name", "date"), DAYS, ids=[f"{n}-{d}" for n, d in DAYS])
def test_a_scenario_day_raises_exactly_the_alerts_it_expects(name: str, date: dt.date, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.db'}")
    create_schema(engine)
    loaded = scenario(name)
    seen = replay_day(engine, loaded, date)
    assert set(seen) == loaded.expected, seen
    for alert, (first, last) in WHEN.get(name, {}).items():
        assert (seen[alert][0], seen[alert][-1]) == (first, last), alert


def test_a_day_replayed_on_postgresql_raises_the_same_alerts(fresh_pg_url: str) -> None:
    engine = sa.create_engine(fresh_pg_url)
    create_schema(engine)
    seen = replay_day(engine, scenario("stuck"), DAY)
    assert {alert: (times[0], times[-1]) for alert, times in seen.items()} == WHEN["stuck"]
    engine.dispose()
