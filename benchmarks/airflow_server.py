"""A real ``airflow api-server`` with the Batch Monitor plugin, on 127.0.0.1, for parts 2 and 3.

Its metadata database is PostgreSQL on the same server as the store (so Airflow's own endpoints
and the plugin's read the same kind of database), its DAGs are the project's (serialized with
``airflow dags reserialize`` so GET /api/v2/dags lists them), users come from SimpleAuthManager.
It runs in its own process group and is stopped (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from tests.support.workflows import WORKFLOWS_DIR

from benchmarks import ROOT, common
from benchmarks.history import free_port

USER, PASSWORD, ROLE = "bench", "bench-secret", "admin"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass
class AirflowServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int

    def token(self) -> str:
        """A JWT from the auth manager's real token endpoint."""
        response = httpx.post(f"{self.base_url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _env(home: Path, store_url: str, metadata_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    store = sa.make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:{ROLE}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "BATCH_MONITOR_WORKFLOWS_DIR": str(WORKFLOWS_DIR),  # the tests' workflows, as the benchmarks load
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_BATCH_MONITOR_DB": store,
        }
    )
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


@contextlib.contextmanager
def running(store_url: str, workers: int = 2, timeout: float = 240) -> Iterator[AirflowServer]:
    """Migrate a fresh metadata database, serialize the DAGs, start the api-server; stop it afterwards."""
    airflow = str(Path(sys.executable).parent / "airflow")
    with tempfile.TemporaryDirectory(prefix="bm-bench-airflow-") as tmp, common.database("bench_airflow") as meta:
        home = Path(tmp)
        port = free_port()
        env = _env(home, store_url, sa.make_url(meta).render_as_string(hide_password=False), port)
        _run([airflow, "db", "migrate"], env, "airflow db migrate")
        _run([airflow, "dags", "reserialize"], env, "airflow dags reserialize")
        log_path = home / "api-server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = AirflowServer(f"http://127.0.0.1:{port}", process, log_path, workers)
        try:
            _wait(server, timeout)
            yield server
        finally:
            _stop(process)


def _wait(server: AirflowServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            ready = httpx.get(f"{server.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
            if ready and httpx.get(f"{server.base_url}/batch-monitor/", timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise RuntimeError(f"airflow api-server did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
