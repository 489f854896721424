"""Read one business day of a workflow from CC&B's OUAF batch tables, as of one moment.

The SQL lives in include/sql (plain SQL with bind parameters, portable across Oracle,
PostgreSQL and SQLite); this module binds it, decodes the rows and folds thread executions
into threads. CC&B stores naive wall-clock times of its server: they are bound and read in
the workflow's ``source_timezone`` and handed on in UTC.

As-of semantics: the tables may hold more than existed at ``as_of`` (re-judging an earlier
moment). A run, thread execution or message that started after ``as_of`` is treated as not
existing; one that ended after ``as_of`` is still running. Counts cannot be rewound: a run
read at an earlier moment shows the records its executions hold now.

Bad rows never stop a read: each is kept, skipped or completed from the best other evidence (a
run's threads for its missing start, end or unknown status) and described in
``Observations.anomalies``. Given the moment of the read, a CC&B clock that is ahead or behind is
detected, noted, and taken off every time read (see :func:`_detect_skew`). Takes a SQLAlchemy connection; no Airflow.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import RunStatus
from batch_monitor.exceptions import BatchMonitorError, SourceUnavailableError, WorkflowConfigError
from batch_monitor.models import Observations, RunObservation, ThreadObservation
from batch_monitor.text import cut, format_duration

RUNS_SQL = "batch_runs.sql"
THREADS_SQL = "batch_threads.sql"
INSTANCES_SQL = "batch_instances.sql"
THREADS_TRIMMED_SQL = "batch_threads_trimmed.sql"
INSTANCES_TRIMMED_SQL = "batch_instances_trimmed.sql"
PING_SQL = "ping.sql"
FINGERPRINT_SQL = "batch_fingerprint.sql"

LOOKBACK = dt.timedelta(days=1)  # the fingerprint watches a day before the window too (yesterday's chain may run on)
# covers clock changes between a bound and a row's wall-clock time, and a CC&B clock behind by up to as
# much (see _detect_skew): a run that started earlier is never one of the day's, so it is not read
BOUND_MARGIN = dt.timedelta(hours=3)
CHUNK_SIZE = 1000  # batch codes per query: the most Oracle takes in one IN list (ORA-01795)
MAX_ERROR_TEXT = 2000
MAX_ANOMALIES = 500
MAX_BATCH_NBR = 2**63 - 1  # what the store's BIGINT holds (OUAF's BATCH_NBR is NUMBER(10))
MAX_RERUN_NBR = 2**31 - 1
MAX_COUNT = 10**12  # more records than any thread processes: a corrupt value (and it would overflow the store)

_LIST_PARAMS = {"batch_codes", "error_codes"}
_TIME_PARAMS = {"window_start", "window_end", "day_start", "day_end", "as_of"}
_DATE_PARAMS = {"business_date"}
_FINISHED = (RunStatus.COMPLETE, RunStatus.ERROR)

_HOUR_END = dt.timedelta(minutes=59, seconds=59)
SKEW_STEP_SMALL = dt.timedelta(minutes=5)
SKEW_STEP_LARGE = dt.timedelta(minutes=30)

RunKey = tuple[str, int, int]
Where = str | Callable[[], str]


@dataclass(frozen=True)
class _Sql:
    path: Path
    statement: sa.TextClause
    params: frozenset[str]


def _prepare(path: Path, text: str) -> _Sql:
    clause = sa.text(text)
    names = frozenset(clause.compile().params)
    unknown = names - _LIST_PARAMS - _TIME_PARAMS - _DATE_PARAMS
    if unknown:
        known = ", ".join(sorted(_LIST_PARAMS | _TIME_PARAMS | _DATE_PARAMS))
        raise BatchMonitorError(f"{path}: unknown bind parameter(s) {sorted(unknown)}; the reader binds {known}")
    binds: list[sa.BindParameter[Any]] = []
    for name in names:
        if name in _LIST_PARAMS:
            binds.append(sa.bindparam(name, expanding=True))
        elif name in _TIME_PARAMS:
            binds.append(sa.bindparam(name, type_=sa.DateTime()))
        else:
            binds.append(sa.bindparam(name, type_=sa.Date()))  # type: ignore[arg-type]
    return _Sql(path, clause.bindparams(*binds), names)


def _chunked(items: list[str], size: int = CHUNK_SIZE) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _execute(conn: sa.Connection, sql: _Sql, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one statement (chunking the batch code list); rows as dicts with lower-case keys."""
    bound = {k: v for k, v in params.items() if k in sql.params}
    chunks = list(_chunked(bound["batch_codes"])) if "batch_codes" in bound else [[]]
    rows: list[dict[str, Any]] = []
    for chunk in chunks:
        if "batch_codes" in bound:
            bound["batch_codes"] = chunk
        try:
            result = conn.execute(sql.statement, bound)
            keys = [k.lower() for k in result.keys()]  # noqa: SIM118 (a Result, not a dict)
            rows.extend([dict(zip(keys, row)) for row in result.fetchall()])  # noqa: B905 (a row has every key)
        except sa.exc.DBAPIError as exc:
            detail = str(exc.orig or exc).strip()
            first = detail.splitlines()[0] if detail else type(exc).__name__
            raise SourceUnavailableError(f"CC&B query {sql.path.name} failed: {first}") from exc
    return rows


