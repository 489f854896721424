"""The store's Alembic migrations, run from code against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa
from tests.support import evaluations

from batch_monitor.constants import RunStatus, StepStatus
from batch_monitor.models import Evaluation, Observations, RiskMemory, RunObservation
from batch_monitor.store import repository
from batch_monitor.store.migrate import (
    VERSION_TABLE,
    current,
    downgrade,
    head_revision,
    migrate,
    schema_differences,
)
from batch_monitor.store.schema import metadata

ROOT = Path(__file__).resolve().parents[2]


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_it_creates_exactly_the_tables_of_the_schema(fresh_pg_url: str) -> None:
    migrate(fresh_pg_url)
    assert tables(fresh_pg_url) == set(metadata.tables) | {VERSION_TABLE}
    assert schema_differences(fresh_pg_url) == []
    assert current(fresh_pg_url) == head_revision()


def test_it_goes_down_to_nothing_and_up_again(fresh_pg_url: str) -> None:
    migrate(fresh_pg_url)
    downgrade(fresh_pg_url)
    assert tables(fresh_pg_url) == {VERSION_TABLE}
    assert current(fresh_pg_url) is None
    migrate(fresh_pg_url)
    assert schema_differences(fresh_pg_url) == []
    assert current(fresh_pg_url) == head_revision()


def test_running_it_twice_changes_nothing_and_keeps_rows(fresh_pg_url: str) -> None:
    migrate(fresh_pg_url)
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO batch_monitoring_config (scope, key, value) VALUES ('global', 'k', '1')"))
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM batch_monitoring_config")).scalar_one() == 1
    engine.dispose()
    assert current(fresh_pg_url) == head_revision()


def test_two_workers_migrating_at_once_both_succeed(fresh_pg_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            migrate(fresh_pg_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert schema_differences(fresh_pg_url) == []


def test_it_shares_a_database_with_other_tables_and_alembic_histories(fresh_pg_url: str) -> None:
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('someone_elses_head')"))
        conn.execute(sa.text("CREATE TABLE dag_run (id int PRIMARY KEY)"))
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "someone_elses_head"
    engine.dispose()
    assert {"dag_run", "alembic_version"} <= tables(fresh_pg_url)
    assert schema_differences(fresh_pg_url) == []


def test_the_command_line_upgrades_reports_and_downgrades(fresh_pg_url: str) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "batch_monitor.store.migrate", *args, "--url", fresh_pg_url],
            cwd=ROOT / "plugins",
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    assert f"store revision: {head_revision()}" in cli("upgrade")
    assert f"store revision: {head_revision()}" in cli("current")
    assert "differs" not in cli("check")
    assert "store revision: none (not migrated)" in cli("downgrade")
    assert tables(fresh_pg_url) == {VERSION_TABLE}


def test_snapshots_stored_as_json_before_0009_are_read_packed_after_it(fresh_pg_url: str) -> None:
    obs = Observations(
        workflow_id="dpdc_ami",
        business_date=dt.date(2024, 3, 12),
        as_of=dt.datetime(2024, 3, 12, 8, 45, tzinfo=dt.UTC),
        window_start=dt.datetime(2024, 3, 11, 23, 0, tzinfo=dt.UTC),
        window_end=dt.datetime(2024, 3, 12, 23, 0, tzinfo=dt.UTC),
        runs=[RunObservation(batch_cd="C1-PPBTR", batch_nbr=7, status=RunStatus.ERROR, error_text="ORA-01555")],
    )
    judged = Evaluation(
        workflow_id="dpdc_ami",
        business_date=obs.business_date,
        as_of=obs.as_of,
        timezone="Asia/Dhaka",
        chain_status=StepStatus.FAILED,
        steps=[],
        findings=[],
    )
    migrate(fresh_pg_url, "0008")
    engine = sa.create_engine(fresh_pg_url)
    try:
        with engine.begin() as conn:
            sid = conn.execute(
                sa.text(
                    "INSERT INTO batch_source_snapshots (workflow_id, business_date, as_of, payload, evaluation) "
                    "VALUES (:w, :d, :a, CAST(:p AS JSONB), CAST(:e AS JSONB)) RETURNING id"
                ),
                {
                    "w": obs.workflow_id,
                    "d": obs.business_date,
                    "a": obs.as_of,
                    "p": obs.model_dump_json(),
                    "e": judged.model_dump_json(),
                },
            ).scalar_one()
        migrate(engine)
        with engine.connect() as conn:
            assert repository.load_snapshot(conn, sid) == obs
            kept = repository.load_tick_evaluation(conn, sid)
            assert kept is not None and kept[0] == judged
        downgrade(engine, "0008")
        with engine.connect() as conn:
            payload, evaluation = conn.execute(
                sa.text("SELECT payload, evaluation FROM batch_source_snapshots WHERE id = :id"), {"id": sid}
            ).one()
        assert Observations.model_validate(payload) == obs
        assert Evaluation.model_validate(evaluation) == judged
    finally:
        engine.dispose()


def test_evaluations_stored_as_json_before_0010_are_read_packed_after_it_with_their_memory(fresh_pg_url: str) -> None:
    as_of = dt.datetime(2024, 3, 12, 8, 45, tzinfo=dt.UTC)
    risk = RiskMemory(late_ticks=2, late_since=as_of - dt.timedelta(minutes=15), seen_at=as_of)
    judged = evaluations.evaluation(
        as_of,
        steps=[
            evaluations.step("CM-DMRU", 0, StepStatus.COMPLETE),
            evaluations.step("D1-IMD", 1, StepStatus.RUNNING),
        ],
        workflow_id="dpdc_ami",
        business_date=dt.date(2024, 3, 12),
        risk={"_chain": risk},
    )
    migrate(fresh_pg_url, "0009")
    engine = sa.create_engine(fresh_pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO batch_evaluations (workflow_id, business_date, as_of, chain_status, payload) "
                    "VALUES ('dpdc_ami', :d, :a, 'running', CAST(:p AS JSONB))"
                ),
                {"d": judged.business_date, "a": as_of, "p": judged.model_dump_json()},
            )
        migrate(engine)
        with engine.connect() as conn:
            assert repository.load_evaluation(conn, "dpdc_ami", judged.business_date) == judged
            memory = repository.load_day_memory(conn, "dpdc_ami", judged.business_date)
        assert memory.risk == {"_chain": risk} and memory.completed == {"CM-DMRU"}
        downgrade(engine, "0009")
        with engine.connect() as conn:
            payload = conn.execute(sa.text("SELECT payload FROM batch_evaluations")).scalar_one()
        assert Evaluation.model_validate(payload) == judged
    finally:
        engine.dispose()
