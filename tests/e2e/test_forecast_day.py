"""The forecast through the real DAG (dag.test() at every 15-minute tick of a simulated day).

DPDC's prepay billing is given its typical records by hand (``expected_records: 300000``, as a
learned baseline would give them): on a day when it crawls at a third of its usual rate, AT_RISK
is raised from its records hours before its 17:00 deadline, once, and on a normal day never.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from tests.e2e.test_scenario_days import DAY, ticks
from tests.support.connections import pg_connection_json
from tests.support.mail import MailServer
from tests.support.workflows import workflow_path

from batch_monitor import airflow_io, simulator
from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig, load_workflow
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import schema

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def fresh_airflow_engines() -> Iterator[None]:
    """The DAG's tasks cache their engines per process; each day here has its own store and CC&B."""
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()
    yield
    airflow_io.source_engine.cache_clear()
    airflow_io.store_engine.cache_clear()


def with_typical_records(folder: Path) -> WorkflowConfig:
    """The test DPDC workflow, its C1-PPBTR given the records of a typical run, written to ``folder``."""
    text = workflow_path("dpdc_ami").read_text(encoding="utf-8")
    marker = "    expected_duration: 2h45m\n"
    assert marker in text
    folder.mkdir()
    path = folder / "dpdc_ami.yaml"
    path.write_text(text.replace(marker, marker + "    expected_records: 300000\n", 1), encoding="utf-8")
    workflow = load_workflow(path)
    assert workflow.step("C1-PPBTR").expected_records == 300_000
    return workflow


def play_through_the_dag(
    scenario_path: Path, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[WorkflowConfig, list[dict[str, Any]], list[dict[str, Any]]]:
    """Every tick of the day through dag.test(); the day's alerts and the AT_RISK alerts' events."""
    workflow = with_typical_records(tmp_path / "workflows")
    monkeypatch.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(tmp_path / "workflows"))
    ccb = tmp_path / "ccb.sqlite"
    source = sa.create_engine(f"sqlite:///{ccb}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(scenario_path)
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", json.dumps({"conn_type": "sqlite", "host": str(ccb)}))
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(pg_url))
    dag = DagBag(str(ROOT / "dags")).dags[workflow.dag_id]
    for as_of in ticks(workflow, DAY):
        simulator.play(source, scenario, workflow, DAY, as_of)
        assert dag.test(logical_date=as_of).state == "success", as_of
    store = sa.create_engine(pg_url)
    with store.connect() as conn:
        alerts = [dict(r) for r in conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings()]
        risk_ids = [a["id"] for a in alerts if a["kind"] == "AT_RISK"]
        events = [
            dict(r)
            for r in conn.execute(
                sa.select(schema.alert_events).where(schema.alert_events.c.alert_id.in_(risk_ids))
            ).mappings()
        ]
    store.dispose()
    return workflow, alerts, events


@pytest.mark.e2e
def test_a_step_crawling_at_a_third_of_its_rate_is_at_risk_hours_before_its_deadline_exactly_once(
    airflow_db: Path, fresh_pg_url: str, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = simulator.load_scenario(DATA / "crawl.yaml")
    workflow, alerts, events = play_through_the_dag(DATA / "crawl.yaml", tmp_path, fresh_pg_url, monkeypatch)
    assert {(a["kind"], a["step_id"]) for a in alerts} == scenario.expected

    def local(hour: int, minute: int) -> dt.datetime:
        return bd.at_clock(DAY, dt.time(hour, minute), workflow.timezone, workflow.business_day_start)

    [risk] = [a for a in alerts if (a["kind"], a["step_id"]) == ("AT_RISK", "C1-PPBTR")]
    # late at 12:15 (its records say ~19:40), raised at the 12:30 tick: 4h30m before the 17:00 deadline
    assert risk["since"] == local(12, 15) and risk["first_seen_at"] == local(12, 30)
    assert local(17, 0) - risk["first_seen_at"] >= dt.timedelta(hours=4)
    assert risk["severity"] == "WARNING" and risk["details"]["progress_basis"] == "records"
    assert risk["details"]["critical_path"] == ["C1-PPBTR"]
    assert "C1-PPBTR predicted to finish at 19:" in risk["title"] and "after its 17:00 deadline" in risk["title"]
    # held without a break until the deadline, then handed to the MISSED_DEADLINE, which names it
    opened = [(e["alert_id"], e["event"]) for e in events if e["event"] in ("opened", "reopened")]
    assert opened.count((risk["id"], "opened")) == 1 and (risk["id"], "reopened") not in opened
    assert risk["state"] == "resolved" and risk["resolved_at"] <= local(17, 15)
    [missed] = [a for a in alerts if (a["kind"], a["step_id"]) == ("MISSED_DEADLINE", "C1-PPBTR")]
    assert missed["details"]["was_at_risk_since"] == local(12, 15).isoformat()
    # the WARNING is not mailed; the breach's mail says since when the forecast warned of it
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert not [s for s in subjects if "at risk" in s]
    [breach] = [
        m.message.get_body(preferencelist=("plain",))
        for m in mail_server.received
        if str(m.message["Subject"]).startswith("[CRITICAL] C1-PPBTR missed its deadline")
    ]
    assert breach is not None and "Forecast: at risk of this since 2026-11-24 12:15 +06" in breach.get_content()


@pytest.mark.e2e
def test_a_normal_day_with_typical_records_raises_no_at_risk(
    airflow_db: Path, fresh_pg_url: str, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, alerts, _ = play_through_the_dag(scenarios_dir() / "normal.yaml", tmp_path, fresh_pg_url, monkeypatch)
    assert alerts == [] and mail_server.received == []