def bind_parameters(workflow: WorkflowConfig, business_date: dt.date, as_of: dt.datetime) -> dict[str, Any]:
    """The values the SQL files may bind, for a workflow's business day as of a moment.

    Bounds are the CC&B server's wall-clock times. ``window_start``/``window_end`` are widened by
    ``BOUND_MARGIN`` (before the window; after it or after ``as_of``): the reader places each run
    exactly by its UTC start, after taking off a CC&B clock skew, which it finds only within that
    margin. A wider lookback read the day before's runs on every tick only to drop them.
    ``day_start``/``day_end`` are the business day's exact window
    (``day_start <= t < day_end``): a completion check (``repeat.until_sql``) uses them to count
    only its own day's work, so re-judging yesterday the next morning does not see today's.
    """
    window_start, window_end = bd.window(business_date, workflow.timezone, workflow.business_day_start)
    tz = workflow.source_timezone
    return {
        "batch_codes": sorted({s.batch_code for s in workflow.enabled_steps}),
        "window_start": bd.to_naive_local(window_start, tz) - BOUND_MARGIN,
        "window_end": bd.to_naive_local(min(window_end, bd.to_utc(as_of)), tz) + BOUND_MARGIN,
        "day_start": bd.to_naive_local(window_start, tz),
        "day_end": bd.to_naive_local(window_end, tz),
        "business_date": business_date,
        "as_of": bd.to_naive_local(as_of, tz),
        "error_codes": sorted(c for c, m in workflow.status_map.items() if m == RunStatus.ERROR.value),
    }


def status_codes(workflow: WorkflowConfig) -> dict[RunStatus, str]:
    """The code that stands for each status: the first one the workflow's status_map gives it."""
    codes: dict[RunStatus, str] = {}
    for code, meaning in workflow.status_map.items():
        codes.setdefault(RunStatus(meaning), code)
    return codes


def ping(conn: sa.Connection, sql_dir: Path) -> None:
    """Run ping.sql: returns when the OUAF tables answer, raises SourceUnavailableError if not."""
    SourceReader(sql_dir).query(conn, PING_SQL, {})


@dataclass(frozen=True)
class Fingerprint:
    """What the fast path compares between polls: per RUN_STATUS, how many runs and their latest
    start and end (CC&B's wall-clock times, as text), for one business day's window."""

    business_date: dt.date
    statuses: tuple[tuple[str, int, str, str], ...]

    def as_payload(self) -> dict[str, Any]:
        """The fingerprint as JSON-able values (an asset event's extra)."""
        return {
            "business_date": self.business_date.isoformat(),
            "runs_by_status": {status: count for status, count, _, _ in self.statuses},
            "latest_start": max((start for _, _, start, _ in self.statuses), default=""),
            "latest_end": max((end for _, _, _, end in self.statuses), default=""),
        }


def fingerprint_window(
    business_date: dt.date, timezone: str, day_start: dt.time, source_timezone: str
) -> tuple[dt.datetime, dt.datetime]:
    """The fingerprint's START_DTTM bounds in the CC&B server's clock: from a day before the business
    day (yesterday's chain may still be running) to a margin after its end. Fixed for the day."""
    start, end = bd.window(business_date, timezone, day_start)
    return bd.to_naive_local(start - LOOKBACK, source_timezone), bd.to_naive_local(end, source_timezone) + BOUND_MARGIN


def _limit_statement_time(conn: sa.Connection, seconds: float) -> None:
    """Have the database itself cancel a statement of this transaction that runs longer than ``seconds``.

    PostgreSQL: ``statement_timeout`` for the transaction only; Oracle: python-oracledb's
    ``call_timeout`` on the connection (reset by :func:`read_fingerprint`). SQLite (a local file) has none.
    """
    millis = max(int(seconds * 1000), 1)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(millis)})
    elif conn.dialect.name == "oracle":
        conn.connection.driver_connection.call_timeout = millis  # type: ignore[union-attr]


