"""The demo: PostgreSQL, a simulated CC&B, a mail sink and Airflow with the plugin, on this machine.

Run through `make demo` (which first creates .venv and installs the pins). Everything it makes
lives in .demo/ (delete it to start over). Ctrl-C stops every process it started.

Environment:
  BATCH_MONITOR_DB_URL          PostgreSQL server to use (else an embedded one from `pgserver`)
  BATCH_MONITOR_DEMO_SCENARIO   today's scenario for dpdc_ami (default: failure)
  BATCH_MONITOR_DEMO_PORT       Airflow's port (default: 8080)
  BATCH_MONITOR_DEMO_HISTORY    days of history to play before today (default: 7)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pendulum
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))


from batch_monitor import business_day as bd  # noqa: E402
from batch_monitor import pipeline, simulator  # noqa: E402
from batch_monitor.config import WorkflowConfig, load_workflows  # noqa: E402
from batch_monitor.paths import scenarios_dir, workflows_dir  # noqa: E402

DEMO = ROOT / ".demo"
PY = sys.executable
SMTP_PORT = 8025
HISTORY_SCENARIOS = ["normal", "late_start", "normal", "long_running", "normal", "deadline", "failure"]
USERS = {"admin": "admin", "operator": "op", "viewer": "viewer"}  # user → SimpleAuthManager role


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def start_postgres() -> sa.URL:
    """The store's database URL: on BATCH_MONITOR_DB_URL's server, else on an embedded server."""
    given = os.environ.get("BATCH_MONITOR_DB_URL")
    if given:
        admin = sa.make_url(given).set(drivername="postgresql+psycopg2")
    else:
        import pgserver

        server = pgserver.get_server(DEMO / "pgdata", cleanup_mode=None)  # keeps running between demos
        admin = sa.make_url(server.get_uri()).set(drivername="postgresql+psycopg2")
        log(f"embedded PostgreSQL in {DEMO / 'pgdata'}")
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = 'batch_monitor_demo'")).first()
        if not exists:
            conn.execute(sa.text("CREATE DATABASE batch_monitor_demo"))
    engine.dispose()
    return admin.set(database="batch_monitor_demo")


def airflow_conn(url: sa.URL) -> str:
    """An Airflow connection (JSON) for a PostgreSQL URL, socket directories included."""
    host = url.host or str(url.query.get("host", "")) or "127.0.0.1"
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": host,
            "port": url.port or 5432,
            "login": url.username or "postgres",
            "password": url.password or "",
            "schema": url.database,
        }
    )


def spawn(args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    out = (DEMO / "logs" / log_name).open("ab")
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def play_history(
    source: sa.Engine, store: sa.Engine, workflows: list[WorkflowConfig], today: dt.date, days: int
) -> None:
    """Fill the store with past days (hourly ticks) and today so far (15-minute ticks)."""
    from batch_monitor.notify.channels import SmtpChannel

    channel = SmtpChannel()
    now = pendulum.now("UTC")
    dpdc = next(w for w in workflows if w.workflow_id == "dpdc_ami")
    scenario_today = os.environ.get("BATCH_MONITOR_DEMO_SCENARIO", "failure")
    plan = [(today - dt.timedelta(days=n), HISTORY_SCENARIOS[n % len(HISTORY_SCENARIOS)]) for n in range(days, 0, -1)]
    plan.append((today, scenario_today))
    for workflow in workflows:
        pipeline.prepare_store(store, workflow, now)
    for date, name in plan:
        scenario = simulator.load_scenario(scenarios_dir() / f"{name}.yaml")
        start, end = bd.window(date, dpdc.timezone, dpdc.business_day_start)
        step = dt.timedelta(minutes=15 if date == today else 60)
        moment, ticks = start, 0
        while moment <= min(end, now):
            simulator.play(source, scenario, dpdc, date, moment)
            pipeline.run_tick(source, store, dpdc, moment, channel=channel)
            moment, ticks = moment + step, ticks + 1
        log(f"played {dpdc.workflow_id} {date} '{name}' ({ticks} ticks)")


def wait_for_airflow(port: int, timeout: float = 240) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as reply:
                if reply.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(2)
    return False


def main() -> int:
    for folder in ("logs", "mail", "airflow"):
        (DEMO / folder).mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("BATCH_MONITOR_DEMO_PORT", "8080"))
    history_days = int(os.environ.get("BATCH_MONITOR_DEMO_HISTORY", "7"))
    store_url = start_postgres()
    ccb = DEMO / "ccb.sqlite"
    source = sa.create_engine(f"sqlite:///{ccb}")
    simulator.create_schema(source)
    workflows = load_workflows(workflows_dir()).workflows

    passwords = DEMO / "airflow" / "passwords.json"
    passwords.write_text(json.dumps({user: user for user in USERS}))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "plugins"),
        "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone runs `airflow …`
        "AIRFLOW_HOME": str(DEMO / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW_CONN_CCB_ORACLE": json.dumps({"conn_type": "sqlite", "host": str(ccb)}),
        "AIRFLOW_CONN_BATCH_MONITOR_DB": airflow_conn(store_url),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": SMTP_PORT,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "batch-monitor@localhost"},
            }
        ),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")})
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        log("stopping…")
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children.append(
        spawn([PY, "scripts/mail_sink.py", "--port", str(SMTP_PORT), "--dir", str(DEMO / "mail")], env, "mail_sink.log")
    )
    time.sleep(1)

    dpdc = next(w for w in workflows if w.workflow_id == "dpdc_ami")
    today = bd.business_date(pendulum.now("UTC"), dpdc.timezone, dpdc.business_day_start)
    store = sa.create_engine(store_url)
    log("playing history into the store (a minute or so)…")
    play_history(source, store, workflows, today, history_days)
    store.dispose()

    scenario_today = os.environ.get("BATCH_MONITOR_DEMO_SCENARIO", "failure")
    for workflow, scenario in ((dpdc, scenario_today), (None, "us_east_normal")):
        wf_file = workflows_dir() / f"{(workflow.workflow_id if workflow else 'us_east_settlement')}.yaml"
        children.append(
            spawn(
                [
                    PY,
                    "-m",
                    "batch_monitor.simulator",
                    "--db",
                    f"sqlite:///{ccb}",
                    "--scenario",
                    scenario,
                    "--workflow",
                    str(wf_file),
                    "--follow",
                    "60",
                ],
                env,
                f"simulator_{scenario}.log",
            )
        )
    log(f"starting Airflow standalone on port {port} (about 30 s)…")
    children.append(spawn([str(Path(PY).parent / "airflow"), "standalone"], env, "airflow.log"))
    if not wait_for_airflow(port):
        log(f"Airflow did not answer; see {DEMO / 'logs' / 'airflow.log'}")
        stop()
    print(
        f"""
  Batch Monitor demo is up.

  Airflow UI   http://localhost:{port}   → Browse → Batch Monitor
  Logins       admin / admin   operator / operator   viewer / viewer
  Mails        {DEMO / "mail"}/*.eml   (SMTP sink on 127.0.0.1:{SMTP_PORT})
  Store        {store_url.render_as_string(hide_password=True)}
  CC&B         {ccb} (scenario '{scenario_today}' for today, replayed every minute)
  Logs         {DEMO / "logs"}

  The DAGs batch_monitor_dpdc_ami and batch_monitor_us_east_settlement run every 15 minutes.
  Ctrl-C stops everything.
""",
        flush=True,
    )
    while True:
        for child in children:
            if child.poll() is not None:
                log(f"a process exited ({child.args}); see {DEMO / 'logs'}")
                stop()
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main())
