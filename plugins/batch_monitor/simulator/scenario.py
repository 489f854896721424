"""Scenarios: what CC&B does in one business day, and what it shows at any moment of it.

A scenario YAML lists the runs of one business day in local clock time (times earlier than the
day start are the next morning). :func:`load_scenario` validates it; :func:`state_at` turns it,
for a workflow and a business date, into the runs, threads and thread executions CC&B would
show as of one moment. Pure: no database (see player.py for the rows).

Run fields: ``batch_code``; ``start`` (a clock time, or ``+5m`` = 5 minutes after the run above
ends); ``end`` (clock) or ``duration``; ``status`` (complete | error); ``records`` (processed by
the end); ``errors``; ``threads``; ``threads_done_by`` (clock by which the threads that neither
fail nor stall finish; default the run's end); ``failed_threads`` and ``error`` (the message
they log) for runs in error; ``rerun: true`` (rerun of the run above it of the same batch code:
same BATCH_NBR, BATCH_RERUN_NBR + 1); ``stalls`` (a thread stops growing ``at`` a clock time
after processing the share ``done`` of its records; an operator ``restart``s it, which is a
second execution that processes the rest by the run's end).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from batch_monitor import business_day as bd
from batch_monitor.config import Clock, Duration, WorkflowConfig, parse_clock, parse_duration
from batch_monitor.constants import FindingKind, RunStatus
from batch_monitor.exceptions import BatchMonitorError

EPOCH = dt.date(2000, 1, 1)
RUNS_PER_CODE = 100  # batch numbers of a business date: (date - EPOCH).days * 100 + 1 .. + 99


class ScenarioError(BatchMonitorError):
    """A scenario file is invalid or does not fit the workflow. Names the file and the field."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.path}: invalid scenario\n{listing}")


def _parse_start(value: Any) -> dt.time | dt.timedelta:
    """'12:00' → a clock time; '+5m' → 5 minutes after the run above ends."""
    if isinstance(value, str) and value.strip().startswith("+"):
        return parse_duration(value.strip()[1:])
    return parse_clock(value)