def read_fingerprint(
    conn: sa.Connection,
    reader: SourceReader,
    batch_codes: list[str],
    window: tuple[dt.date, dt.datetime, dt.datetime],
    *,
    timeout: float,
) -> Fingerprint:
    """Run batch_fingerprint.sql (through ``reader``) for ``batch_codes`` in ``window`` (business date,
    START_DTTM bounds from :func:`fingerprint_window`), each statement bounded to ``timeout`` seconds
    by the database.

    Raises SourceUnavailableError when CC&B does not answer or the statement is cancelled.
    """
    business_date, window_start, window_end = window
    params = {"batch_codes": sorted(set(batch_codes)), "window_start": window_start, "window_end": window_end}
    with conn.begin():
        try:
            _limit_statement_time(conn, timeout)
            rows = reader.query(conn, FINGERPRINT_SQL, params)
        finally:
            if conn.dialect.name == "oracle":
                conn.connection.driver_connection.call_timeout = 0  # type: ignore[union-attr]
    statuses: dict[str, list[Any]] = {}
    for row in rows:  # several chunks of codes (over CHUNK_SIZE) give one row per status and chunk
        status = code_text(row["run_status"])
        count, start, end = int(row["run_count"] or 0), _stamp(row["latest_start"]), _stamp(row["latest_end"])
        seen = statuses.setdefault(status, [0, "", ""])
        seen[0], seen[1], seen[2] = seen[0] + count, max(seen[1], start), max(seen[2], end)
    ordered = tuple((status, int(v[0]), str(v[1]), str(v[2])) for status, v in sorted(statuses.items()))
    return Fingerprint(business_date, ordered)


def code_text(value: Any) -> str:
    """A status or batch code as text (a NUMBER column's 20 or 20.0 reads '20'; CHAR padding dropped)."""
    if type(value) is str:  # the usual case, first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        number = Decimal(value)
        if number.is_finite() and number == number.to_integral_value():
            return str(int(number))
    return str(value).strip()


def _stamp(value: Any) -> str:
    """A CC&B timestamp as sortable text ('' for none): the fingerprint compares, never computes, times."""
    if value is None:
        return ""
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)


