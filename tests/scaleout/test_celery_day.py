"""Scale-out proof: a failure day of two workflows through the real scheduler on CeleryExecutor.

A Redis broker, the api-server (REST and task execution API), the scheduler, the dag-processor and
two Celery workers (one task at a time each) run as real processes on a PostgreSQL metadata
database of their own (cluster.py). CC&B is a PostgreSQL database the simulator plays: dpdc_ami's
failure day (C1-PPBTR fails at 14:30 Dhaka, its rerun completes at 16:30) and us_east_settlement's
(SETL-EXTR fails at 02:50 New York, its rerun completes at 03:25). At each tick (the failure seen,
then cleared) both workflows' CC&B is played to it and both DAG runs are triggered at once, so the
two workers run both workflows' tasks side by side and both ``notify`` tasks claim from the one
outbox. Then both failure ticks are cleared and run again, on whichever worker takes them. The
same ticks under ``dag.test()``, against a CC&B, store and SMTP server of their own, give the
reference: the store's alerts, their history and the outbox, and the mails must be the same (the
replay adds nothing), no mail twice, and both workers must have run tasks.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from tests.conftest import create_database, drop_database
from tests.scaleout.cluster import CeleryDeployment, airflow_env, start_redis
from tests.support.connections import pg_connection_json
from tests.support.mail import MailServer, free_port
from tests.support.workflows import load_test_workflow, scenario

from batch_monitor import airflow_io, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.store import schema

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 24)
WORKERS = ["worker-a", "worker-b"]
UTC = dt.UTC


@dataclass(frozen=True)
class Played:
    workflow: WorkflowConfig
    scenario: simulator.Scenario
    ticks: list[dt.datetime]  # one per round; the first is replayed at the end


PLAYED = [
    # 14:45 C1-PPBTR has failed · 16:45 its rerun has completed (Asia/Dhaka)
    Played(
        load_test_workflow("dpdc_ami"),
        scenario("failure"),
        [dt.datetime(2026, 11, 24, h, m, tzinfo=UTC) for h, m in ((8, 45), (10, 45))],
    ),
    # 03:00 SETL-EXTR has failed · 03:45 its rerun has completed and the posting runs (America/New_York)
    Played(
        load_test_workflow("us_east_settlement"),
        scenario("us_east_failure"),
        [dt.datetime(2026, 11, 24, h, m, tzinfo=UTC) for h, m in ((8, 0), (8, 45))],
    ),
]
ROUNDS = len(PLAYED[0].ticks)
TASKS = 7  # per DAG run

# the columns that depend on which database assigned which id or on the wall clock
_VOLATILE = {"id", "incident_id", "alert_id", "created_at", "updated_at", "claimed_at", "claimed_by", "sent_at", "at"}
_IDS = re.compile(r"(alert[=:/]|alerts/|#)\d+")


def _stable(text: str) -> str:
    return _IDS.sub(r"\1<id>", text)


def _stable_value(value: Any) -> Any:
    """A column's value without ids: text with its ids masked, JSON (a chat notice) without its id keys."""
    if isinstance(value, str):
        return _stable(value)
    if isinstance(value, dict):
        return {k: _stable_value(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable_value(v) for v in value]
    return value


@dataclass
class Result:
    """What one way of running the ticks left behind."""

    alerts: list[dict[str, Any]]
    events: list[tuple[str, str, str, str | None]]
    outbox: list[dict[str, Any]]
    mails: Counter[tuple[tuple[str, ...], str, str]]
    message_ids: list[str]


def _result(store_url: str, mails: MailServer) -> Result:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        alerts = [dict(r) for r in conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings()]
        events = conn.execute(
            sa.select(
                schema.alerts.c.workflow_id,
                schema.alerts.c.step_id,
                schema.alert_events.c.event,
                schema.alert_events.c.as_of,
            )
            .join(schema.alerts, schema.alerts.c.id == schema.alert_events.c.alert_id)
            .order_by(schema.alert_events.c.id)
        ).all()
        outbox = [dict(r) for r in conn.execute(sa.select(schema.email_outbox)).mappings()]
    engine.dispose()
    received = mails.received
    return Result(
        alerts=sorted(
            ({k: v for k, v in a.items() if k not in _VOLATILE | {"details"}} for a in alerts),
            key=lambda a: (a["workflow_id"], a["step_id"], a["kind"]),
        ),
        events=sorted((w, s, e, a.isoformat() if a else None) for w, s, e, a in events),
        outbox=sorted(
            ({k: _stable_value(v) for k, v in o.items() if k not in _VOLATILE} for o in outbox),
            key=lambda o: (o["subject"], o["dedupe_key"]),
        ),
        mails=Counter(
            (
                tuple(m.rcpt_tos),
                str(m.message["Subject"]),
                _stable(m.message.get_body(preferencelist=("plain",)).get_content()),
            )
            for m in received
        ),
        message_ids=[str(m.message["Message-ID"]) for m in received],
    )


def _reference(admin_url: str, monkeypatch: pytest.MonkeyPatch, databases: list[str]) -> Result:
    """The same ticks, one workflow after the other, under dag.test() (the session's SQLite Airflow)."""
    ccb_url = create_database(admin_url, "bm_scale_ref_ccb")
    databases.append(ccb_url)
    store_url = create_database(admin_url, "bm_scale_ref")
    databases.append(store_url)
    ccb = sa.create_engine(ccb_url)
    simulator.create_schema(ccb)
    mails = MailServer()
    mails.start()
    monkeypatch.setenv("AIRFLOW_CONN_CCB_ORACLE", pg_connection_json(ccb_url))
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_DB", pg_connection_json(store_url))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mails.connection_json())
    airflow_io.store_engine.cache_clear()
    airflow_io.source_engine.cache_clear()
    try:
        dags = DagBag(str(ROOT / "dags")).dags
        for index in range(ROUNDS):
            for played in PLAYED:
                as_of = played.ticks[index]
                simulator.play(ccb, played.scenario, played.workflow, DAY, as_of)
                run = dags[played.workflow.dag_id].test(logical_date=as_of)
                assert run.state == "success", (played.workflow.dag_id, as_of)
        return _result(store_url, mails)
    finally:
        airflow_io.store_engine.cache_clear()
        airflow_io.source_engine.cache_clear()
        ccb.dispose()
        mails.stop()


def _difference(key: str, got: Any, expected: Any) -> str:
    if isinstance(got, str) and isinstance(expected, str):  # mail bodies: the first line that differs
        pairs = zip(got.splitlines(), expected.splitlines(), strict=False)
        got, expected = next(((a, b) for a, b in pairs if a != b), (got[-200:], expected[-200:]))
    return f"{key}: {got!r} != {expected!r}"


def _differences(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """Readable differences between two lists of rows (row index, column, both values)."""
    if len(got) != len(expected):
        return [f"{len(got)} rows, expected {len(expected)}"]
    return [
        f"row {i} " + _difference(key, row.get(key), other.get(key))
        for i, (row, other) in enumerate(zip(got, expected, strict=True))
        for key in sorted(set(row) | set(other))
        if row.get(key) != other.get(key)
    ]


def _timing(task_instances: list[dict[str, Any]]) -> str:
    """Where a task's time went: queued to running (scheduler, broker, worker) and running (the task)."""
    waits = sorted((ti["start_date"] - ti["queued_dttm"]).total_seconds() for ti in task_instances)
    runs = sorted((ti["end_date"] - ti["start_date"]).total_seconds() for ti in task_instances)
    return (
        f"queued→running median {waits[len(waits) // 2]:.1f} s max {waits[-1]:.1f} s, "
        f"running median {runs[len(runs) // 2]:.1f} s max {runs[-1]:.1f} s"
    )


def _succeeded(deployment: CeleryDeployment, runs: list[tuple[str, str]]) -> None:
    states = deployment.wait_runs(runs)
    assert set(states.values()) == {"success"}, f"{states}\n{deployment.logs()}"


@pytest.fixture
def databases(pg_admin_url: str) -> Iterator[list[str]]:
    """Names of the databases the test creates, all dropped afterwards."""
    created: list[str] = []
    yield created
    for url in created:
        drop_database(pg_admin_url, url)


@pytest.mark.e2e
@pytest.mark.scaleout
def test_two_celery_workers_play_two_failure_days_like_dag_test(
    airflow_db: Path,
    pg_admin_url: str,
    databases: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata_url = create_database(pg_admin_url, "bm_scale_airflow")
    ccb_url = create_database(pg_admin_url, "bm_scale_ccb")
    store_url = create_database(pg_admin_url, "bm_scale_store")
    databases += [metadata_url, ccb_url, store_url]
    ccb = sa.create_engine(ccb_url)
    simulator.create_schema(ccb)
    mails = MailServer()
    mails.start()
    home = tmp_path / "airflow"
    home.mkdir()
    redis, broker_url = start_redis(tmp_path)
    connections = {
        "AIRFLOW_CONN_CCB_ORACLE": pg_connection_json(ccb_url),
        "AIRFLOW_CONN_BATCH_MONITOR_DB": pg_connection_json(store_url),
        "AIRFLOW_CONN_SMTP_DEFAULT": mails.connection_json(),
    }
    api_port = free_port()
    deployment = CeleryDeployment(
        home, airflow_env(home, metadata_url, broker_url, api_port, connections), metadata_url, api_port
    )
    deployment.services.insert(0, redis)
    began = time.monotonic()
    stages: list[str] = []

    def stage(name: str) -> None:
        stages.append(f"{name} at {time.monotonic() - began:.0f} s")
        print(f"scale-out test: {stages[-1]}")  # shown with -s, and with a failure's captured output

    try:
        migrating = deployment.migrate()
        # the reference runs while the metadata database is migrated
        reference = _reference(pg_admin_url, monkeypatch, databases)
        stage("reference under dag.test() done")
        deployment.wait_migrated(migrating)
        stage("metadata database migrated")
        deployment.start(WORKERS)
        deployment.wait_ready([p.workflow.dag_id for p in PLAYED], WORKERS)
        stage("deployment ready")

        replays = []
        for index in range(ROUNDS):
            for played in PLAYED:
                simulator.play(ccb, played.scenario, played.workflow, DAY, played.ticks[index])
            runs = [(p.workflow.dag_id, deployment.trigger(p.workflow.dag_id, p.ticks[index])) for p in PLAYED]
            _succeeded(deployment, runs)
            stage(f"round {index + 1} done")
            replays = replays or runs
        # the failure ticks again (an operator clearing them): whichever worker takes them, nothing changes
        for dag_id, run_id in replays:
            deployment.clear(dag_id, run_id)
        _succeeded(deployment, replays)
        stage("replay done")

        celery = _result(store_url, mails)
        task_instances = deployment.task_instances()
        stage(f"task instances: {_timing(task_instances)}")
    finally:
        deployment.stop()
        mails.stop()
        ccb.dispose()

    # both workers ran tasks; every task succeeded at its first try, and the replayed runs' at their second
    assert len(task_instances) == ROUNDS * len(PLAYED) * TASKS
    assert all(ti["state"] == "success" for ti in task_instances), task_instances
    tries = Counter((ti["dag_id"], ti["run_id"], ti["try_number"]) for ti in task_instances)
    assert tries == {(d, r, 2 if (d, r) in replays else 1): TASKS for d, r, _try in tries}, tries
    hosts = Counter(ti["hostname"] for ti in task_instances)
    assert set(hosts) == set(WORKERS), hosts
    # the same alerts, alert history, outbox and mails as under dag.test()
    assert [(a["workflow_id"], a["step_id"], a["kind"], a["state"]) for a in celery.alerts] == [
        ("dpdc_ami", "C1-PPBTR", "FAILED", "resolved"),
        ("us_east_settlement", "SETL-EXTR", "FAILED", "resolved"),
    ]
    assert celery.alerts == reference.alerts
    assert celery.events == reference.events
    differences = _differences(celery.outbox, reference.outbox)
    assert differences == [], "\n".join(differences)
    assert celery.mails == reference.mails
    assert sum(celery.mails.values()) == 4  # each failure mailed once when it opened and once when it cleared
    assert len(set(celery.message_ids)) == len(celery.message_ids)
    assert all(o["attempts"] == 1 and o["last_error"] is None for o in celery.outbox)
