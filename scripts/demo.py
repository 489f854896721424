"""The demo: PostgreSQL, a simulated CC&B, a mail sink and Airflow with the plugin, on this machine.

Run through `make demo` (which first creates .venv and installs the pins). Everything it makes
lives in .demo/; each start begins with an empty store and CC&B (`make demo-clean` removes .demo/
and stops a PostgreSQL a crashed demo left running). Ctrl-C stops every process it started, the
embedded PostgreSQL included.

Whenever it starts, the DPDC workflow's clock is shifted so that today's scenario reaches its
failure (the first run that ends in error) two minutes before the start: the page shows an open
CRITICAL alert at once, and from then on the day goes on in real time. The shifted copies of the
workflow and the scenarios are written to .demo/workflows and .demo/scenarios (same chain, same
durations; every clock time moved by the same minutes, the daily digest's default 23:00 too). The
past days are replayed at the real 15-minute tick cadence (in the background, newest first), so
the late start, the long run and the missed deadline they were built to show appear as the DAG
would have raised them, and each day's digest ([DIGEST]) is mailed. The replay's log goes to
.demo/logs/replay.log; the console gets a short summary.

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
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import pendulum
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))


from batch_monitor import business_day as bd  # noqa: E402
from batch_monitor import pipeline, simulator  # noqa: E402
from batch_monitor.config import WorkflowConfig, load_workflows  # noqa: E402
from batch_monitor.settings import scenarios_dir, workflows_dir  # noqa: E402
from batch_monitor.store.schema import alerts as alerts_table  # noqa: E402
from batch_monitor.text import format_duration  # noqa: E402

DEMO = ROOT / ".demo"
PY = sys.executable
SMTP_PORT = 8025
METRICS_TOKEN = "demo-metrics-token"  # the Airflow Variable batch_monitor_metrics_token of the demo
HISTORY_SCENARIOS = ["normal", "late_start", "normal", "long_running", "normal", "deadline", "failure"]
USERS = {"admin": "admin", "operator": "op", "viewer": "viewer"}  # user → SimpleAuthManager role
SHIFTED = "dpdc_ami"  # the workflow whose clock the demo shifts
FAILURE_LEAD = dt.timedelta(minutes=2)  # today's failure happened this long before the start
TICK = dt.timedelta(minutes=15)  # the DAG's schedule
CLOCK_TEXT = re.compile(r'"(\d{1,2}):(\d{2})"')  # a quoted 'HH:MM' clock time in the YAML files
replay_log = logging.getLogger("demo.replay")


_console: TextIO = sys.stdout  # the terminal, once log_to_file has taken stdout and stderr


def log(message: str) -> None:
    print(f"[demo] {message}", file=_console, flush=True)


def shift_clock_text(text: str, minutes: int) -> str:
    """Every quoted "HH:MM" in a workflow or scenario YAML moved by ``minutes`` (around the clock)."""

    def move(match: re.Match[str]) -> str:
        total = (int(match[1]) * 60 + int(match[2]) + minutes) % (24 * 60)
        return f'"{total // 60:02d}:{total % 60:02d}"'

    return CLOCK_TEXT.sub(move, text)


def clock_shift(scenario_name: str, now: dt.datetime) -> int:
    """Minutes to move the shifted workflow's clock so the scenario's failure is FAILURE_LEAD ago.

    0 for a scenario without a failed run (it plays on the real clock).
    """
    scenario = simulator.load_scenario(scenarios_dir() / f"{scenario_name}.yaml")
    failed = next((r for r in scenario.runs if r.status == "error" and r.end is not None), None)
    if failed is None or failed.end is None:
        return 0
    workflow = next(w for w in load_workflows(workflows_dir()).workflows if w.workflow_id == SHIFTED)
    local = pendulum.instance(now - FAILURE_LEAD).in_timezone(workflow.timezone)
    return (local.hour * 60 + local.minute - (failed.end.hour * 60 + failed.end.minute)) % (24 * 60)


def with_digest_at(text: str) -> str:
    """A workflow YAML with its digest time written out (the default when it gives none), so that
    shifting its clock moves the daily digest with the day."""
    if re.search(r"^digest_at:", text, re.MULTILINE):
        return text
    default = WorkflowConfig.model_fields["digest_at"].default
    return text.rstrip("\n") + f'\ndigest_at: "{default:%H:%M}"  # the default, written out by the demo\n'


def write_shifted_files(minutes: int, into: Path = DEMO) -> tuple[Path, Path]:
    """``into``/workflows and /scenarios: the shipped files, the shifted workflow's clock moved."""
    workflows, scenarios = into / "workflows", into / "scenarios"
    for folder in (workflows, scenarios):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for path in sorted(workflows_dir().glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        shifted = shift_clock_text(with_digest_at(text), minutes)
        (workflows / path.name).write_text(shifted if path.stem == SHIFTED else text)
    for path in sorted(scenarios_dir().glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        shifted = re.search(rf"^workflow:\s*{SHIFTED}\s*$", text, re.MULTILINE) is not None
        (scenarios / path.name).write_text(shift_clock_text(text, minutes) if shifted else text)
    return workflows, scenarios


def start_postgres() -> tuple[sa.URL, Any]:
    """The store's URL (a fresh, empty database) and the embedded server to stop (None if given)."""
    given = os.environ.get("BATCH_MONITOR_DB_URL")
    server = None
    if given:
        admin = sa.make_url(given).set(drivername="postgresql+psycopg2")
    else:
        import pgserver

        server = pgserver.get_server(DEMO / "pgdata", cleanup_mode="stop")  # stopped when the demo stops
        admin = sa.make_url(server.get_uri()).set(drivername="postgresql+psycopg2")
        log(f"embedded PostgreSQL in {DEMO / 'pgdata'}")
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # every demo starts clean: the last one's scenario and clock are gone
        conn.execute(sa.text("DROP DATABASE IF EXISTS batch_monitor_demo WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE batch_monitor_demo"))
    engine.dispose()
    return admin.set(database="batch_monitor_demo"), server


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


def replay_day(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    scenario_file: Path,
    date: dt.date,
    until: dt.datetime,
    stop: threading.Event | None = None,
) -> int:
    """Play one business day into CC&B and run a monitoring tick every 15 minutes, as the DAG
    would, up to ``until`` (plus one tick at ``until`` itself). Returns the ticks run."""
    from batch_monitor.notify.channels import SmtpChannel

    channel = SmtpChannel()
    scenario = simulator.load_scenario(scenario_file)
    start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
    moments: list[dt.datetime] = []
    moment = start
    while moment < end and moment <= until:
        moments.append(moment)
        moment += TICK
    if until < end and (not moments or moments[-1] < until):
        moments.append(until)  # today: one last tick at the start of the demo
    for moment in moments:
        if stop is not None and stop.is_set():
            break
        simulator.play(source, scenario, workflow, date, moment)
        # judged as of the replayed tick, but read now: CC&B already holds later days' rows, which a
        # read "at" the old tick would take for a clock running ahead
        pipeline.run_tick(source, store, workflow, moment, channel=channel, now=dt.datetime.now(dt.UTC))
    replay_log.info("played %s %s '%s' (%d ticks)", workflow.workflow_id, date, scenario.name, len(moments))
    return len(moments)


def alert_summary(store: sa.Engine, dates: list[dt.date]) -> str:
    """'3 raised (1 LATE_START, …), 1 still active' for the given business days."""
    t = alerts_table
    with store.connect() as conn:
        rows = conn.execute(sa.select(t.c.kind, t.c.state).where(t.c.business_date.in_(dates))).all()
    kinds = Counter(r.kind for r in rows)
    active = sum(1 for r in rows if r.state != "resolved")
    listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    return f"{len(rows)} alerts raised ({listed}), {active} still active"


def replay_history(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    scenarios: Path,
    today: dt.date,
    days: int,
    stop: threading.Event,
) -> None:
    """The past days, newest first (yesterday is settled before the DAG's first tick looks at it)."""
    began = time.monotonic()
    plan = [(today - dt.timedelta(days=n), HISTORY_SCENARIOS[n % len(HISTORY_SCENARIOS)]) for n in range(1, days + 1)]
    ticks = 0
    try:
        for date, name in plan:
            _start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
            ticks += replay_day(source, store, workflow, scenarios / f"{name}.yaml", date, end, stop)
            if stop.is_set():
                return
    except Exception:  # the demo goes on without the rest of its history; the log says why
        replay_log.exception("history replay stopped")
        log(f"the history replay stopped with an error; see {DEMO / 'logs' / 'replay.log'}")
        return
    seconds = time.monotonic() - began
    log(
        f"history: {len(plan)} past days replayed at 15-minute ticks ({ticks} ticks, {seconds:.0f} s): "
        f"{alert_summary(store, [d for d, _ in plan])}"
    )


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


def clean() -> int:
    """`make demo-clean`: stop an embedded PostgreSQL a crashed demo left running, remove .demo/."""
    if (DEMO / "pgdata" / "postmaster.pid").exists():
        import pgserver

        pgserver.get_server(DEMO / "pgdata", cleanup_mode="stop").cleanup()
        log("stopped the embedded PostgreSQL")
    shutil.rmtree(DEMO, ignore_errors=True)
    log(f"removed {DEMO}")
    return 0


def fresh_folders() -> None:
    """The last demo's CC&B, mails, logs and shifted files go; Airflow's own home stays."""
    for folder in ("logs", "mail", "workflows", "scenarios"):
        shutil.rmtree(DEMO / folder, ignore_errors=True)
    (DEMO / "ccb.sqlite").unlink(missing_ok=True)
    for folder in ("logs", "mail", "airflow"):
        (DEMO / folder).mkdir(parents=True, exist_ok=True)


def log_to_file() -> Path:
    """Everything this process writes (the replay's and the pipeline's log lines, warnings,
    tracebacks) goes to .demo/logs/replay.log; the terminal keeps only the [demo] lines."""
    global _console
    path = DEMO / "logs" / "replay.log"
    _console = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, sys.stdout.fileno())
    os.dup2(target, sys.stderr.fileno())
    os.close(target)
    logging.getLogger().setLevel(logging.INFO)
    return path


def demo_environment(port: int, store_url: sa.URL, ccb: Path, shifted_workflows: Path) -> dict[str, str]:
    """The environment of Airflow and the simulators: the plugin, the logins, the connections."""
    passwords = DEMO / "airflow" / "passwords.json"
    passwords.write_text(json.dumps({user: user for user in USERS}))
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT / "plugins"),
        "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone runs `airflow …`
        "AIRFLOW_HOME": str(DEMO / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "BATCH_MONITOR_WORKFLOWS_DIR": str(shifted_workflows),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW_CONN_CCB_ORACLE": json.dumps({"conn_type": "sqlite", "host": str(ccb)}),
        "AIRFLOW_CONN_BATCH_MONITOR_DB": airflow_conn(store_url),
        "AIRFLOW_VAR_BATCH_MONITOR_METRICS_TOKEN": METRICS_TOKEN,  # the Prometheus scraper's token
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": SMTP_PORT,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "batch-monitor@localhost"},
            }
        ),
    }


