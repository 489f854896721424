"""Play a scenario into a simulated CC&B database.

    python -m batch_monitor.simulator --db sqlite:///ccb.db --scenario failure \\
        --workflow include/workflows/dpdc_ami.yaml --date 2026-11-24 --as-of 15:00

``--as-of`` is an ISO time (naive = the workflow's zone) or a local clock time 'HH:MM' in the
business day (times before the day start are the next morning); default now (with ``--date``:
now's clock time in that business day). ``--follow N``
keeps replaying every N seconds with the simulated clock moving at ``--speed`` times wall-clock
time (the demo). Run with ``plugins`` on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pendulum
import sqlalchemy as sa

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig, load_workflow, parse_clock
from batch_monitor.exceptions import BatchMonitorError
from batch_monitor.settings import scenarios_dir
from batch_monitor.simulator.ddl import create_schema
from batch_monitor.simulator.player import PlayResult, play
from batch_monitor.simulator.scenario import Scenario, load_scenario


def scenario_path(name_or_path: str) -> Path:
    """A path as given, or the name of a file in include/scenarios ('failure' → failure.yaml)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    return scenarios_dir() / f"{name_or_path}.yaml"


def parse_as_of(text: str | None, workflow: WorkflowConfig, date: dt.date | None, now: dt.datetime) -> dt.datetime:
    """'HH:MM' in the business day, an ISO time (naive = the workflow's zone), or now.

    Without a time but with a date: now's local clock time in that business day.
    """
    tz, day_start = workflow.timezone, workflow.business_day_start
    if text is None and date is None:
        return now
    if text is None or (":" in text and len(text.strip()) <= 5):
        clock = parse_clock(text) if text else pendulum.instance(now).in_timezone(tz).time().replace(microsecond=0)
        return bd.at_clock(date or bd.business_date(now, tz, day_start), clock, tz, day_start)
    moment = dt.datetime.fromisoformat(text)
    return bd.to_utc(moment) if moment.tzinfo else bd.localize(moment, tz)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m batch_monitor.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the simulated CC&B (PostgreSQL or SQLite)")
    parser.add_argument("--scenario", required=True, help="scenario name (include/scenarios/NAME.yaml) or file")
    parser.add_argument("--workflow", required=True, type=Path, help="workflow YAML (include/workflows/...)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="business date YYYY-MM-DD (default: --as-of's)")
    parser.add_argument("--as-of", dest="as_of", help="ISO time or local 'HH:MM' in the business day (default: now)")
    parser.add_argument("--follow", type=float, metavar="SECONDS", help="replay every SECONDS until interrupted")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall-clock second (--follow)")
    return parser


def _report(workflow: WorkflowConfig, scenario: Scenario, date: dt.date, result: PlayResult) -> str:
    local = pendulum.instance(result.as_of).in_timezone(workflow.timezone)
    pending = f", {result.pending_imds} IMDs pending" if result.pending_imds is not None else ""
    return (
        f"{local.format('YYYY-MM-DD HH:mm zz')} {workflow.workflow_id} {date} '{scenario.name}': "
        f"{result.runs} runs ({result.running} running, {result.failed} failed){pending}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.speed <= 0 or (args.follow is not None and args.follow <= 0):
        print("error: --speed and --follow must be greater than 0", file=sys.stderr)
        return 2
    try:
        workflow = load_workflow(args.workflow)
        scenario = load_scenario(scenario_path(args.scenario))
        start = parse_as_of(args.as_of, workflow, args.date, pendulum.now(bd.UTC))
    except (BatchMonitorError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = sa.create_engine(args.db)
    try:
        create_schema(engine)
        began = time.monotonic()
        while True:
            as_of = start + dt.timedelta(seconds=(time.monotonic() - began) * args.speed)
            date = args.date or bd.business_date(as_of, workflow.timezone, workflow.business_day_start)
            result = play(engine, scenario, workflow, date, as_of)
            print(_report(workflow, scenario, date, result), flush=True)
            if args.follow is None:
                return 0
            time.sleep(args.follow)
    except BatchMonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
