"""The real DAG, run with dag.test() at fixed logical dates through a whole simulated day.

Airflow's own machinery runs every task (sensor, TaskFlow tasks, XComs, callbacks) against a
SQLite CC&B played by the simulator, a real PostgreSQL store and a real SMTP server.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from tests.e2e.test_scenario_days import DAY, WORKFLOW, ticks
from tests.support.connections import pg_connection_json
from tests.support.mail import MailServer

from batch_monitor import simulator
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import schema

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_dag_plays_the_failure_day_into_the_store_and_the_mailbox(
    airflow_db: Path, fresh_pg_url: str, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ccb = tmp_path / "ccb.sqlite"
    source = sa.create_engine(f"sqlite:///{ccb}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(scenarios_dir() / "failure.yaml")
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", json.dumps({"conn_type": "sqlite", "host": str(ccb)}))
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(fresh_pg_url))
    # the Airflow Variable batch_monitor_email_to overrides the workflow's on_call list
    monkeypatch.setenv("AIRFLOW_VAR_BATCH_MONITOR_EMAIL_TO", "night-shift@dpdc.example, noc@dpdc.example")
    dag = DagBag(str(ROOT / "dags")).dags[WORKFLOW.dag_id]

    for as_of in ticks(WORKFLOW, DAY, every=dt.timedelta(minutes=15)):
        simulator.play(source, scenario, WORKFLOW, DAY, as_of)
        run = dag.test(logical_date=as_of)
        assert run.state == "success", as_of

    store = sa.create_engine(fresh_pg_url)
    with store.connect() as conn:
        alerts = conn.execute(sa.select(schema.alerts)).mappings().all()
        logs = conn.execute(sa.select(schema.execution_logs)).mappings().all()
        summary = conn.execute(sa.select(schema.performance_summary)).mappings().all()
        steps = conn.execute(sa.select(schema.workflow_config)).mappings().all()
        finished_ticks = conn.execute(sa.select(schema.ticks)).mappings().all()
        settings = dict(
            conn.execute(
                sa.select(schema.monitoring_config.c.key, schema.monitoring_config.c.value).where(
                    schema.monitoring_config.c.scope == "global"
                )
            ).all()
        )
    assert [(a["kind"], a["step_id"], a["severity"], a["state"]) for a in alerts] == [
        ("FAILED", "C1-PPBTR", "CRITICAL", "resolved")
    ]
    assert {r["batch_cd"] for r in logs} == {s.batch_code for s in WORKFLOW.steps}
    assert all(r["business_date"] == DAY for r in logs)
    assert {r["batch_cd"] for r in summary} == {s.batch_code for s in WORKFLOW.steps}
    assert [s["step_id"] for s in sorted(steps, key=lambda s: s["position"])] == [s.id for s in WORKFLOW.steps]
    assert settings["retention_days"] == 60
    # every tick ran to its end and said so (the dead man's switch), with its duration from the DAG run's start
    played = list(ticks(WORKFLOW, DAY, every=dt.timedelta(minutes=15)))
    assert sorted(t["as_of"] for t in finished_ticks) == played
    assert all(t["workflow_id"] == WORKFLOW.workflow_id and 0 <= t["duration_s"] < 600 for t in finished_ticks)
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(subjects) == 2 and subjects[1].startswith("[RESOLVED]")
    assert all(m.rcpt_tos == ["night-shift@dpdc.example", "noc@dpdc.example"] for m in mail_server.received)
    assert (
        sum("ORA-12545" in m.message.get_body(preferencelist=("plain",)).get_content() for m in mail_server.received)
        == 1
    )
