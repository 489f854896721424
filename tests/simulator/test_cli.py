"""The simulator's command line: play once, replay at wall-clock speed, refuse bad input clearly."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support.ccb import DAY, DPDC, US_EAST, at
from tests.support.workflows import scenario_path, workflow_path

from batch_monitor.settings import PROJECT_ROOT
from batch_monitor.simulator.__main__ import main, parse_as_of
from batch_monitor.simulator.ddl import ci_batch_run

WORKFLOW = str(workflow_path("dpdc_ami"))
ENV = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "plugins")}


def simulator(*args: str) -> list[str]:
    return [sys.executable, "-m", "batch_monitor.simulator", "--workflow", WORKFLOW, *args]


def test_it_plays_a_scenario_once_and_says_what_the_tables_show(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ccb.db'}"
    done = subprocess.run(
        simulator("--db", url, "--scenario", "failure", "--date", "2026-11-24", "--as-of", "15:30"),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "2026-11-24 15:30 +06 dpdc_ami 2026-11-24 'failure': 6 runs (1 running, 1 failed), 0 IMDs pending"
    )
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ci_batch_run)).scalar_one() == 6


def test_it_keeps_replaying_with_the_simulated_clock_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ccb.db'}"
    args = ("--db", url, "--scenario", "failure", "--date", "2026-11-24", "--as-of", "14:00")
    with subprocess.Popen(
        simulator(*args, "--follow", "0.5", "--speed", "3600"), env=ENV, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(3)]
        finally:
            process.terminate()
    clocks = [line.split()[1] if line else "" for line in lines]
    assert clocks[0] == "14:00" and clocks == sorted(clocks) and clocks[-1] > "14:30", lines
    assert "(1 running, 0 failed)" in lines[0] and "1 failed)" in lines[-1], lines  # C1-PPBTR failed at 14:30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "include/scenarios/nope.yaml: invalid scenario"),
        (["--scenario", "failure", "--as-of", "25:99"], "is not a clock time"),
        (
            ["--scenario", str(scenario_path("us_east_normal"))],
            "the scenario is for 'us_east_settlement', not 'dpdc_ami'",
        ),
        (["--scenario", "failure", "--speed", "0"], "--speed and --follow must be greater than 0"),
    ],
    ids=["unknown scenario", "bad time", "other workflow", "bad speed"],
)
def test_it_refuses_bad_input_with_a_clear_message(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--db", f"sqlite:///{tmp_path / 'ccb.db'}", "--workflow", WORKFLOW, "--date", "2026-11-24", *args])
    assert code == 2
    assert message in capsys.readouterr().err


NOW = dt.datetime(2026, 11, 24, 8, 20, tzinfo=dt.UTC)  # 14:20 in Dhaka, 03:20 in New York


@pytest.mark.parametrize(
    ("text", "date", "workflow", "expected"),
    [
        (None, None, DPDC, NOW),
        ("15:30", DAY, DPDC, at("15:30")),
        ("00:40", DAY, DPDC, dt.datetime(2026, 11, 24, 18, 40, tzinfo=dt.UTC)),  # next morning, 00:40 +06
        ("15:30", None, DPDC, at("15:30")),  # the business day of now
        (None, DAY - dt.timedelta(days=1), DPDC, at("14:20", DAY - dt.timedelta(days=1))),  # now's clock that day
        ("2026-11-24T15:30", None, DPDC, at("15:30")),  # naive: the workflow's zone
        ("2026-11-24T15:30+00:00", None, DPDC, dt.datetime(2026, 11, 24, 15, 30, tzinfo=dt.UTC)),
        ("2024-03-10T02:35", None, US_EAST, dt.datetime(2024, 3, 10, 7, 35, tzinfo=dt.UTC)),  # 02:35 does not exist
    ],
)
def test_as_of_reads_clock_times_in_the_business_day_and_iso_times(
    text: str | None, date: dt.date | None, workflow: object, expected: dt.datetime
) -> None:
    assert parse_as_of(text, workflow, date, NOW) == expected  # type: ignore[arg-type]
