"""A small Airflow deployment on CeleryExecutor for the scale-out test, every part a real process.

Redis (Debian's ``redis-server``) is the broker; the metadata database and the Celery result backend
are a PostgreSQL database of the test's own; ``airflow api-server`` serves the REST API and the
task execution API the workers' task processes talk to; ``airflow scheduler`` and
``airflow dag-processor`` run as in a deployment; two ``airflow celery worker`` processes with
their own names (``[core] hostname_callable``, see worker_name.py) run the tasks.

Every process starts in a session of its own and is stopped by its process id (its process group:
a Celery worker's pool child and task processes go with it), in reverse order of start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from tests.scaleout.worker_name import ENV_VAR as WORKER_NAME_VAR
from tests.support.mail import free_port
from tests.support.workflows import WORKFLOWS_DIR

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
ADMIN = ("admin", "admin-scaleout")
FINISHED = ("success", "failed")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass
class Service:
    """One started process, its log and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """SIGTERM to the process group (see :meth:`stop`)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20) -> None:
        """Terminate, wait up to ``timeout`` seconds for the process, then kill what is left of its
        group (a Celery worker's pool and task processes)."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_service(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Service:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Service(name, process, log_path)


def redis_server() -> str:
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).is_file():
        raise RuntimeError(
            "redis-server is not installed: the scale-out test needs Debian's redis-server as the Celery broker "
            "(apt-get install redis-server; .ci/run installs it)"
        )
    return path


def start_redis(work: Path) -> tuple[Service, str]:
    """A Redis broker on a free port, its files in ``work`` (no persistence)."""
    port = free_port()
    data = work / "redis"
    data.mkdir()
    argv = [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    argv += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    service = start_service("redis", argv, dict(os.environ), work)
    return service, f"redis://127.0.0.1:{port}/0"


def airflow_env(
    home: Path, metadata_url: str, broker_url: str, api_port: int, connections: dict[str, str]
) -> dict[str, str]:
    """The environment every Airflow process of the deployment shares."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({ADMIN[0]: ADMIN[1]}))
    sql_url = sa.make_url(metadata_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "BATCH_MONITOR_WORKFLOWS_DIR": str(WORKFLOWS_DIR),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_url,
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sql_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # only the runs the test triggers: no cron runs at the wall clock's time
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **connections,
        }
    )
    return env


@dataclass
class CeleryDeployment:
    """The running deployment: its REST API, its metadata database and its processes."""

    home: Path
    env: dict[str, str]
    metadata_url: str
    api_port: int
    services: list[Service] = field(default_factory=list)
    _token: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def logs(self) -> str:
        return "\n".join(s.log_tail() for s in self.services)

    def migrate(self) -> subprocess.Popen[bytes]:
        """``airflow db migrate`` started in the background (see :meth:`wait_migrated`)."""
        log = (self.home / "migrate.log").open("wb")
        process = subprocess.Popen(
            [AIRFLOW, "db", "migrate"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.services.append(Service("migrate", process, self.home / "migrate.log"))
        return process

    def wait_migrated(self, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
        if process.wait(timeout=timeout) != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{self.logs()}")

    def start(self, workers: list[str]) -> None:
        """api-server, scheduler, dag-processor and one Celery worker per name."""
        api = [AIRFLOW, "api-server", "--port", str(self.api_port), "--host", "127.0.0.1", "--workers", "1"]
        self.services.append(start_service("api-server", api, self.env, self.home))
        self.services.append(start_service("scheduler", [AIRFLOW, "scheduler"], self.env, self.home))
        self.services.append(start_service("dag-processor", [AIRFLOW, "dag-processor"], self.env, self.home))
        for name in workers:
            env = {
                **self.env,
                WORKER_NAME_VAR: name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.scaleout.worker_name.hostname",
            }
            argv = [AIRFLOW, "celery", "worker", "--concurrency", "1", "--celery-hostname", f"{name}@%h"]
            argv += ["--skip-serve-logs", "--without-mingle", "--without-gossip"]
            self.services.append(start_service(name, argv, env, self.home))

    def stop(self) -> None:
        """Every process: all asked to stop at once, then each waited for (killed if it lingers)."""
        for service in reversed(self.services):
            service.terminate()
        for service in reversed(self.services):
            service.stop()

    def _check_alive(self) -> None:
        for service in self.services:
            if service.name != "migrate" and service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{self.logs()}")

    def _wait(self, what: str, ready: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                result = ready()
            except httpx.TransportError:
                result = None
            if result:
                return result
            time.sleep(0.5)
        raise TimeoutError(f"{what} not within {timeout:.0f} s:\n{self.logs()}")

    def token(self) -> str:
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return httpx.request(method, f"{self.base_url}/api/v2/{path}", headers=headers, timeout=30, **kwargs)

    def wait_ready(self, dag_ids: list[str], workers: list[str], timeout: float = 240) -> None:
        """Until the API answers, every DAG is parsed and every worker says it is ready."""
        self._wait(
            "the api-server", lambda: httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).is_success, timeout
        )
        for dag_id in dag_ids:
            self._wait(f"DAG {dag_id} parsed", lambda d=dag_id: self.api("GET", f"dags/{d}").is_success, timeout)
        for name in workers:
            log = self.home / f"{name}.log"
            self._wait(
                f"worker {name}", lambda p=log: p.exists() and " ready." in p.read_text(errors="replace"), timeout
            )

    def trigger(self, dag_id: str, as_of: Any) -> str:
        """A DAG run for the tick ``as_of`` (its logical date and data interval end), through the REST API."""
        run_id = f"scaleout__{as_of:%Y-%m-%dT%H:%M}"
        moment = as_of.isoformat()
        body = {
            "dag_run_id": run_id,
            "logical_date": moment,
            "data_interval_start": moment,
            "data_interval_end": moment,
        }
        response = self.api("POST", f"dags/{dag_id}/dagRuns", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"triggering {dag_id} {run_id}: {response.status_code} {response.text}")
        return run_id

    def clear(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a finished DAG run, so that the scheduler runs it again (as an operator would)."""
        body = {"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True}
        response = self.api("POST", f"dags/{dag_id}/clearTaskInstances", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"clearing {dag_id} {run_id}: {response.status_code} {response.text}")

    def wait_runs(self, runs: list[tuple[str, str]], timeout: float = 240) -> dict[tuple[str, str], str]:
        """The final state of each (dag_id, run_id)."""

        def states() -> dict[tuple[str, str], str] | None:
            found = {(d, r): self.api("GET", f"dags/{d}/dagRuns/{r}").json()["state"] for d, r in runs}
            return found if all(state in FINISHED for state in found.values()) else None

        result: dict[tuple[str, str], str] = self._wait(f"DAG runs {runs}", states, timeout)
        return result

    def task_instances(self) -> list[dict[str, Any]]:
        """Every task instance of the metadata database (dag, run, task, state, hostname, try)."""
        engine = sa.create_engine(self.metadata_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT dag_id, run_id, task_id, state, hostname, try_number, queued_dttm, start_date, end_date"
                        " FROM task_instance"
                    )
                ).mappings()
                return [dict(r) for r in rows]
        finally:
            engine.dispose()
