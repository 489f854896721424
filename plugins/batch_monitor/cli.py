"""The command line for DAG authors and operators: ``python -m batch_monitor COMMAND``.

Run it from the project folder with ``PYTHONPATH=plugins`` (the same in an Airflow deployment).

``validate FILE...``
    Checks workflow files as Airflow's DAG import does, and the SQL files they name. Exit 0 when
    every file is valid, 1 when one is not (its problems on stderr, in the very text of the DAG
    import error: file, step, field), 2 on a usage error (no such file).

``check --workflow ID``
    Reads the workflow's business day from CC&B once and judges it, as the DAG's tick would,
    without storing anything or sending mail; prints the step table and the findings. Exit 0 when
    nothing is CRITICAL, 1 when a CRITICAL finding holds, 2 on a usage or configuration error,
    3 when CC&B cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pendulum
import sqlalchemy as sa

from batch_monitor import business_day as bd
from batch_monitor import settings
from batch_monitor.config import WorkflowConfig, load_workflows, parse_clock, workflow_files
from batch_monitor.constants import Severity
from batch_monitor.evaluate import evaluate
from batch_monitor.exceptions import BatchMonitorError, SourceUnavailableError, WorkflowConfigError
from batch_monitor.models import Evaluation, Finding, Observations, StepState
from batch_monitor.source import SourceReader
from batch_monitor.text import format_duration, mask_credentials

EXIT_OK = 0
EXIT_PROBLEM = 1  # validate: a file is invalid; check: a CRITICAL finding holds
EXIT_USAGE = 2  # bad arguments, unknown workflow, bad configuration
EXIT_SOURCE = 3  # check: CC&B cannot be read

_NO_MEMORY = (
    "no store, so no memory of earlier ticks: STUCK is judged from CC&B's own times alone "
    "(a run past its typical duration with no thread execution started or ended for stuck_after), "
    "not from record counts growing between ticks"
)
NO_MEMORY_NOTE = f"note: {_NO_MEMORY}"
_CLOCK = re.compile(r"^\s*\d{1,2}:\d{2}\s*$")


class UsageError(BatchMonitorError):
    """The command cannot run as asked (bad argument, unknown workflow, missing connection)."""


# ---------------------------------------------------------------------------------------- validate


def _expand(names: Sequence[Path]) -> list[Path]:
    """The files named, with a folder standing for its workflow files; each once, in order."""
    found: list[Path] = []
    for name in names:
        if name.is_dir():
            files = workflow_files(name)
            if not files:
                raise UsageError(f"{name}: no workflow files (*.yaml, *.yml) in this folder")
            found.extend(files)
        elif name.exists():
            found.append(name)
        else:
            raise UsageError(f"{name}: no such file")
    return list(dict.fromkeys(found))


def validate(files: Sequence[Path], sql_dir: Path) -> dict[Path, WorkflowConfig | WorkflowConfigError]:
    """Each file's workflow, or the error Airflow's DAG import would show for it (plus its SQL files').

    A workflow_id used by an earlier file is an error of the later one, as in the DAG import.
    """
    loaded = load_workflows(files)
    reader = SourceReader(sql_dir)
    outcome: dict[Path, WorkflowConfig | WorkflowConfigError] = {error.path: error for error in loaded.errors}
    for workflow in loaded.workflows:
        try:
            reader.check_files(workflow)
        except WorkflowConfigError as exc:
            outcome[Path(workflow.source_file)] = exc
        else:
            outcome[Path(workflow.source_file)] = workflow
    return {path: outcome[path] for path in files}


def _run_validate(args: argparse.Namespace) -> int:
    outcome = validate(_expand(args.files), settings.sql_dir())
    for path, result in outcome.items():
        if isinstance(result, WorkflowConfigError):
            print(result, file=sys.stderr)
        else:
            print(f"ok: {path} ({result.workflow_id}, {len(result.steps)} steps)")
    invalid = any(isinstance(result, WorkflowConfigError) for result in outcome.values())
    return EXIT_PROBLEM if invalid else EXIT_OK


# ------------------------------------------------------------------------------------------- check


def find_workflow(workflow_id: str, directory: Path) -> WorkflowConfig:
    """The workflow with this id among the folder's files; a UsageError naming what is there if none."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such folder (see --workflows-dir)")
    loaded = load_workflows(directory)
    for workflow in loaded.workflows:
        if workflow.workflow_id == workflow_id:
            return workflow
    known = ", ".join(sorted(w.workflow_id for w in loaded.workflows)) or "none"
    lines = [f"no workflow {workflow_id!r} in {directory} (valid workflows: {known})"]
    lines += [str(error) for error in loaded.errors]
    raise UsageError("\n".join(lines))


def parse_as_of(text: str, workflow: WorkflowConfig, date: dt.date | None, now: dt.datetime) -> dt.datetime:
    """'now', an ISO 8601 time (without a zone: the workflow's), or 'HH:MM' in the business day.

    A clock time falls in ``date``'s business day (or now's); before the day start it is the
    next morning, as everywhere in the workflow files.
    """
    tz, day_start = workflow.timezone, workflow.business_day_start
    if text.strip().lower() == "now":
        return bd.to_utc(now)
    try:
        if _CLOCK.match(text):
            clock = parse_clock(text.strip())
            return bd.at_clock(date or bd.business_date(now, tz, day_start), clock, tz, day_start)
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--as-of {text!r}: write 'now', an ISO 8601 time (2026-11-24T15:00, 2026-11-24T09:00Z) or 'HH:MM'"
        ) from None
    return bd.to_utc(moment) if moment.tzinfo else bd.localize(moment, tz)


