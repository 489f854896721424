"""The fast path in the DAG: with ``watch: true`` a workflow's DAG runs on its cron or on an event of
its asset, which BatchSourceChangeTrigger's AssetWatcher emits; an event tick is judged as of the event."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable
from airflow.serialization.serialized_objects import DagSerialization
from tests.support.workflows import workflow_path

from batch_monitor.config import load_workflow
from batch_monitor.dag_factory import _as_of
from batch_monitor.triggers import BatchSourceChangeTrigger

ROOT = Path(__file__).resolve().parents[2]


def watched_bag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str) -> DagBag:
    text = workflow_path("dpdc_ami").read_text()
    (tmp_path / "dpdc_ami.yaml").write_text(text + extra)
    shutil.copy(workflow_path("us_east_settlement"), tmp_path / "us_east_settlement.yaml")
    monkeypatch.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(tmp_path))
    return DagBag(str(ROOT / "dags"))


def test_a_watched_workflow_runs_on_its_cron_or_its_asset_whose_watcher_is_our_trigger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag = watched_bag(tmp_path, monkeypatch, "watch: true\nwatch_interval: 20s\n")
    assert bag.import_errors == {}
    dag = bag.dags["batch_monitor_dpdc_ami"]
    timetable = dag.timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    assert isinstance(timetable.timetable, CronTriggerTimetable)
    assert timetable.timetable.expression == "*/15 * * * *"
    [asset] = timetable.asset_condition.objects
    assert (asset.name, asset.uri) == ("batch_monitor_dpdc_ami_ccb_runs", "batch-monitor://ccb/dpdc_ami")
    [watcher] = asset.watchers
    assert watcher.name == "batch_monitor_dpdc_ami_watch"
    trigger = watcher.trigger
    assert isinstance(trigger, BatchSourceChangeTrigger)
    workflow = load_workflow(workflow_path("dpdc_ami"))
    assert trigger.batch_codes == sorted(s.batch_code for s in workflow.enabled_steps)
    assert (trigger.interval, trigger.conn_id, trigger.timezone) == (20.0, "ccb_oracle", "Asia/Dhaka")
    assert dag.max_active_runs == 1 and dag.catchup is False
    # the workflow without watch keeps its plain cron
    assert bag.dags["batch_monitor_us_east_settlement"].schedule == "*/15 * * * *"


def test_the_watched_dag_serializes_with_the_trigger_as_classpath_and_kwargs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = watched_bag(tmp_path, monkeypatch, "watch: true\n").dags["batch_monitor_dpdc_ami"]
    encoded = DagSerialization.to_dict(dag)
    [asset] = encoded["dag"]["timetable"]["__var"]["asset_condition"]["objects"]
    [watcher] = asset["watchers"]
    assert watcher["trigger"]["classpath"] == "batch_monitor.triggers.BatchSourceChangeTrigger"
    assert watcher["trigger"]["kwargs"]["interval"] == 30.0
    assert "password" not in str(watcher["trigger"]["kwargs"]).lower()
    decoded = DagSerialization.from_dict(encoded)
    assert decoded.timetable.summary == "Asset or */15 * * * *"


def test_the_shipped_dpdc_workflow_is_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCH_MONITOR_WORKFLOWS_DIR")
    monkeypatch.delenv("BATCH_MONITOR_INCLUDE_DIR", raising=False)
    dag = DagBag(str(ROOT / "dags")).dags["batch_monitor_dpdc_ami"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)


def test_an_event_tick_is_judged_as_of_its_latest_event_and_a_cron_tick_as_of_its_interval_end() -> None:
    event_at = pendulum.datetime(2026, 11, 24, 8, 31, 20, tz="UTC")
    queued_at = event_at + dt.timedelta(seconds=3)
    events = [SimpleNamespace(timestamp=event_at - dt.timedelta(seconds=40)), SimpleNamespace(timestamp=event_at)]
    # as Airflow 3.3 creates an asset-triggered run: no logical date, no data interval
    event_run = SimpleNamespace(consumed_asset_events=events, run_after=queued_at)
    assert _as_of({"dag_run": event_run, "data_interval_end": None, "logical_date": None}) == event_at

    tick = pendulum.datetime(2026, 11, 24, 8, 45, tz="UTC")
    cron_run = SimpleNamespace(consumed_asset_events=[], run_after=tick)
    assert _as_of({"dag_run": cron_run, "data_interval_end": tick, "logical_date": tick}) == tick
    manual = SimpleNamespace(consumed_asset_events=[], run_after=queued_at)
    assert _as_of({"dag_run": manual, "data_interval_end": None, "logical_date": None}) == queued_at


def test_an_event_counts_as_of_the_change_cc_b_stamped_when_its_clock_is_a_little_ahead() -> None:
    event_at = pendulum.datetime(2026, 11, 24, 8, 30, 5, tz="UTC")
    ahead = event_at + dt.timedelta(seconds=8)  # CC&B stamped the failure 8 s "later" than Airflow saw it

    def run(changed_at: object) -> SimpleNamespace:
        event = SimpleNamespace(timestamp=event_at, extra={"changed_at": changed_at})
        return SimpleNamespace(consumed_asset_events=[event], run_after=event_at + dt.timedelta(seconds=2))

    def as_of(changed_at: object) -> dt.datetime:
        return _as_of({"dag_run": run(changed_at), "data_interval_end": None, "logical_date": None})

    assert as_of(ahead.isoformat()) == ahead
    assert as_of((event_at - dt.timedelta(minutes=3)).isoformat()) == event_at  # an older stamp: the event
    assert as_of((event_at + dt.timedelta(minutes=10)).isoformat()) == event_at  # too far ahead: skew detection's
    assert as_of(None) == event_at and as_of("not a time") == event_at
