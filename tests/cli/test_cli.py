"""The command line (`python -m batch_monitor`), run as a user runs it: exit codes and output.

`validate` against the test workflows in tests/cli/data; `check` against a simulated CC&B in
SQLite playing tests/cli/data/scenarios, through a URL or an Airflow connection.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import runpy
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from batch_monitor import business_day as bd
from batch_monitor import simulator
from batch_monitor.cli import NO_MEMORY_NOTE, render
from batch_monitor.config import load_workflow, parse_workflow
from batch_monitor.evaluate import evaluate
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.models import Observations
from batch_monitor.settings import sql_dir
from batch_monitor.source import SourceReader

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("tests/cli/data")  # relative to ROOT, where the commands run: messages show it as given
WORKFLOWS = DATA / "workflows"
INVALID = DATA / "invalid"
AMI = WORKFLOWS / "cli_ami.yaml"
SETTLEMENT = WORKFLOWS / "cli_settlement.yaml"
MISSPELT = INVALID / "cli_misspelt.yaml"
MISSING_CHECK = INVALID / "cli_missing_check.yaml"

WORKFLOW = load_workflow(ROOT / AMI)
DAY = dt.date(2025, 2, 17)  # this module's business date
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}


def at(clock: str) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    return bd.at_clock(DAY, dt.time(hour, minute), WORKFLOW.timezone, WORKFLOW.business_day_start)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_monitor", *map(str, args)],
        cwd=ROOT,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def check(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli("check", "--workflow", "cli_ami", "--workflows-dir", WORKFLOWS, *args, env=env)


@pytest.fixture
def ccb(tmp_path: Path) -> str:
    """The URL of an empty simulated CC&B in a SQLite file."""
    url = f"sqlite:///{tmp_path / 'ccb.db'}"
    engine = sa.create_engine(url)
    simulator.create_schema(engine)
    engine.dispose()
    return url


def play(url: str, scenario: str, as_of: dt.datetime) -> None:
    day = simulator.load_scenario(ROOT / DATA / "scenarios" / f"{scenario}.yaml")
    engine = sa.create_engine(url)
    try:
        simulator.play(engine, day, WORKFLOW, DAY, as_of)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------- validate


def test_validate_says_ok_for_each_valid_file_and_exits_0() -> None:
    done = cli("validate", AMI, SETTLEMENT)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        f"ok: {AMI} (cli_ami, 4 steps)",
        f"ok: {SETTLEMENT} (cli_settlement, 2 steps)",
    ]


def test_validate_takes_a_folder_for_its_workflow_files() -> None:
    done = cli("validate", WORKFLOWS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"ok: {AMI} (cli_ami, 4 steps)", f"ok: {SETTLEMENT} (cli_settlement, 2 steps)"]


def test_validate_names_the_file_step_and_field_in_the_dag_import_errors_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = cli("validate", MISSPELT)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"{MISSPELT}: invalid workflow file\n"
        "  - step 'C1-PPBTR' (steps[2]), field 'max_duraton': unknown field (check the spelling)\n"
    )
    # the DAG import error Airflow shows for the same folder carries the same text
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("BATCH_MONITOR_WORKFLOWS_DIR", str(INVALID))
    with pytest.raises(WorkflowConfigError) as import_error:
        runpy.run_path(str(ROOT / "dags" / "batch_monitor_config_check.py"))
    assert done.stderr.strip() in str(import_error.value)


def test_validate_checks_several_files_and_exits_1_when_any_is_invalid() -> None:
    done = cli("validate", AMI, MISSPELT, SETTLEMENT)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"ok: {AMI} (cli_ami, 4 steps)", f"ok: {SETTLEMENT} (cli_settlement, 2 steps)"]
    assert done.stderr.splitlines() == [
        f"{MISSPELT}: invalid workflow file",
        "  - step 'C1-PPBTR' (steps[2]), field 'max_duraton': unknown field (check the spelling)",
    ]


def test_validate_refuses_a_completion_check_whose_sql_file_is_missing() -> None:
    done = cli("validate", MISSING_CHECK)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"{MISSING_CHECK}: invalid workflow file",
        f"  - step 'D1-IMD' (steps[1]), field 'repeat.until_sql': SQL file {sql_dir() / 'checks/no_such_check.sql'} "
        "cannot be read (No such file or directory)",
    ]


def test_validate_refuses_sql_files_that_bind_parameters_the_reader_does_not_supply(tmp_path: Path) -> None:
    check_sql = tmp_path / "pending.sql"
    check_sql.write_text("SELECT COUNT(*) FROM D1_INIT_MSRMT_DATA WHERE BUS_DT = :bus_date\n")
    messages_sql = tmp_path / "messages.sql"
    messages_sql.write_text("SELECT * FROM CI_MSG_LOG WHERE BATCH_CD IN :codes\n")
    workflow = tmp_path / "binds.yaml"
    workflow.write_text(
        f"workflow_id: cli_binds\nerror_message_sql: {messages_sql}\n"
        f"steps:\n  - batch_code: D1-IMD\n    repeat: {{until_sql: {check_sql}}}\n"
    )
    done = cli("validate", workflow)
    assert done.returncode == 1
    known = "as_of, batch_codes, business_date, day_end, day_start, error_codes, window_end, window_start"
    assert done.stderr.splitlines() == [
        f"{workflow}: invalid workflow file",
        f"  - field 'error_message_sql': {messages_sql}: unknown bind parameter(s) ['codes']; the reader binds {known}",
        f"  - step 'D1-IMD' (steps[0]), field 'repeat.until_sql': {check_sql}: unknown bind parameter(s) "
        f"['bus_date']; the reader binds {known}",
    ]


def test_validate_refuses_a_workflow_id_an_earlier_file_uses(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    shutil.copy(ROOT / AMI, copy)
    done = cli("validate", AMI, copy)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"ok: {AMI} (cli_ami, 4 steps)"]
    assert done.stderr.splitlines() == [
        f"{copy}: invalid workflow file",
        f"  - field 'workflow_id': 'cli_ami' is already used by {AMI}",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([AMI, WORKFLOWS / "nope.yaml"], f"error: {WORKFLOWS / 'nope.yaml'}: no such file\n"),
        ([DATA / "no-such-folder"], f"error: {DATA / 'no-such-folder'}: no such file\n"),
        ([Path("tests/cli")], "error: tests/cli: no workflow files (*.yaml, *.yml) in this folder\n"),
        ([], "error: the following arguments are required: FILE\n"),
    ],
    ids=["missing file", "missing folder", "folder without workflows", "no file"],
)
def test_validate_exits_2_on_a_usage_error(args: list[Path], message: str) -> None:
    done = cli("validate", *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith(message)


# ------------------------------------------------------------------------------------------- check

FAILED_AT_15 = [
    "cli_ami (CLI test billing), business day 2025-02-17, as of 2025-02-17 15:00 +06 (Asia/Dhaka): chain running",
    NO_MEMORY_NOTE,
    "",
    "step      status    start  end    duration  records  runs",
    "CM-DMRU   complete  05:00  05:48  48m       240,000  1/1",
    "D1-IMD    complete  05:52  08:05  2h 13m    270,000  2/1 (0 pending)",
    "C1-PPBTR  running   12:00  —      3h 00m    200,000  0/1",
    "F1-FLUSH  waiting   —      —      —         0        0/3",
    "",
    "findings: 1 CRITICAL, 0 WARNING",
]


@pytest.mark.parametrize(
    "as_of",
    [["--date", "2025-02-17", "--as-of", "15:00"], ["--as-of", "2025-02-17T15:00"], ["--as-of", "2025-02-17T09:00Z"]],
    ids=["local clock in the business day", "ISO without zone (local)", "ISO in UTC"],
)
def test_check_shows_the_failed_step_and_exits_1(ccb: str, as_of: list[str]) -> None:
    play(ccb, "cli_failure", at("15:00"))
    done = check("--source-url", ccb, *as_of)
    assert (done.returncode, done.stderr) == (1, "")
    lines = done.stdout.splitlines()
    assert lines[:-1] == FAILED_AT_15
    assert lines[-1].split(None, 3) == ["CRITICAL", "FAILED", "C1-PPBTR", lines[-1].split(None, 3)[3]]
    assert lines[-1].endswith("C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout")


def test_check_exits_0_when_the_day_goes_well(ccb: str) -> None:
    play(ccb, "cli_normal", at("16:00"))
    done = check("--source-url", ccb, "--as-of", "2025-02-17T16:00")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0].endswith("as of 2025-02-17 16:00 +06 (Asia/Dhaka): chain complete")
    assert [line.split()[1] for line in lines[4:8]] == ["complete"] * 4
    assert lines[-1] == "findings: 0 CRITICAL, 0 WARNING"


def test_check_shows_a_breach_already_over_and_exits_0_as_nothing_critical_holds(ccb: str) -> None:
    play(ccb, "cli_late", at("07:30"))
    done = check("--source-url", ccb, "--as-of", "2025-02-17T07:30")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[-2] == "findings: 1 CRITICAL, 0 WARNING"
    assert lines[-1].split(None, 3)[:3] == ["CRITICAL", "MISSED_DEADLINE", "(over)"]
    assert lines[-1].endswith("CM-DMRU completed 10m late: at 07:10, against its 07:00 deadline")


def test_check_json_is_the_evaluation_a_tick_would_make(ccb: str) -> None:
    play(ccb, "cli_failure", at("15:00"))
    done = check("--source-url", ccb, "--as-of", "2025-02-17T15:00", "--json")
    assert done.returncode == 1
    assert done.stderr == NO_MEMORY_NOTE + "\n"
    engine = sa.create_engine(ccb)
    with engine.connect() as conn:
        observations = SourceReader(sql_dir()).read(conn, WORKFLOW, DAY, at("15:00"))
    engine.dispose()
    expected = evaluate(WORKFLOW, observations, at("15:00")).model_dump(mode="json")
    assert json.loads(done.stdout) == expected
    assert [(f["kind"], f["step_id"]) for f in expected["findings"]] == [("FAILED", "C1-PPBTR")]


def test_check_reads_ccb_through_the_airflow_connection(ccb: str) -> None:
    play(ccb, "cli_failure", at("15:00"))
    done = check("--as-of", "2025-02-17T15:00", env={**ENV, "AIRFLOW_CONN_CCB_ORACLE": ccb})
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines()[:-1] == FAILED_AT_15


@pytest.mark.e2e
def test_check_finds_a_connection_kept_in_airflows_metadata_database(ccb: str, airflow_db: Path) -> None:
    conn_id = f"cli_ccb_{uuid.uuid4().hex[:8]}"
    added = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "add", conn_id, "--conn-uri", ccb],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    play(ccb, "cli_failure", at("15:00"))
    done = check("--conn-id", conn_id, "--as-of", "2025-02-17T15:00")
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[:-1] == FAILED_AT_15


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_exits_3_when_ccb_refuses_the_connection_and_hides_the_password() -> None:
    url = f"postgresql+psycopg2://cisread:Hunter2-secret@127.0.0.1:{_closed_port()}/ccb"
    done = check("--source-url", url, "--as-of", "2025-02-17T15:00")
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.startswith("error: CC&B cannot be read: OperationalError: connection to server at")
    assert "Connection refused" in done.stderr
    assert "Hunter2-secret" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--workflow", "nope"],
            f"error: no workflow 'nope' in {WORKFLOWS} (valid workflows: cli_ami, cli_settlement)",
        ),
        (["--as-of", "yesterday"], "error: --as-of 'yesterday': write 'now', an ISO 8601 time"),
        (["--date", "2025-02-18", "--as-of", "2025-02-18T04:59"], "error: business day 2025-02-18 starts at"),
        (["--date", "17/02/2025"], "argument --date: '17/02/2025' is not a date; write YYYY-MM-DD"),
        (["--source-url", "nosuchdb://ccb"], "error: --source-url: Can't load plugin: sqlalchemy.dialects:nosuchdb"),
        (
            ["--conn-id", "cli_undefined"],
            "error: Airflow connection 'cli_undefined': The conn_id `cli_undefined` isn't defined "
            "(or give --source-url)",
        ),
        (
            ["--workflows-dir", INVALID, "--workflow", "cli_missing_check"],
            f"error: {MISSING_CHECK}: invalid workflow file\n  - step 'D1-IMD' (steps[1]), field 'repeat.until_sql'",
        ),
    ],
    ids=["unknown workflow", "bad time", "day not begun", "bad date", "bad URL", "no connection", "bad SQL file"],
)
def test_check_exits_2_on_a_usage_or_configuration_error(ccb: str, args: list[str], message: str) -> None:
    base = ["check", "--workflow", "cli_ami", "--workflows-dir", WORKFLOWS]
    if not any(a in args for a in ("--source-url", "--conn-id")):
        base += ["--source-url", ccb]
    done = cli(*base, *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert message in done.stderr


def test_check_help_explains_exit_codes_and_the_missing_progress_memory() -> None:
    done = cli("check", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "exit status: 0 nothing CRITICAL, 1 a CRITICAL finding holds" in text
    assert "3 CC&B cannot be read" in text
    assert "STUCK is judged from CC&B's own times alone" in text


def test_check_says_when_the_calendar_expects_no_run_that_day() -> None:
    path = ROOT / AMI
    weekdays = parse_workflow(path.read_text(encoding="utf-8") + "\ncalendar: {run_days: [mon, tue, wed, thu]}\n", path)
    friday = dt.date(2025, 2, 21)
    start, end = bd.window(friday, weekdays.timezone, weekdays.business_day_start)
    obs = Observations(
        workflow_id=weekdays.workflow_id, business_date=friday, as_of=end, window_start=start, window_end=end
    )
    lines = render(evaluate(weekdays, obs, end), weekdays)
    assert lines[0].endswith("chain pending (no run expected: Friday is not a run day)")
    assert lines[-1] == "findings: 0 CRITICAL, 0 WARNING"