class _Decoder:
    """Turns raw column values into numbers, UTC moments and statuses; notes every anomaly.

    ``shared``: a decoder of the same read whose conversions this one reuses (a scratch decoder
    keeps its own anomalies and skew): every row is decoded more than once (clock skew, then runs,
    threads and executions), and a run's key or a wall-clock time is worked out once.
    """

    def __init__(self, workflow: WorkflowConfig, shared: _Decoder | None = None) -> None:
        self.status_map = workflow.status_map
        self.timezone = workflow.source_timezone
        self.anomalies: list[str] = []
        self._shifts: dict[dt.datetime, dt.timedelta | None] = {} if shared is None else shared._shifts
        self._utc: dict[dt.datetime, dt.datetime] = {} if shared is None else shared._utc
        # (BATCH_CD, BATCH_NBR, BATCH_RERUN_NBR) as read → the run's key, for rows that have a usable one
        self.keys: dict[tuple[Any, Any, Any], RunKey] = {} if shared is None else shared.keys
        self.skew = dt.timedelta(0)  # how far the CC&B clock is ahead (negative: behind); taken off every time
        # the code shown for a run or thread whose end lies after as_of (it was running then)
        self.code_of = status_codes(workflow)

    def note(self, message: str) -> None:
        self.anomalies.append(message)

    def flag(self, where: Where, problem: str) -> None:
        """Note ``problem`` about the row ``where`` names (a label, or a function making one)."""
        self.note(f"{where() if callable(where) else where}: {problem}")

    def code(self, value: Any) -> str:
        """A status or batch code as text (a NUMBER column's 20 or 20.0 reads '20')."""
        return code_text(value)

    def number(self, value: Any, where: Where, column: str) -> int | None:
        """An integer from an int, Decimal, float or numeric string; None (noted) otherwise."""
        if value is None:
            return None
        if type(value) is int:
            return value
        if type(value) is Decimal and value.is_finite():  # NUMBER columns (psycopg2, cx_Oracle)
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            number = Decimal("NaN")
        if not number.is_finite():
            self.flag(where, f"{column} {value!r} is not a number")
            return None
        return int(number)

    def count(self, value: Any, where: Where, column: str) -> int:
        """A record count: missing is 0; negative, absurdly large or non-numeric is noted and taken as 0."""
        number = self.number(value, where, column)
        if number is None:
            return 0
        if number < 0:
            self.flag(where, f"{column} is negative ({number}); taken as 0")
            return 0
        if number > MAX_COUNT:
            self.flag(where, f"{column} {number} is not believable (more than {MAX_COUNT:,}); taken as 0")
            return 0
        return number

    def moment(self, value: Any, where: Where, column: str) -> dt.datetime | None:
        """A CC&B wall-clock time (naive, source zone) in UTC; None if missing or unreadable."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                self.flag(where, f"{column} {value!r} is not a timestamp")
                return None
        if not isinstance(value, dt.datetime):
            if isinstance(value, dt.date):
                value = dt.datetime(value.year, value.month, value.day)
            else:
                self.flag(where, f"{column} {value!r} is not a timestamp")
                return None
        if value.tzinfo is not None:
            return bd.to_utc(value) - self.skew
        return self._localize(value) - self.skew

    def _localize(self, naive: dt.datetime) -> dt.datetime:
        """business_day.localize, worked out once per wall-clock hour (it is slow, rows are many),
        and kept per moment (a moment is read more than once).

        Within an hour whose first and last second have the same UTC offset every moment has it;
        an hour in which the offset changes is converted moment by moment.
        """
        utc = self._utc.get(naive)
        if utc is None:
            utc = self._utc[naive] = self._convert(naive)
        return utc

    def _convert(self, naive: dt.datetime) -> dt.datetime:
        """``naive`` (the source zone's wall clock) in UTC."""
        hour = naive.replace(minute=0, second=0, microsecond=0)
        if hour not in self._shifts:
            first, last = self._shift(hour), self._shift(hour + _HOUR_END)
            self._shifts[hour] = first if first == last else None
        shift = self._shifts[hour]
        if shift is None:
            shift = self._shift(naive.replace(microsecond=0))
        return (naive + shift).replace(tzinfo=dt.UTC)

    def _shift(self, naive: dt.datetime) -> dt.timedelta:
        """UTC minus the wall-clock time ``naive``, as business_day.localize reads it."""
        utc = bd.localize(naive, self.timezone)
        return dt.timedelta(seconds=utc.timestamp() - naive.replace(tzinfo=dt.UTC).timestamp())

    def date(self, value: Any, where: Where, column: str) -> dt.date | None:
        if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
            return value
        if isinstance(value, dt.datetime):
            return value.date()
        try:
            return dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            self.flag(where, f"{column} {value!r} is not a date")
            return None

    def status(self, code: str, where: Where, column: str) -> RunStatus:
        meaning = self.status_map.get(code)
        if meaning is None:
            self.flag(where, f"{column} {code!r} is not in the workflow's status_map; status unknown")
            return RunStatus.UNKNOWN
        return RunStatus(meaning)


def _where(key: RunKey, thread: int | None = None) -> str:
    code, nbr, rerun = key
    text = f"{code} run {nbr}" + (f" rerun {rerun}" if rerun else "")
    return f"{text} thread {thread}" if thread is not None else text


@dataclass
class _Execution:
    start: dt.datetime | None
    end: dt.datetime | None
    records: int
    errors: int


@dataclass
class _Thread:
    number: int
    status: RunStatus
    code: str
    executions: list[_Execution] = field(default_factory=list)
    hidden: bool = False  # an execution started or ended after as_of

    def observation(self, decoder: _Decoder) -> ThreadObservation:
        status, code = self.status, self.code
        if self.hidden and status in _FINISHED:
            status = RunStatus.RUNNING if self.executions else RunStatus.PENDING
            code = decoder.code_of.get(status, code)
        starts = [e.start for e in self.executions if e.start is not None]
        ends = [e.end for e in self.executions if e.end is not None]
        finished = status in _FINISHED and self.executions and all(e.end is not None for e in self.executions)
        return ThreadObservation(
            thread_nbr=self.number,
            status=status,
            status_code=code,
            start=min(starts, default=None),
            end=max(ends) if finished and ends else None,
            last_activity=max(starts + ends, default=None),
            records=sum(e.records for e in self.executions),
            errors=sum(e.errors for e in self.executions),
            executions=len(self.executions),
        )


@dataclass
class _Run:
    key: RunKey
    bus_dt: dt.date | None
    status: RunStatus
    code: str
    start: dt.datetime | None
    end: dt.datetime | None
    threads: dict[int, _Thread] = field(default_factory=dict)
    raw_code: Any = None  # BATCH_CD as CI_BATCH_RUN holds it (blank padding and all)
    padding_noted: bool = False


class SourceReader:
    """Reads a workflow's business day from CC&B with the SQL files under ``sql_dir``."""

    def __init__(self, sql_dir: Path) -> None:
        self.sql_dir = Path(sql_dir)
        self._sql: dict[Path, _Sql] = {}

    def _load(self, name: str, workflow: WorkflowConfig | None = None, field_name: str = "") -> _Sql:
        path = Path(name) if Path(name).is_absolute() else self.sql_dir / name
        if path not in self._sql:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                if workflow is not None:
                    raise WorkflowConfigError(
                        workflow.source_file or workflow.workflow_id,
                        [f"{field_name}: SQL file {path} cannot be read ({exc.strerror or exc})"],
                    ) from exc
                raise BatchMonitorError(f"{path}: cannot be read: {exc}") from exc
            self._sql[path] = _prepare(path, text)
        return self._sql[path]

    def query(self, conn: sa.Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one SQL file (relative to ``sql_dir``, or absolute): rows with lower-case keys.

        ``params`` as :func:`bind_parameters` makes them; the file uses those it names.
        """
        return _execute(conn, self._load(name), params)

    def check_files(self, workflow: WorkflowConfig) -> None:
        """Load every SQL file the workflow names, as a read would, and report all the bad ones at once.

        ``error_message_sql`` and each step's ``repeat.until_sql`` must be readable and bind only
        parameters the reader supplies. A read finds out only when it first needs a file (a run in
        error, a repeating step); this finds out before. Raises :class:`WorkflowConfigError`.
        """
        named = [("field 'error_message_sql'", workflow.error_message_sql)]
        named += [
            (f"step {step.id!r} (steps[{index}]), field 'repeat.until_sql'", step.repeat.until_sql)
            for index, step in enumerate(workflow.steps)
            if step.repeat.until_sql
        ]
        problems: list[str] = []
        for field_name, name in named:
            try:
                self._load(name, workflow, field_name)
            except WorkflowConfigError as exc:
                problems.extend(exc.problems)
            except BatchMonitorError as exc:
                problems.append(f"{field_name}: {exc}")
        if problems:
            raise WorkflowConfigError(workflow.source_file or workflow.workflow_id, problems)

    def read(
        self,
        conn: sa.Connection,
        workflow: WorkflowConfig,
        business_date: dt.date,
        as_of: dt.datetime,
        read_at: dt.datetime | None = None,
    ) -> Observations:
        """Runs (with threads and error text) of the workflow's enabled steps in the business day.

        ``read_at``: when the tables are read (the wall clock, at the edge). Given, a row stamped
        after it by more than the workflow's ``clock_skew_tolerance`` shows that the CC&B server's
        clock is ahead: every time read is taken back by the skew, and the skew is noted.
        """
        as_of = bd.to_utc(as_of)
        window_start, window_end = bd.window(business_date, workflow.timezone, workflow.business_day_start)
        params = bind_parameters(workflow, business_date, as_of)
        decoder = _Decoder(workflow)
        run_rows = self.query(conn, RUNS_SQL, params)
        thread_rows = self.query(conn, THREADS_SQL, params) if run_rows else []
        inst_rows = self.query(conn, INSTANCES_SQL, params) if run_rows else []
        # before the clock check: a run without START_DTTM whose code is padded differently in the
        # thread tables is placed by these executions' starts (and shows a CC&B clock behind by them)
        padded_threads, padded_inst = self._padded_rows(conn, workflow, params, decoder, run_rows, thread_rows)
        if read_at is not None:
            reference = max(bd.to_utc(read_at), as_of)
            executions = [*inst_rows, *padded_inst]
            _detect_skew(workflow, decoder, run_rows, executions, reference, (business_date, window_start))
        runs = self._runs(run_rows, decoder, window_start, window_end, as_of)
        if runs:
            self._threads(thread_rows, decoder, runs)
            self._instances(inst_rows, decoder, runs, as_of)
            bare = {key: run for key, run in runs.items() if not run.threads}
            self._threads(padded_threads, decoder, bare)
            self._instances(padded_inst, decoder, bare, as_of)
            for run in runs.values():
                _best_evidence(run, decoder)
        threads = {key: [run.threads[n].observation(decoder) for n in sorted(run.threads)] for key, run in runs.items()}
        in_error = {
            key
            for key, run in runs.items()
            if run.status == RunStatus.ERROR or any(t.status == RunStatus.ERROR for t in threads[key])
        }
        texts = self._errors(conn, params, workflow, decoder, in_error, as_of) if in_error else {}
        observations = [
            RunObservation(
                batch_cd=key[0],
                batch_nbr=key[1],
                rerun_nbr=key[2],
                bus_dt=run.bus_dt,
                status=run.status,
                status_code=run.code,
                start=run.start,
                end=run.end,
                threads=threads[key],
                error_text=texts.get(key),
            )
            for key, run in runs.items()
        ]
        observations.sort(key=lambda r: (r.batch_cd, r.start or as_of, r.batch_nbr, r.rerun_nbr))
        checks = {
            step.id: self._check(conn, workflow, step.id, step.repeat.until_sql, params, decoder)
            for step in workflow.enabled_steps
            if step.repeat.until_sql
        }
        anomalies = decoder.anomalies
        if len(anomalies) > MAX_ANOMALIES:
            anomalies = [*anomalies[:MAX_ANOMALIES], f"... and {len(anomalies) - MAX_ANOMALIES} more"]
        return Observations(
            workflow_id=workflow.workflow_id,
            business_date=business_date,
            as_of=as_of,
            window_start=window_start,
            window_end=window_end,
            runs=observations,
            checks=checks,
            anomalies=anomalies,
        )

    def _runs(
        self,
        rows: list[dict[str, Any]],
        decoder: _Decoder,
        window_start: dt.datetime,
        window_end: dt.datetime,
        as_of: dt.datetime,
    ) -> dict[RunKey, _Run]:
        runs: dict[RunKey, _Run] = {}
        seen: set[RunKey] = set()
        for row in rows:
            key = _run_key(row, decoder)
            if key is None:
                continue
            where = _where(key)
            if key in seen:
                decoder.flag(where, "duplicate CI_BATCH_RUN row ignored")
                continue
            seen.add(key)
            start = decoder.moment(row.get("start_dttm"), where, "START_DTTM")
            if start is not None and not (window_start <= start < window_end and start <= as_of):
                continue  # another business day's run, or one that had not started at as_of
            end = decoder.moment(row.get("end_dttm"), where, "END_DTTM")
            code = decoder.code(row.get("run_status"))
            status = decoder.status(code, where, "RUN_STATUS")
            if start is not None and end is not None and end < start:
                decoder.flag(where, "END_DTTM is before START_DTTM; end taken as the start")
                end = start
            if end is not None and end > as_of:
                end = None  # still running at as_of
                if status in _FINISHED:
                    status, code = RunStatus.RUNNING, decoder.code_of.get(RunStatus.RUNNING, code)
            bus_dt = decoder.date(row.get("batch_bus_dt"), where, "BATCH_BUS_DT")
            runs[key] = _Run(key, bus_dt, status, code, start, end, raw_code=row.get("batch_cd"))
        return runs

    def _padded_rows(
        self,
        conn: sa.Connection,
        workflow: WorkflowConfig,
        params: dict[str, Any],
        decoder: _Decoder,
        run_rows: list[dict[str, Any]],
        thread_rows: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(threads, executions) of the runs that came back without any thread, looked up again with
        codes compared trimmed.

        Where a code is padded differently in CI_BATCH_RUN and the thread tables (VARCHAR2 columns on
        some sites), the key-index queries miss the threads; the trimmed ones find them, at the cost
        of the index, so they run only for such runs.
        """
        scratch = _Decoder(workflow, shared=decoder)
        threaded = {_run_key(row, scratch) for row in thread_rows}
        bare = {key for row in run_rows if (key := _run_key(row, scratch)) is not None and key not in threaded}
        if not bare:
            return [], []
        narrowed = {**params, "batch_codes": sorted({key[0] for key in bare})}

        def of_bare(name: str) -> list[dict[str, Any]]:
            return [row for row in self.query(conn, name, narrowed) if _run_key(row, scratch) in bare]

        return of_bare(THREADS_TRIMMED_SQL), of_bare(INSTANCES_TRIMMED_SQL)

    def _threads(self, rows: list[dict[str, Any]], decoder: _Decoder, runs: dict[RunKey, _Run]) -> None:
        for row in rows:
            key, number = _thread_key(row, runs, decoder)
            if key is None or number is None:
                continue
            run = runs[key]
            where = _where(key, number)
            _check_padding(run, row, decoder, "CI_BATCH_THD")
            if number in run.threads:
                decoder.flag(where, "duplicate CI_BATCH_THD row ignored")
                continue
            code = decoder.code(row.get("thread_status"))
            run.threads[number] = _Thread(number, decoder.status(code, where, "THREAD_STATUS"), code)

    def _instances(
        self, rows: list[dict[str, Any]], decoder: _Decoder, runs: dict[RunKey, _Run], as_of: dt.datetime
    ) -> None:
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            key, number = _thread_key(row, runs, decoder)
            if key is None or number is None:
                continue
            where = partial(_where, key, number)
            identity = (key, number, row.get("scheduler_id"), row.get("start_dttm"))
            if identity in seen:
                decoder.flag(where, "duplicate CI_BATCH_INST row ignored")
                continue
            seen.add(identity)
            run = runs[key]
            _check_padding(run, row, decoder, "CI_BATCH_INST")
            thread = run.threads.get(number)
            if thread is None:
                decoder.flag(where, "thread execution without a CI_BATCH_THD row; thread status unknown")
                thread = run.threads[number] = _Thread(number, RunStatus.UNKNOWN, "")
            start = decoder.moment(row.get("start_dttm"), where, "START_DTTM")
            if start is not None and start > as_of:
                thread.hidden = True  # this execution had not started at as_of
                continue
            end = decoder.moment(row.get("end_dttm"), where, "END_DTTM")
            if start is None:
                decoder.flag(where, "thread execution without START_DTTM")
            elif end is not None and end < start:
                decoder.flag(where, "thread execution END_DTTM is before START_DTTM; end taken as the start")
                end = start
            if end is not None and end > as_of:
                end, thread.hidden = None, True
            thread.executions.append(
                _Execution(
                    start=start,
                    end=end,
                    records=decoder.count(row.get("rec_proc_cnt"), where, "REC_PROC_CNT"),
                    errors=decoder.count(row.get("rec_err_cnt"), where, "REC_ERR_CNT"),
                )
            )

    def _errors(
        self,
        conn: sa.Connection,
        params: dict[str, Any],
        workflow: WorkflowConfig,
        decoder: _Decoder,
        wanted: set[RunKey],
        as_of: dt.datetime,
    ) -> dict[RunKey, str]:
        """Error text of the runs in ``wanted``: their threads' messages, in order, each once."""
        if not params["error_codes"]:
            return {}
        sql = self._load(workflow.error_message_sql, workflow, "field 'error_message_sql'")
        pieces: dict[RunKey, dict[tuple[int, ...], list[tuple[int, str]]]] = {}
        # only the codes of the runs in error: one short IN list, not every code of the workflow in chunks
        narrowed = {**params, "batch_codes": sorted({key[0] for key in wanted})}
        for row in _execute(conn, sql, narrowed):
            key = _run_key(row, decoder)
            if key is None or key not in wanted:
                continue
            created = decoder.moment(row.get("cre_dttm"), _where(key), "CI_MSG_LOG.CRE_DTTM")
            if created is not None and created > as_of:
                continue
            message = tuple(
                decoder.number(row.get(column), _where(key), column.upper()) or 0
                for column in ("batch_thread_nbr", "scheduler_id", "message_seq_nbr")
            )
            parts = pieces.setdefault(key, {}).setdefault(message, [])
            text = str(row.get("message_text") or "").strip()
            if not text and not parts and row.get("message_nbr") is not None:
                text = f"message {decoder.code(row.get('message_cat_nbr'))}-{decoder.code(row.get('message_nbr'))}"
            order = decoder.number(row.get("parm_seq"), _where(key), "PARM_SEQ") or 0
            if text and (order, text) not in parts:
                parts.append((order, text))
        texts: dict[RunKey, str] = {}
        for key, messages in pieces.items():
            lines = [" ".join(text for _, text in sorted(parts)) for _, parts in sorted(messages.items())]
            joined = "; ".join(dict.fromkeys(line for line in lines if line))
            if joined:
                texts[key] = cut(joined, MAX_ERROR_TEXT)  # a longer text says it was cut
        return texts

    def _check(
        self,
        conn: sa.Connection,
        workflow: WorkflowConfig,
        step_id: str,
        name: str,
        params: dict[str, Any],
        decoder: _Decoder,
    ) -> int | None:
        sql = self._load(name, workflow, f"step {step_id!r}, field 'repeat.until_sql'")
        rows = _execute(conn, sql, params)
        value = next(iter(rows[0].values()), None) if rows else None
        number = decoder.number(value, f"{step_id} check {name}", "result")
        if number is None:
            decoder.flag(f"{step_id} check {name}", "returned no number; the step cannot complete until it does")
        return number


def _run_key(row: dict[str, Any], decoder: _Decoder) -> RunKey | None:
    """(BATCH_CD, BATCH_NBR, BATCH_RERUN_NBR) of a row; None (noted) without a usable BATCH_NBR."""
    read = (row.get("batch_cd"), row.get("batch_nbr"), row.get("batch_rerun_nbr"))
    known = decoder.keys.get(read)
    if known is not None:
        return known
    noted = len(decoder.anomalies)
    code = decoder.code(read[0])
    raw = read[1]

    def where() -> str:
        return f"{code} run {raw!r}"

    nbr = decoder.number(raw, where, "BATCH_NBR")
    rerun = decoder.number(read[2], where, "BATCH_RERUN_NBR")
    if nbr is None or not 0 <= nbr <= MAX_BATCH_NBR:
        decoder.flag(where, "row without a usable BATCH_NBR ignored")
        return None
    if rerun is not None and not 0 <= rerun <= MAX_RERUN_NBR:
        decoder.flag(where, f"BATCH_RERUN_NBR {rerun} is out of range; row ignored")
        return None
    key = (code, nbr, rerun or 0)
    if len(decoder.anomalies) == noted:  # a row that had something to note notes it every time
        decoder.keys[read] = key
    return key


def _thread_key(row: dict[str, Any], runs: dict[RunKey, _Run], decoder: _Decoder) -> tuple[RunKey | None, int | None]:
    key = _run_key(row, decoder)
    if key is None or key not in runs:
        return None, None  # a run that is not part of the day (or was skipped, and noted)
    number = decoder.number(row.get("batch_thread_nbr"), _where(key), "BATCH_THREAD_NBR")
    if number is None:
        decoder.flag(_where(key), "a thread row without BATCH_THREAD_NBR ignored")
    return key, number


def _check_padding(run: _Run, row: dict[str, Any], decoder: _Decoder, table: str) -> None:
    """Note (once a run) a BATCH_CD padded differently in CI_BATCH_RUN and a thread table."""
    raw = row.get("batch_cd")
    if run.padding_noted or not isinstance(raw, str) or not isinstance(run.raw_code, str) or raw == run.raw_code:
        return
    run.padding_noted = True
    decoder.flag(
        _where(run.key),
        f"BATCH_CD is {run.raw_code!r} in CI_BATCH_RUN but {raw!r} in {table}; matched without trailing blanks",
    )


def _best_evidence(run: _Run, decoder: _Decoder) -> None:
    """Fill what CI_BATCH_RUN left out from the run's threads, and say so.

    A run without START_DTTM starts when its first thread started (or, without thread times,
    when it ended); a finished run without END_DTTM ends when its last thread ended; a status
    outside the status_map is what its threads agree on (all complete, or all finished with one
    in error, or one still running).
    """
    left_out = run.status == RunStatus.UNKNOWN or run.start is None or (run.end is None and run.status in _FINISHED)
    if not left_out:
        return  # most runs
    where = _where(run.key)
    threads = [t.observation(decoder) for t in run.threads.values()]
    starts = [t.start for t in threads if t.start is not None]
    finished = bool(threads) and all(t.status in _FINISHED and t.end is not None for t in threads)
    if run.status == RunStatus.UNKNOWN and threads:
        agreed = _agreed_status(threads, finished)
        if agreed is not None:
            decoder.flag(where, f"RUN_STATUS {run.code!r} is unknown; taken as {agreed.value}, as its threads report")
            run.status = agreed
    if run.start is None:
        if starts:
            run.start = min(starts)
            decoder.flag(where, "START_DTTM is empty; start taken as its threads' earliest start")
        elif run.end is not None:
            run.start = run.end
            decoder.flag(where, "START_DTTM is empty; start taken as its END_DTTM (no thread times)")
        else:
            decoder.flag(where, "START_DTTM is empty; the run cannot be placed in the day")
    if run.end is None and run.status in _FINISHED:
        ends = [t.end for t in threads if t.end is not None]
        if finished and ends:
            run.end = max(ends)
            decoder.flag(where, f"RUN_STATUS {run.code!r} but END_DTTM is empty; end taken as its last thread's end")
        else:
            decoder.flag(where, f"RUN_STATUS {run.code!r} ({run.status.value}) but END_DTTM is empty")


def _agreed_status(threads: list[ThreadObservation], finished: bool) -> RunStatus | None:
    if any(t.status == RunStatus.RUNNING for t in threads):
        return RunStatus.RUNNING
    if not finished:
        return None
    if any(t.status == RunStatus.ERROR for t in threads):
        return RunStatus.ERROR
    return RunStatus.COMPLETE


def _detect_skew(
    workflow: WorkflowConfig,
    decoder: _Decoder,
    run_rows: list[dict[str, Any]],
    inst_rows: list[dict[str, Any]],
    read_at: dt.datetime,
    day: tuple[dt.date, dt.datetime],
) -> None:
    """Set ``decoder.skew`` (and note it) when the CC&B server's clock is off.

    Ahead: rows stamped after ``read_at`` by more than the tolerance; the latest stamp tells how
    far ahead the clock is at least, rounded up to 5 minutes (up to 30 minutes) or to the half
    hour (a clock set to the wrong zone). Behind: runs whose BATCH_BUS_DT is the business date
    start up to BOUND_MARGIN before the day does. The day's first run starts at the day's start
    or later, so it also bounds a skew ahead (a rounded-up skew never pushes it out of its day).
    """
    scratch = _Decoder(workflow, shared=decoder)
    stamps = [
        moment
        for row in [*run_rows, *inst_rows]
        for column in ("start_dttm", "end_dttm")
        if (moment := scratch.moment(row.get(column), "", column)) is not None
    ]
    business_date, window_start = day
    earliest = window_start - BOUND_MARGIN
    todays = {
        _run_key(row, scratch) for row in run_rows if scratch.date(row.get("batch_bus_dt"), "", "") == business_date
    }
    firsts = [
        start
        for row in [*run_rows, *inst_rows]  # a run's own start, or (without one) its threads'
        if _run_key(row, scratch) in todays
        and (start := scratch.moment(row.get("start_dttm"), "", "")) is not None
        and start >= earliest
    ]
    ahead = _seconds(max(stamps, default=read_at) - read_at)
    at_most = _seconds(min(firsts) - window_start) if firsts else None
    if ahead > workflow.clock_skew_tolerance:
        step = SKEW_STEP_LARGE if ahead > SKEW_STEP_LARGE else SKEW_STEP_SMALL
        skew = step * math.ceil(ahead.total_seconds() / step.total_seconds())
        decoder.skew = min(skew, at_most) if at_most is not None and at_most >= ahead else skew
        local = workflow.source_timezone
        decoder.note(
            f"CC&B clock ahead by about {_span(decoder.skew)} (at least): rows stamped up to "
            f"{bd.to_utc(read_at + ahead).in_timezone(local).format('HH:mm')} when they were read at "
            f"{bd.to_utc(read_at).in_timezone(local).format('HH:mm')} (tolerance "
            f"{_span(workflow.clock_skew_tolerance)}); every CC&B time was taken {_span(decoder.skew)} earlier"
        )
    elif at_most is not None and at_most < dt.timedelta(0):
        decoder.skew = at_most
        decoder.note(
            f"CC&B clock behind by about {_span(-at_most)} (at least): runs of business date {business_date} start "
            f"before the day does; every CC&B time was taken {_span(-at_most)} later"
        )


def _seconds(delta: dt.timedelta) -> dt.timedelta:
    """A plain timedelta (pendulum's differences do not divide or compare with every timedelta)."""
    return dt.timedelta(seconds=delta.total_seconds())


def _span(delta: dt.timedelta) -> str:
    """The duration rounded up to whole minutes: '1h 00m', '15m'."""
    return format_duration(dt.timedelta(minutes=math.ceil(delta.total_seconds() / 60)))