Start = Annotated[dt.time | dt.timedelta, BeforeValidator(_parse_start)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stall(_Model):
    """A thread that stops making progress (and keeps status 'in progress')."""

    thread: int = Field(ge=1)
    at: Clock
    done: float = Field(default=0.5, ge=0, le=1)
    restart: Clock | None = None


class RunSpec(_Model):
    """One run of a batch code (see the module docstring for the fields)."""

    batch_code: str = Field(min_length=1, max_length=30)
    start: Start
    end: Clock | None = None
    duration: Duration | None = None
    status: Literal["complete", "error"] = "complete"
    records: int = Field(ge=0)
    errors: int = Field(default=0, ge=0)
    threads: int = Field(default=4, ge=1, le=99)
    threads_done_by: Clock | None = None
    failed_threads: list[int] = Field(default_factory=list)
    error: str | None = Field(default=None, min_length=1, max_length=2000)
    rerun: bool = False
    stalls: list[Stall] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RunSpec:
        if (self.end is None) == (self.duration is None):
            raise ValueError("give either 'end' (a clock time) or 'duration', exactly one")
        if self.status == "error" and not self.error:
            raise ValueError("a run in error needs 'error': the message its failed thread logs")
        if self.status == "complete" and (self.error or self.failed_threads):
            raise ValueError("'error' and 'failed_threads' need status: error")
        numbers = list(self.failed_threads) + [s.thread for s in self.stalls]
        for number in numbers:
            if not 1 <= number <= self.threads:
                raise ValueError(f"thread {number} does not exist: the run has {self.threads} thread(s)")
        if len({s.thread for s in self.stalls}) != len(self.stalls):
            raise ValueError("a thread can stall only once")
        for stall in self.stalls:
            if stall.restart is None and self.status != "error":
                raise ValueError(
                    f"thread {stall.thread} stalls and is never restarted, so the run cannot complete: "
                    "give the stall a 'restart' time or the run status: error"
                )
        return self

    @property
    def failing(self) -> set[int]:
        """Threads that end in error: the listed ones, else the stalled ones, else thread 1."""
        if self.status != "error":
            return set()
        if self.failed_threads:
            return set(self.failed_threads)
        unrestarted = {s.thread for s in self.stalls if s.restart is None}
        return unrestarted or {1}


class PendingPoint(_Model):
    """From ``at`` on, ``count`` IMDs are pending (until the next point)."""

    at: Clock
    count: int = Field(ge=0, le=1_000_000)


class ExpectedAlert(_Model):
    kind: FindingKind
    step_id: str


class Scenario(_Model):
    """A business day of CC&B batch runs for one workflow."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,60}$")
    workflow: str
    description: str = ""
    expected_alerts: list[ExpectedAlert] = Field(default_factory=list)
    pending_imds: list[PendingPoint] | None = None
    runs: list[RunSpec] = Field(min_length=1)
    source_file: str = ""

    @model_validator(mode="after")
    def _reruns_follow_a_run(self) -> Scenario:
        seen: set[str] = set()
        for index, run in enumerate(self.runs):
            if run.rerun and run.batch_code not in seen:
                raise ValueError(f"runs[{index}] ({run.batch_code}): a rerun needs an earlier run of the same code")
            if index == 0 and isinstance(run.start, dt.timedelta):
                raise ValueError("runs[0]: the first run needs a clock start, there is no run above it")
            seen.add(run.batch_code)
        kinds = [(a.kind, a.step_id) for a in self.expected_alerts]
        if len(set(kinds)) != len(kinds):
            raise ValueError("expected_alerts lists an alert twice")
        return self

    @property
    def expected(self) -> set[tuple[str, str]]:
        """The expected alerts as (kind, step_id) pairs."""
        return {(a.kind.value, a.step_id) for a in self.expected_alerts}


def _describe(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "runs" and isinstance(parts[1], int):
        runs = raw.get("runs") or []
        index = parts[1]
        label = f"runs[{index}]"
        if index < len(runs) and isinstance(runs[index], dict) and runs[index].get("batch_code"):
            label += f" ({runs[index]['batch_code']})"
        rest = ".".join(str(p) for p in parts[2:])
        return f"{label}, field {rest!r}" if rest else label
    dotted = ".".join(str(p) for p in parts)
    return f"field {dotted!r}" if dotted else ""


def parse_scenario(text: str, path: Path) -> Scenario:
    """Parse and validate one scenario document; ``path`` names it in messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ScenarioError(path, ["the file must be a mapping with 'name', 'workflow' and 'runs'"])
    raw.setdefault("source_file", str(path))
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown field (check the spelling)"
            elif item["type"] == "missing":
                message = "required field is missing"
            where = _describe(tuple(item["loc"]), raw)
            problems.append(f"{where}: {message}" if where else message)
        raise ScenarioError(path, problems) from exc


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(path, [f"cannot be read: {exc}"]) from exc
    return parse_scenario(text, path)


# ---------------------------------------------------------------------------------------------
# The day as planned (UTC moments) and as CC&B shows it at a moment


@dataclass(frozen=True)
class Execution:
    """One execution of a thread (a CI_BATCH_INST row) as of a moment."""

    inst_nbr: int
    start: dt.datetime
    end: dt.datetime | None  # None while it runs
    records: int
    errors: int
    scheduler_id: int


@dataclass(frozen=True)
class ThreadState:
    thread_nbr: int
    status: RunStatus
    executions: tuple[Execution, ...]
    error: str | None  # message logged by the thread's last execution, once it failed


@dataclass(frozen=True)
class RunState:
    batch_cd: str
    batch_nbr: int
    rerun_nbr: int
    start: dt.datetime
    end: dt.datetime | None
    status: RunStatus
    threads: tuple[ThreadState, ...]


@dataclass(frozen=True)
class DayState:
    """What CC&B shows of the scenario's business day as of ``as_of``."""

    business_date: dt.date
    as_of: dt.datetime
    runs: tuple[RunState, ...]
    pending_imds: int | None  # None: the scenario does not simulate pending IMDs


@dataclass(frozen=True)
class _Segment:
    """A planned execution: records grow linearly from start until ``full_at``, then hold."""

    start: dt.datetime
    end: dt.datetime
    full_at: dt.datetime
    records: int
    errors: int

    def at(self, moment: dt.datetime, inst_nbr: int, scheduler_id: int) -> Execution:
        span = (self.full_at - self.start).total_seconds()
        share = 1.0 if span <= 0 else min(max((moment - self.start).total_seconds() / span, 0.0), 1.0)
        return Execution(
            inst_nbr=inst_nbr,
            start=self.start,
            end=self.end if self.end <= moment else None,
            records=int(self.records * share),
            errors=int(self.errors * share),
            scheduler_id=scheduler_id,
        )


@dataclass(frozen=True)
class _PlannedThread:
    number: int
    segments: tuple[_Segment, ...]
    final: RunStatus
    error: str | None


@dataclass(frozen=True)
class _PlannedRun:
    batch_cd: str
    batch_nbr: int
    rerun_nbr: int
    start: dt.datetime
    end: dt.datetime
    final: RunStatus
    threads: tuple[_PlannedThread, ...]


def batch_number_base(business_date: dt.date) -> int:
    """First batch number of a business date; each batch code numbers its runs from here."""
    return (business_date - EPOCH).days * RUNS_PER_CODE


def scheduler_id(batch_cd: str, batch_nbr: int, rerun_nbr: int, thread: int, inst: int) -> int:
    """A deterministic SCHEDULER_ID for one thread execution (56 bits: fits NUMBER(18); unique in practice)."""
    digest = hashlib.sha1(f"{batch_cd}:{batch_nbr}:{rerun_nbr}:{thread}:{inst}".encode()).hexdigest()
    return int(digest[:14], 16)


def _split(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` shares of slightly different size (deterministic)."""
    weights = [1.0 + 0.15 * (((i * 37) % 7) - 3) / 3 for i in range(1, parts + 1)]
    scale = sum(weights)
    shares = [int(total * w / scale) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % parts] += 1
    return shares


class _Planner:
    """Resolves a scenario's clock times for one workflow and business date."""

    def __init__(self, scenario: Scenario, workflow: WorkflowConfig, business_date: dt.date) -> None:
        self.scenario = scenario
        self.workflow = workflow
        self.date = business_date
        self.path = scenario.source_file or scenario.name
        self.problems: list[str] = []

    def clock(self, value: dt.time) -> dt.datetime:
        moment = bd.at_clock(self.date, value, self.workflow.timezone, self.workflow.business_day_start)
        return dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)  # plain datetime: fast arithmetic

    def plan(self) -> list[_PlannedRun]:
        if self.scenario.workflow != self.workflow.workflow_id:
            raise ScenarioError(
                self.path,
                [
                    f"field 'workflow': the scenario is for {self.scenario.workflow!r}, "
                    f"not {self.workflow.workflow_id!r}"
                ],
            )
        codes = {s.batch_code for s in self.workflow.steps}
        base = batch_number_base(self.date)
        planned: list[_PlannedRun] = []
        last_of: dict[str, _PlannedRun] = {}
        counts: dict[str, int] = {}
        for index, spec in enumerate(self.scenario.runs):
            where = f"runs[{index}] ({spec.batch_code})"
            if spec.batch_code not in codes:
                self.problems.append(f"{where}, field 'batch_code': not a batch code of {self.workflow.workflow_id}")
                continue
            if isinstance(spec.start, dt.time):
                start = self.clock(spec.start)
            elif planned:
                start = planned[-1].end + spec.start
            else:
                continue  # the run above it was invalid; already reported
            end = self.clock(spec.end) if spec.end is not None else start + (spec.duration or dt.timedelta(0))
            if end <= start:
                self.problems.append(f"{where}, field 'end': the run ends before it starts")
                continue
            if spec.rerun:
                previous = last_of.get(spec.batch_code)
                if previous is None:
                    continue  # the run it reruns was invalid; already reported
                if start < previous.end:
                    self.problems.append(f"{where}, field 'start': a rerun starts after the run it reruns ends")
                nbr, rerun = previous.batch_nbr, previous.rerun_nbr + 1
            else:
                counts[spec.batch_code] = counts.get(spec.batch_code, 0) + 1
                if counts[spec.batch_code] >= RUNS_PER_CODE:
                    self.problems.append(f"{where}: at most {RUNS_PER_CODE - 1} runs of one batch code a day")
                nbr, rerun = base + counts[spec.batch_code], 0
            run = _PlannedRun(
                batch_cd=spec.batch_code,
                batch_nbr=nbr,
                rerun_nbr=rerun,
                start=start,
                end=end,
                final=RunStatus.ERROR if spec.status == "error" else RunStatus.COMPLETE,
                threads=self._threads(spec, where, start, end),
            )
            planned.append(run)
            last_of[spec.batch_code] = run
        self._check_pending()
        if self.problems:
            raise ScenarioError(self.path, self.problems)
        return planned

    def _threads(self, spec: RunSpec, where: str, start: dt.datetime, end: dt.datetime) -> tuple[_PlannedThread, ...]:
        done_by = self.clock(spec.threads_done_by) if spec.threads_done_by else end
        if not start < done_by <= end:
            self.problems.append(f"{where}, field 'threads_done_by': must fall after the start, by the end")
            done_by = end
        stalls = {s.thread: s for s in spec.stalls}
        failing = spec.failing
        records = _split(spec.records, spec.threads)
        errors = _split(spec.errors, spec.threads)
        threads = []
        for number in range(1, spec.threads + 1):
            final = RunStatus.ERROR if number in failing else RunStatus.COMPLETE
            share, errs = records[number - 1], errors[number - 1]
            if number in stalls:
                segments = self._stalled(stalls[number], where, start, end, share, errs)
            else:
                # threads finish one after another over the last tenth of the work; failed ones at the end
                finish = end if number in failing else start + (done_by - start) * (0.9 + 0.1 * number / spec.threads)
                segments = (_Segment(start, finish, finish, share, errs),)
            threads.append(_PlannedThread(number, segments, final, spec.error if final == RunStatus.ERROR else None))
        return tuple(threads)

    def _stalled(
        self, stall: Stall, where: str, start: dt.datetime, end: dt.datetime, share: int, errs: int
    ) -> tuple[_Segment, ...]:
        stop = self.clock(stall.at)
        if not start <= stop < end:
            self.problems.append(f"{where}, stall of thread {stall.thread}, field 'at': must fall within the run")
            stop = start
        before = int(share * stall.done)
        if stall.restart is None:
            return (_Segment(start, end, stop, before, errs),)
        restart = self.clock(stall.restart)
        if not stop < restart < end:
            self.problems.append(
                f"{where}, stall of thread {stall.thread}, field 'restart': must fall after 'at', before the run ends"
            )
            restart = stop
        return (
            _Segment(start, restart, stop, before, 0),  # the execution the operator killed
            _Segment(restart, end, end, share - before, errs),
        )

    def _check_pending(self) -> None:
        points = self.scenario.pending_imds or []
        moments = [self.clock(p.at) for p in points]
        if moments != sorted(moments):
            self.problems.append("field 'pending_imds': list the points in time order")

    def pending_at(self, moment: dt.datetime) -> int | None:
        if self.scenario.pending_imds is None:
            return None
        count = 0
        for point in self.scenario.pending_imds:
            if self.clock(point.at) <= moment:
                count = point.count
        return count


def _thread_at(run: _PlannedRun, thread: _PlannedThread, moment: dt.datetime) -> ThreadState:
    executions = tuple(
        segment.at(moment, inst, scheduler_id(run.batch_cd, run.batch_nbr, run.rerun_nbr, thread.number, inst))
        for inst, segment in enumerate(thread.segments, start=1)
        if segment.start <= moment
    )
    finished = thread.segments[-1].end <= moment
    return ThreadState(
        thread_nbr=thread.number,
        status=thread.final if finished else RunStatus.RUNNING,
        executions=executions,
        error=thread.error if finished else None,
    )


def state_at(scenario: Scenario, workflow: WorkflowConfig, business_date: dt.date, as_of: dt.datetime) -> DayState:
    """What CC&B shows of the scenario's day as of ``as_of``: runs not started yet are absent."""
    moment = dt.datetime.fromtimestamp(bd.to_utc(as_of).timestamp(), dt.UTC)
    planner = _Planner(scenario, workflow, business_date)
    runs = []
    for run in planner.plan():
        if run.start > moment:
            continue
        finished = run.end <= moment
        runs.append(
            RunState(
                batch_cd=run.batch_cd,
                batch_nbr=run.batch_nbr,
                rerun_nbr=run.rerun_nbr,
                start=run.start,
                end=run.end if finished else None,
                status=run.final if finished else RunStatus.RUNNING,
                threads=tuple(_thread_at(run, t, moment) for t in run.threads),
            )
        )
    return DayState(
        business_date=business_date, as_of=moment, runs=tuple(runs), pending_imds=planner.pending_at(moment)
    )