def _business_date(workflow: WorkflowConfig, date: dt.date | None, as_of: dt.datetime) -> dt.date:
    """``date``, or the business day that contains ``as_of``; a day that starts after ``as_of`` is refused."""
    tz, day_start = workflow.timezone, workflow.business_day_start
    if date is None:
        return bd.business_date(as_of, tz, day_start)
    start, _ = bd.window(date, tz, day_start)
    if as_of < start:
        raise UsageError(
            f"business day {date} starts at {_local(start, workflow, 'YYYY-MM-DD HH:mm zz')}, "
            f"after --as-of {_local(as_of, workflow, 'YYYY-MM-DD HH:mm zz')}: nothing to judge yet"
        )
    return date


def _airflow_engine(conn_id: str) -> sa.Engine:
    """CC&B through the Airflow connection, as the DAG reaches it."""
    try:
        from airflow.sdk.exceptions import AirflowException
    except ImportError:
        raise UsageError(
            "Airflow is not installed here: give --source-url (a SQLAlchemy URL of CC&B), "
            f"or run where Airflow and its connection {conn_id!r} are"
        ) from None
    from batch_monitor import airflow_io

    # read connections from the metadata database too, as `airflow connections get` does
    # (a process that is neither a worker nor a server sees only environment and secrets backends)
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    try:
        return airflow_io.source_engine(conn_id)
    except AirflowException as exc:
        raise UsageError(f"Airflow connection {conn_id!r}: {exc} (or give --source-url)") from None
    except (ValueError, ImportError) as exc:
        raise UsageError(str(exc)) from None