def spawn_simulators(
    env: dict[str, str], ccb: Path, workflows: Path, scenarios: Path, scenario_today: str
) -> list[subprocess.Popen[bytes]]:
    """Today's scenario of the DPDC workflow, replayed into CC&B every minute on the (shifted) clock."""
    command = [PY, "-m", "batch_monitor.simulator", "--db", f"sqlite:///{ccb}"]
    command += ["--scenario", str(scenarios / f"{scenario_today}.yaml")]
    command += ["--workflow", str(workflows / f"{SHIFTED}.yaml")]
    return [spawn([*command, "--follow", "60"], env, f"simulator_{scenario_today}.log")]


def wait_for_group(pgid: int, timeout: float) -> None:
    """Wait until no process of group ``pgid`` is left; SIGKILL what is left after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def stopper(
    children: list[subprocess.Popen[bytes]], stopping: threading.Event, pg_server: Any, threads: list[threading.Thread]
) -> Callable[..., None]:
    """The Ctrl-C handler: every child process, the replay, then the embedded PostgreSQL."""

    def stop(*_: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the clean-up short
        stopping.set()
        log("stopping…")
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
        for child in children:  # what the children started (Airflow's api-server, scheduler, …) ends too
            wait_for_group(child.pid, timeout=30)
        for thread in threads:
            thread.join(timeout=60)  # the history replay ends its tick in progress
        if pg_server is not None:
            pg_server.cleanup()  # the embedded PostgreSQL stops with the demo
            log("embedded PostgreSQL stopped")
        log("stopped")
        os._exit(0)

    return stop


def main() -> int:
    if sys.argv[1:] == ["clean"]:
        return clean()
    fresh_folders()
    replay_file = log_to_file()
    port = int(os.environ.get("BATCH_MONITOR_DEMO_PORT", "8080"))
    history_days = int(os.environ.get("BATCH_MONITOR_DEMO_HISTORY", "7"))
    scenario_today = os.environ.get("BATCH_MONITOR_DEMO_SCENARIO", "failure")
    started = pendulum.now("UTC")
    shift = clock_shift(scenario_today, started)
    shifted_workflows, shifted_scenarios = write_shifted_files(shift)
    os.environ["BATCH_MONITOR_WORKFLOWS_DIR"] = str(shifted_workflows)
    store_url, pg_server = start_postgres()
    ccb = DEMO / "ccb.sqlite"
    source = sa.create_engine(f"sqlite:///{ccb}", connect_args={"timeout": 30})
    simulator.create_schema(source)
    workflows = load_workflows(shifted_workflows).workflows
    env = demo_environment(port, store_url, ccb, shifted_workflows)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")})
    children: list[subprocess.Popen[bytes]] = []
    stopping = threading.Event()
    threads: list[threading.Thread] = []

    stop = stopper(children, stopping, pg_server, threads)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children.append(
        spawn([PY, "scripts/mail_sink.py", "--port", str(SMTP_PORT), "--dir", str(DEMO / "mail")], env, "mail_sink.log")
    )
    time.sleep(1)

    dpdc = next(w for w in workflows if w.workflow_id == SHIFTED)
    today = bd.business_date(started, dpdc.timezone, dpdc.business_day_start)
    store = sa.create_engine(store_url)
    for workflow in workflows:
        pipeline.prepare_store(store, workflow, started)
    local = pendulum.instance(started).in_timezone(dpdc.timezone)
    clock = f"its clock moved by {format_duration(dt.timedelta(minutes=shift))}" if shift else "on the real clock"
    log(f"today {today}: scenario '{scenario_today}' for {SHIFTED}, {clock} (now {local.format('HH:mm')} there)")
    ticks = replay_day(source, store, dpdc, shifted_scenarios / f"{scenario_today}.yaml", today, started)
    log(f"today so far: {ticks} ticks, {alert_summary(store, [today])} (log: {replay_file})")

    history = threading.Thread(
        target=replay_history,
        args=(source, store, dpdc, shifted_scenarios, today, history_days, stopping),
        name="history-replay",
        daemon=True,
    )
    history.start()
    threads.append(history)
    log(f"replaying {history_days} past days in the background (15-minute ticks; log: {replay_file})")

    children += spawn_simulators(env, ccb, shifted_workflows, shifted_scenarios, scenario_today)
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
  Metrics      curl -H 'Authorization: Bearer {METRICS_TOKEN}' http://localhost:{port}/batch-monitor/metrics
  Store        {store_url.render_as_string(hide_password=True)}
  CC&B         {ccb} (scenario '{scenario_today}' for today, replayed every minute)
  Logs         {DEMO / "logs"} (the replay: {replay_file.name})
  Clock        {SHIFTED}: {clock}; shifted files in {shifted_workflows.parent}

  The DAG batch_monitor_{SHIFTED} runs every 15 minutes.
  Ctrl-C stops everything (the embedded PostgreSQL too); `make demo-clean` removes .demo/.
""",
        file=_console,
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
