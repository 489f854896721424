"""A real Airflow api-server with the Batch Monitor plugin, over a store holding simulated days.

Shared by tests/api and tests/browser: one api-server and one store per pytest session (both take
tens of seconds to build). The store is filled by the real simulator and the real pipeline:

- dpdc_ami 2024-03-11: include/scenarios/failure.yaml played through the whole day (hourly ticks):
  C1-PPBTR fails at 14:30 and its rerun completes, so the FAILED alert opens and resolves.
- dpdc_ami 2024-03-12: tests/data/api/operators_day.yaml every 15 minutes up to 14:45 Dhaka:
  LATE_START (resolved), EMPTY_RUN and FAILED (open); C1-PPBTR has failed, the rest waits.
- us_east_settlement 2024-03-12: tests/data/scenarios/us_east_normal.yaml up to 03:30 New York:
  the extract is done and the posting runs.

Tests that change alerts or settings restore the store with :meth:`StoreSnapshot.restore`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import copy_airflow_db, create_database, drop_database
from tests.support.workflows import load_test_workflow, scenario_path

from batch_monitor import business_day as bd
from batch_monitor import pipeline, settings, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.store.schema import (
    alert_events,
    alerts,
    evaluations,
    monitoring_config,
    silences,
    source_snapshots,
    step_baselines,
    tick_evaluations,
    ticks,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "api"  # the API suite's own day (not a shipped scenario)

DAY_BEFORE = dt.date(2024, 3, 11)
DAY = dt.date(2024, 3, 12)
DHAKA = "Asia/Dhaka"
AS_OF = dt.datetime(2024, 3, 12, 8, 45, tzinfo=dt.UTC)  # 14:45 in Dhaka
US_EAST_AS_OF = dt.datetime(2024, 3, 12, 7, 30, tzinfo=dt.UTC)  # 03:30 in New York

# the metrics scraper's token: the api-server's Airflow Variable batch_monitor_metrics_token
METRICS_TOKEN = secrets.token_urlsafe(24)

USERS = {  # name: (role, password)
    "viewer1": ("viewer", "viewer1-secret"),
    "op1": ("op", "op1-secret"),
    "admin1": ("admin", "admin1-secret"),
}


def workflow(name: str) -> WorkflowConfig:
    """The tests' copy of a workflow (tests/data/workflows)."""
    return load_test_workflow(name)