def source_engine(source_url: str | None, conn_id: str) -> sa.Engine:
    """An engine on CC&B: the URL given, else the Airflow connection."""
    if source_url is None:
        return _airflow_engine(conn_id)
    try:
        return sa.create_engine(source_url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise UsageError(f"--source-url: {mask_credentials(str(exc))}") from None


def read_day(
    engine: sa.Engine,
    reader: SourceReader,
    workflow: WorkflowConfig,
    date: dt.date,
    as_of: dt.datetime,
    read_at: dt.datetime | None = None,
) -> Observations:
    """One read of the business day, as the DAG's extract does; SourceUnavailableError if CC&B does not answer.

    ``read_at``: the wall clock of the read (rows stamped later show a CC&B clock that is ahead).
    """
    try:
        with engine.connect() as conn:
            return reader.read(conn, workflow, date, as_of, read_at)
    except sa.exc.DBAPIError as exc:
        from batch_monitor.pipeline import describe_error

        raise SourceUnavailableError(f"CC&B cannot be read: {describe_error(exc)}") from exc
    finally:
        engine.dispose()


def _local(moment: dt.datetime, workflow: WorkflowConfig, pattern: str = "HH:mm") -> str:
    return bd.to_utc(moment).in_timezone(bd.zone(workflow.timezone)).format(pattern)


def _clock(moment: dt.datetime | None, workflow: WorkflowConfig, date: dt.date) -> str:
    """'14:30' in the workflow's zone; '00:40 +1d' on a later calendar day than the business date."""
    if moment is None:
        return "—"
    local = bd.to_naive_local(moment, workflow.timezone)
    later = (local.date() - date).days
    return f"{local:%H:%M}" + (f" +{later}d" if later > 0 else "")


def _runs(state: StepState) -> str:
    text = f"{state.runs_done}/{state.runs_required}"
    return text if state.pending_count is None else f"{text} ({state.pending_count:,} pending)"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _kind(finding: Finding) -> str:
    """The finding's kind, marked '(over)' for a breach already over (it no longer holds)."""
    return f"{finding.kind.value} (over)" if finding.closed else finding.kind.value


def render(evaluation: Evaluation, workflow: WorkflowConfig) -> list[str]:
    """The evaluation as text: a heading, the step table and the findings (CRITICAL first)."""
    date = evaluation.business_date
    lines = [
        f"{workflow.workflow_id} ({workflow.name}), business day {date}, as of "
        f"{_local(evaluation.as_of, workflow, 'YYYY-MM-DD HH:mm zz')} ({workflow.timezone}): "
        f"chain {evaluation.chain_status.value}"
        + ("" if evaluation.run_expected else f" (no run expected: {evaluation.no_run_reason})"),
        NO_MEMORY_NOTE,
        "",
    ]
    rows = [["step", "status", "start", "end", "duration", "records", "runs"]]
    rows += [
        [
            state.step_id,
            state.status.value,
            _clock(state.start, workflow, date),
            _clock(state.end, workflow, date),
            format_duration(state.duration_s),
            f"{state.records:,}",
            _runs(state),
        ]
        for state in evaluation.steps
    ]
    lines += _table(rows)
    findings = sorted(evaluation.findings, key=lambda f: -f.severity.rank)
    counts = {s: sum(1 for f in findings if f.severity == s) for s in (Severity.CRITICAL, Severity.WARNING)}
    lines += ["", f"findings: {counts[Severity.CRITICAL]} CRITICAL, {counts[Severity.WARNING]} WARNING"]
    if findings:
        lines += _table([[f.severity.value, _kind(f), f.step_id, f.title] for f in findings])
    return lines


def _run_check(args: argparse.Namespace) -> int:
    workflow = find_workflow(args.workflow, args.workflows_dir)
    reader = SourceReader(settings.sql_dir())
    reader.check_files(workflow)
    now = pendulum.now(bd.UTC)
    as_of = parse_as_of(args.as_of, workflow, args.date, now)
    date = _business_date(workflow, args.date, as_of)
    observations = read_day(source_engine(args.source_url, args.conn_id), reader, workflow, date, as_of, now)
    evaluation = evaluate(workflow, observations, as_of)
    if args.json:
        print(json.dumps(evaluation.model_dump(mode="json"), indent=2, ensure_ascii=False))
        print(NO_MEMORY_NOTE, file=sys.stderr)
    else:
        print("\n".join(render(evaluation, workflow)))
    critical = any(f.severity == Severity.CRITICAL and not f.closed for f in evaluation.findings)
    return EXIT_PROBLEM if critical else EXIT_OK


# ---------------------------------------------------------------------------------------- the parser

CHECK_EPILOG = f"""\
exit status: 0 nothing CRITICAL, 1 a CRITICAL finding holds (FAILED, STUCK, MISSED_DEADLINE, ...),
2 usage or configuration error, 3 CC&B cannot be read (credentials masked).

Nothing is stored and no mail is sent. Progress: {_NO_MEMORY}.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m batch_monitor",
        description="Batch Monitor for DAG authors and operators: validate workflow files, judge a day once.",
        epilog="Run from the project folder with PYTHONPATH=plugins.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check_files = commands.add_parser(
        "validate",
        help="check workflow files as the DAG import does (and the SQL files they name)",
        description="Check workflow files as Airflow's DAG import does, and the SQL files they name "
        "(repeat.until_sql, error_message_sql: readable, binding only parameters the reader supplies).",
        epilog="exit status: 0 all valid, 1 a file is invalid (its problems on stderr), 2 usage error.",
    )
    check_files.add_argument("files", nargs="+", type=Path, metavar="FILE", help="workflow YAML file, or a folder")
    check_files.set_defaults(run=_run_validate)

    check = commands.add_parser(
        "check",
        help="read CC&B once and judge a workflow's business day (no store, no mail)",
        description="Read a workflow's business day from CC&B once and judge it as the DAG's tick would; "
        "print the step table and the findings.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--workflow", required=True, metavar="ID", help="workflow_id of a file in the workflows folder")
    check.add_argument(
        "--as-of",
        dest="as_of",
        default="now",
        metavar="TIME",
        help="'now' (default), an ISO 8601 time (without a zone: the workflow's local time) or local 'HH:MM' "
        "in the business day",
    )
    check.add_argument(
        "--date", type=_date, metavar="YYYY-MM-DD", help="business date (default: the one containing --as-of)"
    )
    check.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    check.add_argument(
        "--workflows-dir",
        type=Path,
        default=settings.workflows_dir(),
        metavar="DIR",
        help="where the workflow files are (default: %(default)s)",
    )
    source = check.add_mutually_exclusive_group()
    source.add_argument(
        "--source-url", metavar="URL", help="SQLAlchemy URL of CC&B (e.g. the simulator's sqlite:///ccb.db)"
    )
    source.add_argument(
        "--conn-id",
        default=settings.SOURCE_CONN_ID,
        metavar="ID",
        help="Airflow connection to CC&B when no --source-url is given (default: %(default)s)",
    )
    check.set_defaults(run=_run_check)
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except SourceUnavailableError as exc:
        print(f"error: {mask_credentials(str(exc))}", file=sys.stderr)
        return EXIT_SOURCE
    except BatchMonitorError as exc:  # a usage error, or a workflow or SQL file that does not validate
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
