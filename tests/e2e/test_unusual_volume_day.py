"""A whole simulated day judged tick by tick with learned baselines: a run that "succeeds" with 1 % of
its usual records raises UNUSUAL_VOLUME; a normal day with the same history raises nothing.

CC&B is the simulator in SQLite, read by the real SourceReader and its SQL every 15 minutes; each
tick is judged by ``evaluate`` with the progress memory the tick before left. The baselines are
fed to ``evaluate`` directly: this branch has no baseline storage yet (the pipeline cannot carry
them), so the day is judged at the evaluation level, not through the DAG.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.e2e.test_scenario_days import DAY, WORKFLOW, ticks
from tests.support.workflows import scenario

from batch_monitor import simulator
from batch_monitor.evaluate import evaluate
from batch_monitor.models import Finding, Progress, StepBaseline
from batch_monitor.settings import sql_dir
from batch_monitor.source import SourceReader

pytestmark = pytest.mark.e2e


def typical(step_id: str, records: float, minutes: float, runs_per_day: float = 1) -> StepBaseline:
    return StepBaseline(
        step_id=step_id,
        sample_days=20,
        runs_per_day=runs_per_day,
        records_p50=records,
        duration_p50_s=minutes * 60,
    )


# What 20 normal days (include/scenarios/normal.yaml) teach, per run: the baselines the learned
# history would hold for each step.
HISTORY = {
    "CM-DMRU": typical("CM-DMRU", 240_000, 48),
    "D1-IMD": typical("D1-IMD", 90_000, 35, runs_per_day=3),
    "C1-PPBTR": typical("C1-PPBTR", 300_000, 160),
    "F1-FLUSH": typical("F1-FLUSH", 900, 8, runs_per_day=3),
    "CM_BSGGN": typical("CM_BSGGN", 180_000, 72),
    "BILLRESTSMS": typical("BILLRESTSMS", 45_000, 28),
}


def judge_day(name: str, tmp_path: Path) -> list[tuple[dt.datetime, list[Finding]]]:
    """Every tick of the scenario's day: the findings that held."""
    source = sa.create_engine(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
    simulator.create_schema(source)
    played = scenario(name)
    reader = SourceReader(sql_dir())
    memory: dict[str, Progress] = {}
    judged = []
    for as_of in ticks(WORKFLOW, DAY):
        simulator.play(source, played, WORKFLOW, DAY, as_of)
        with source.connect() as conn:
            observations = reader.read(conn, WORKFLOW, DAY, as_of)
        ev = evaluate(WORKFLOW, observations, as_of, memory, baselines=HISTORY)
        memory = dict(ev.progress)
        judged.append((as_of, ev.findings))
    source.dispose()
    return judged


def test_a_run_that_succeeds_with_1_percent_of_its_usual_records_raises_unusual_volume(tmp_path: Path) -> None:
    judged = judge_day("low_volume", tmp_path)
    held = {(f.kind.value, f.step_id) for _, findings in judged for f in findings}
    assert held == scenario("low_volume").expected == {("UNUSUAL_VOLUME", "CM-DMRU")}
    raised = [as_of for as_of, findings in judged if findings]
    first = raised[0]
    assert first == ticks(WORKFLOW, DAY)[1]  # 05:15, the first tick after CM-DMRU completed at 05:05
    assert raised == [as_of for as_of, _ in judged if as_of >= first]  # held for the rest of the day
    [finding] = judged[-1][1]
    assert finding.title == "CM-DMRU completed at 05:05 with 2,400 records, 1% of its typical 240,000"
    assert finding.actual == "2,400 records in 5m (typical 240,000 in 48m)"


def test_a_normal_day_with_twenty_days_of_history_raises_nothing(tmp_path: Path) -> None:
    judged = judge_day("normal", tmp_path)
    assert [(as_of, findings) for as_of, findings in judged if findings] == []