def _ticks(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    ticks = []
    moment = start
    while moment <= end:
        ticks.append(moment)
        moment += step
    return ticks


def play_day(
    source: sa.Engine,
    store: sa.Engine,
    wf: WorkflowConfig,
    scenario_path: Path,
    day: dt.date,
    ticks: Iterable[dt.datetime],
) -> None:
    """Play ``scenario`` into CC&B and run one real monitoring tick at each moment."""
    scenario = simulator.load_scenario(scenario_path)
    for as_of in ticks:
        simulator.play(source, scenario, wf, day, as_of)
        pipeline.run_tick(source, store, wf, as_of, page_url_base="http://airflow.test")


def fill_store(source: sa.Engine, store: sa.Engine) -> None:
    """The three simulated days described in the module docstring."""
    simulator.create_schema(source)
    dpdc, us_east = workflow("dpdc_ami"), workflow("us_east_settlement")
    start_a, end_a = bd.window(DAY_BEFORE, dpdc.timezone, dpdc.business_day_start)
    pipeline.prepare_store(store, dpdc, start_a)
    pipeline.prepare_store(store, us_east, start_a)
    hourly = dt.timedelta(hours=1)
    play_day(source, store, dpdc, scenario_path("failure"), DAY_BEFORE, _ticks(start_a, end_a - hourly, hourly))
    start_b, _ = bd.window(DAY, dpdc.timezone, dpdc.business_day_start)
    quarter = dt.timedelta(minutes=15)
    play_day(source, store, dpdc, DATA / "operators_day.yaml", DAY, _ticks(start_b, AS_OF, quarter))
    start_us, _ = bd.window(DAY, us_east.timezone, us_east.business_day_start)
    play_day(source, store, us_east, scenario_path("us_east_normal"), DAY, _ticks(start_us, US_EAST_AS_OF, quarter))


@dataclass
class StoreSnapshot:
    """What operators and tests may change (alerts, their events, settings, the days' latest
    evaluations with their alert-sync marks, the finished ticks, silences), and what a tick's
    housekeeping rewrites (the raw snapshots, with their evaluations, it purges after ``snapshot_retention_days``, the
    baselines it learns once per business day), to put back later."""

    alerts: list[dict[str, Any]]
    max_event_id: int
    settings: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    snapshots: dict[int, dict[str, Any]]
    snapshot_evaluations: dict[int, dict[str, Any]]  # by snapshot id (they go with their snapshot)
    ticks: list[dict[str, Any]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def take(cls, engine: sa.Engine) -> StoreSnapshot:
        with engine.connect() as conn:
            last_event = sa.select(sa.func.coalesce(sa.func.max(alert_events.c.id), 0))
            return cls(
                alerts=[dict(r._mapping) for r in conn.execute(sa.select(alerts))],
                max_event_id=int(conn.execute(last_event).scalar_one()),
                settings=[dict(r._mapping) for r in conn.execute(sa.select(monitoring_config))],
                evaluations=[dict(r._mapping) for r in conn.execute(sa.select(evaluations))],
                snapshots={r.id: dict(r._mapping) for r in conn.execute(sa.select(source_snapshots))},
                snapshot_evaluations={
                    r.snapshot_id: dict(r._mapping) for r in conn.execute(sa.select(tick_evaluations))
                },
                ticks=[dict(r._mapping) for r in conn.execute(sa.select(ticks))],
                baselines=[dict(r._mapping) for r in conn.execute(sa.select(step_baselines))],
            )

    def restore(self, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            conn.execute(sa.delete(alerts).where(alerts.c.id.not_in([row["id"] for row in self.alerts])))
            conn.execute(sa.delete(alert_events).where(alert_events.c.id > self.max_event_id))
            conn.execute(sa.delete(silences))  # the simulated days have none; tests add them
            for row in self.alerts:
                conn.execute(sa.update(alerts).where(alerts.c.id == row["id"]).values(row))
            conn.execute(sa.delete(monitoring_config))
            conn.execute(sa.insert(monitoring_config), self.settings)
            conn.execute(sa.delete(evaluations))
            conn.execute(sa.insert(evaluations), self.evaluations)
            present = set(conn.execute(sa.select(source_snapshots.c.id)).scalars())
            conn.execute(sa.delete(source_snapshots).where(source_snapshots.c.id.not_in(list(self.snapshots))))
            purged = [row for key, row in self.snapshots.items() if key not in present]
            if purged:
                conn.execute(sa.insert(source_snapshots), purged)
                judged = [row for key, row in self.snapshot_evaluations.items() if key not in present]
                if judged:
                    conn.execute(sa.insert(tick_evaluations), judged)
            conn.execute(sa.delete(ticks))
            if self.ticks:
                conn.execute(sa.insert(ticks), self.ticks)
            conn.execute(sa.delete(step_baselines))
            if self.baselines:
                conn.execute(sa.insert(step_baselines), self.baselines)


AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowServer:
    """`airflow api-server` in its own process group, with SimpleAuthManager users."""

    base_url: str
    home: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        """A JWT for ``user`` from the auth manager's real token endpoint."""
        if user not in self._tokens:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": user, "password": USERS[user][1]},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def client(self, user: str | None) -> httpx.Client:
        """An HTTP client for the Batch Monitor API, as ``user`` (None: no token at all)."""
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.Client(base_url=f"{self.base_url}/batch-monitor/api/v1/", headers=headers, timeout=30)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def airflow_env(home: Path, store_url: str, port: int) -> dict[str, str]:
    """Environment of an isolated Airflow: its own home, SQLite metadata DB, our plugin and users."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({name: pw for name, (_role, pw) in USERS.items()}))
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, (r, _pw) in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW_CONN_BATCH_MONITOR_DB": connection_json(store_url),
            f"AIRFLOW_VAR_{settings.METRICS_TOKEN.name.upper()}": METRICS_TOKEN,
        }
    )
    return env


def connection_json(url: str) -> str:
    """An Airflow connection (JSON form) for a PostgreSQL URL, TCP or Unix socket (pgserver)."""
    parts = sa.make_url(url)
    socket_dir = parts.query.get("host")
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.host or (socket_dir if isinstance(socket_dir, str) else None),
            "port": parts.port,
            "login": parts.username,
            "password": parts.password or "",
            "schema": parts.database,
        }
    )


def start_server(home: Path, store_url: str, migrated_db: Path, timeout: float = 180) -> AirflowServer:
    """Start `airflow api-server` on a copy of the session's migrated metadata DB; returns once it answers."""
    port = _free_port()
    env = airflow_env(home, store_url, port)
    copy_airflow_db(migrated_db, home / "airflow.db")
    log_path = home / "api-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AirflowServer(base_url=f"http://127.0.0.1:{port}", home=home, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/batch-monitor/", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"airflow api-server did not answer within {timeout:.0f} s:\n{server.log_tail()}")


@dataclass
class MonitorEnv:
    """The running api-server and the store it reads."""

    server: AirflowServer
    store_url: str
    store: sa.Engine
    snapshot: StoreSnapshot

    def reset(self) -> None:
        """Put alerts, their history and the settings back as the simulated days left them."""
        self.snapshot.restore(self.store)


_ENV_KEY = pytest.StashKey[MonitorEnv]()


def shared_monitor_env(
    request: pytest.FixtureRequest, admin_url: str, tmp_path_factory: pytest.TempPathFactory, migrated_db: Path
) -> MonitorEnv:
    """The session's one MonitorEnv, built on first use by a session-scoped fixture.

    Its teardown belongs to the fixture that built it, so it runs before ``pg_admin_url``'s
    (an embedded PostgreSQL stops there) and the databases can still be dropped.
    """
    stash = request.config.stash
    if _ENV_KEY in stash:
        return stash[_ENV_KEY]
    source_url = create_database(admin_url, "bm_api_ccb")
    store_url = create_database(admin_url, "bm_api_store")
    source, store = sa.create_engine(source_url), sa.create_engine(store_url)
    server: AirflowServer | None = None

    def teardown() -> None:
        if _ENV_KEY in stash:
            del stash[_ENV_KEY]
        if server is not None:
            server.stop()
        source.dispose()
        store.dispose()
        drop_database(admin_url, source_url)
        drop_database(admin_url, store_url)

    request.addfinalizer(teardown)
    fill_store(source, store)
    server = start_server(tmp_path_factory.mktemp("airflow_home"), store_url, migrated_db)
    env = MonitorEnv(server=server, store_url=store_url, store=store, snapshot=StoreSnapshot.take(store))
    stash[_ENV_KEY] = env
    return env
