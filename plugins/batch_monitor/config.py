"""Workflow configuration: one YAML file per batch chain under include/workflows/.

The YAML is validated with pydantic; a bad file raises :class:`WorkflowConfigError` whose
message names the file, the step and the field, so it reads well in Airflow's import errors.
Pure: no Airflow, no database.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from batch_monitor.constants import DEFAULT_STATUS_MAP, FindingKind, Severity
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.run_calendar import CalendarConfig, run_day
from batch_monitor.settings import STUCK_THRESHOLD_MINUTES
from batch_monitor.text import format_duration, parse_recipients

_DURATION = re.compile(r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$")
_CLOCK = re.compile(r"^(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)$")
AFTER_PREDECESSOR: Literal["after_predecessor"] = "after_predecessor"
# expected_start / expected_duration / max_duration: take the value from the step's learned baseline
# (batch_monitor.baselines) once it has baseline_min_days days of history; an omitted value means
# the same, an explicit one wins. Without enough history a learned value is what an omitted one was.
LEARNED: Literal["learned"] = "learned"
LEARNABLE_FIELDS = ("expected_start", "expected_duration", "max_duration")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WATCH_INTERVAL = dt.timedelta(seconds=30)
DEFAULT_BUSINESS_DAY_START = dt.time(5, 0)
DEFAULT_SCHEDULE = "*/15 * * * *"
DEFAULT_WEEKEND_DAYS = ("sat", "sun")
# a step that sets no stuck_after (nor its workflow's defaults): the store's stuck_threshold_minutes,
# applied at the edge (WorkflowConfig.with_stuck_after); until then, that setting's default
DEFAULT_STUCK_AFTER = dt.timedelta(minutes=STUCK_THRESHOLD_MINUTES.default)
MIN_WATCH_INTERVAL = dt.timedelta(seconds=5)  # one small query per interval is what CC&B is promised
MAX_WATCH_INTERVAL = dt.timedelta(minutes=15)
_ZONES = available_timezones()


def parse_duration(value: Any) -> dt.timedelta:
    """'90m', '1h30m', '2h', '45s', '1d' or a number of minutes → timedelta (never negative)."""
    if isinstance(value, dt.timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError("expected a duration such as '30m' or '1h30m'")
    elif isinstance(value, int | float):
        result = dt.timedelta(minutes=value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not value.strip() or match is None or not any(match.groupdict().values()):
            raise ValueError(f"{value!r} is not a duration; write e.g. '30m', '1h30m', '2h', '45s'")
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        result = dt.timedelta(
            days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0), seconds=parts.get("s", 0)
        )
    else:
        raise ValueError("expected a duration such as '30m' or '1h30m'")
    if result < dt.timedelta(0):
        raise ValueError("a duration cannot be negative")
    return result


def parse_clock(value: Any) -> dt.time:
    """'05:00' → time(5, 0). YAML 1.1 may hand us an int of minutes for 05:00 (sexagesimal)."""
    if isinstance(value, dt.time):
        return value
    # PyYAML reads an unquoted 05:00 as the sexagesimal number 300 (minutes)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match:
            return dt.time(int(match["h"]), int(match["m"]))
    raise ValueError(f"{value!r} is not a clock time; write 'HH:MM', e.g. '05:00'")


def parse_percent(value: Any) -> float:
    """'20%', '20 %' or 20 → 0.2 (a share of the typical value); never 0 or negative."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a percentage such as '20%'")
    text = str(value).strip().removesuffix("%").strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a percentage; write e.g. '20%' or '500%'") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{value!r}: a percentage must be more than 0")
    return number / 100


def _is_learned(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == LEARNED


def _parse_expected_start(value: Any) -> dt.time | str | None:
    if value is None or value == AFTER_PREDECESSOR:
        return value  # type: ignore[no-any-return]
    if _is_learned(value):
        return LEARNED
    if isinstance(value, str) and value.strip().replace("-", "_").replace(" ", "_") == AFTER_PREDECESSOR:
        return AFTER_PREDECESSOR
    return parse_clock(value)


def _parse_learnable_duration(value: Any) -> dt.timedelta | None:
    """A duration, or 'learned' (None: the baseline gives it once there is history, as when omitted)."""
    if value is None or _is_learned(value):
        return None
    return parse_duration(value)


def _parse_weekdays(value: Any) -> list[str]:
    """['sat', 'sun'] (or 'fri, sat'): day names, three letters or whole, any case."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(f"write a list of days such as [sat, sun] ({', '.join(WEEKDAYS)})")
    days: list[str] = []
    for item in items:
        name = str(item).strip().lower()[:3]
        if name not in WEEKDAYS or not str(item).strip().lower().startswith(name):
            raise ValueError(f"{item!r} is not a day of the week; use {', '.join(WEEKDAYS)}")
        if name not in days:
            days.append(name)
    return days


def _parse_runbook(value: Any) -> str | dict[str, str]:
    """One string (every kind of alert) or a mapping of alert kind → text (those kinds only)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, dict):
        raise ValueError("write one text for every kind of alert, or a mapping such as {FAILED: ..., STUCK: ...}")
    known = [k.value for k in FindingKind]
    runbook: dict[str, str] = {}
    for kind, text in value.items():
        if str(kind) not in known:
            raise ValueError(f"{kind!r} is not a kind of alert; use {', '.join(known)}")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the runbook for {kind} must be a non-empty text")
        runbook[str(kind)] = text.strip()
    return runbook


Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]


def _recipient_list(value: Any) -> Any:
    """'a@x, b@y' or a list → a list of addresses (the one parser, text.parse_recipients)."""
    return parse_recipients(value) if isinstance(value, str) else value


Clock = Annotated[dt.time, BeforeValidator(parse_clock)]
Percent = Annotated[float, BeforeValidator(parse_percent)]


Channel = Literal["email", "slack", "apprise"]


def _email_only() -> list[Channel]:
    return ["email"]


def _channel_list(value: Any) -> Any:
    """'email, slack' or a list; each channel once."""
    names = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if isinstance(names, list):
        repeated = sorted({str(n) for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"channel(s) {', '.join(repeated)} listed more than once")
    return names


ExpectedStart = Annotated[dt.time | Literal["after_predecessor", "learned"], BeforeValidator(_parse_expected_start)]
LearnableDuration = Annotated[dt.timedelta | None, BeforeValidator(_parse_learnable_duration)]
Weekdays = Annotated[list[str], BeforeValidator(_parse_weekdays)]
Runbook = Annotated[str | dict[str, str], BeforeValidator(_parse_runbook)]


class RepeatRule(BaseModel):
    """How a step that runs several times a day is judged complete.

    ``runs``: complete after this many successful runs.
    ``until_sql``: complete when the count returned by this SQL file (under include/sql) is 0,
    after at least ``min_runs`` successful runs. Used by D1-IMD: "until no IMDs are pending".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    runs: int | None = Field(default=None, ge=1, le=500)
    until_sql: str | None = None
    min_runs: int = Field(default=1, ge=1, le=500)

    @model_validator(mode="after")
    def _one_rule(self) -> RepeatRule:
        if self.runs is not None and self.until_sql is not None:
            raise ValueError("give either 'runs' or 'until_sql', not both")
        return self

    @property
    def required_runs(self) -> int:
        return self.runs if self.runs is not None else self.min_runs

    @property
    def is_multi_run(self) -> bool:
        return self.until_sql is not None or self.required_runs > 1


def _parse_moment(value: Any) -> dt.datetime:
    """'2026-12-06 02:00' or an ISO 8601 time (naive: the workflow's local time) → datetime."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date and time; write e.g. '2026-12-06 02:00' (the workflow's local time)")


Moment = Annotated[dt.datetime, BeforeValidator(_parse_moment)]


class MaintenanceWindow(BaseModel):
    """A planned window in which the workflow's (or some steps') alerts are silenced.

    Either repeating, ``cron`` (the start, in the workflow's zone) with a ``duration``, or once,
    ``from`` and ``to`` (naive times are the workflow's local time). ``steps`` empty: every step.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    cron: str | None = None
    duration: Duration | None = None
    from_: Moment | None = Field(default=None, alias="from")
    to: Moment | None = None
    steps: list[str] = Field(default_factory=list)
    comment: str = Field(default="", max_length=2000)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression; use five fields such as '0 2 * * SUN'")
        return value

    @field_serializer("duration")
    def _seconds(self, value: dt.timedelta | None) -> str | None:
        """Dumped as '10800s', which reads back as the same duration."""
        return None if value is None else f"{int(value.total_seconds())}s"

    @model_validator(mode="after")
    def _one_form(self) -> MaintenanceWindow:
        if self.cron is not None:
            if self.from_ is not None or self.to is not None:
                raise ValueError("give either 'cron' with 'duration', or 'from' and 'to', not both")
            if self.duration is None or self.duration <= dt.timedelta(0):
                raise ValueError("a 'cron' window needs a 'duration' longer than 0, e.g. '3h'")
            if self.duration > dt.timedelta(days=7):
                raise ValueError("a window's 'duration' may be at most 7 days")
            return self
        if self.from_ is None or self.to is None:
            raise ValueError("give 'cron' with 'duration', or both 'from' and 'to'")
        if self.duration is not None:
            raise ValueError("'duration' goes with 'cron'; a 'from'/'to' window ends at 'to'")
        if (self.from_.tzinfo is None) != (self.to.tzinfo is None):
            raise ValueError("'from' and 'to' must both have a UTC offset, or neither")
        if self.to <= self.from_:
            raise ValueError("'to' must come after 'from'")
        return self


_STEP_FIELDS_WITH_DEFAULTS = (
    "expected_start",
    "start_grace",
    "expected_duration",
    "max_duration",
    "stuck_after",
    "min_rps",
    "expect_records",
    "volume_low",
    "volume_high",
    "enabled",
    "risk_margin",
    "at_risk_severity",
)


class StepDefaults(BaseModel):
    """Values every step inherits unless it sets its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expected_start: ExpectedStart = AFTER_PREDECESSOR
    start_grace: Duration = dt.timedelta(minutes=15)
    expected_duration: LearnableDuration = None
    max_duration: LearnableDuration = None
    stuck_after: Duration = DEFAULT_STUCK_AFTER
    min_rps: float | None = Field(default=None, ge=0)
    expect_records: bool = True
    volume_low: Percent = 0.20
    volume_high: Percent = 5.00
    enabled: bool = True
    risk_margin: Duration = dt.timedelta(0)
    at_risk_severity: Severity = Severity.WARNING


class StepConfig(BaseModel):
    """One batch job in the chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default="", pattern=r"^$|^[A-Za-z0-9_.\-]{1,60}$")
    batch_code: str = Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = ""
    description: str = ""
    depends_on: list[str] | None = None
    expected_start: ExpectedStart = AFTER_PREDECESSOR
    start_grace: Duration = dt.timedelta(minutes=15)
    expected_duration: LearnableDuration = None
    max_duration: LearnableDuration = None
    # records one run typically processes: the forecast's progress (a learned baseline's median when omitted)
    expected_records: int | None = Field(default=None, gt=0)
    finish_by: Clock | None = None
    stuck_after: Duration = DEFAULT_STUCK_AFTER
    min_rps: float | None = Field(default=None, ge=0)
    expect_records: bool = True
    # UNUSUAL_VOLUME: a completed run's records below / above these shares of its typical count
    volume_low: Percent = 0.20
    volume_high: Percent = 5.00
    repeat: RepeatRule = RepeatRule()
    enabled: bool = True
    # AT_RISK (see the README): raised when the predicted finish passes finish_by + risk_margin
    risk_margin: Duration = dt.timedelta(0)
    at_risk_severity: Severity = Severity.WARNING
    runbook: Runbook = ""  # what on-call should do: one text for every kind, or {KIND: text}

    @model_validator(mode="after")
    def _fill_derived(self) -> StepConfig:
        if not self.id:
            object.__setattr__(self, "id", self.batch_code)
        if not self.name:
            object.__setattr__(self, "name", self.batch_code)
        if (
            self.expected_duration is not None
            and self.max_duration is not None
            and self.max_duration < self.expected_duration
        ):
            raise ValueError("max_duration is shorter than expected_duration")
        if self.stuck_after <= dt.timedelta(0):
            raise ValueError("stuck_after must be longer than 0")
        if self.volume_low >= self.volume_high:
            raise ValueError(f"volume_low ({self.volume_low:.0%}) must be below volume_high ({self.volume_high:.0%})")
        return self

    @property
    def label(self) -> str:
        return f"{self.batch_code} ({self.name})" if self.name != self.batch_code else self.batch_code

    def learns(self, name: str) -> bool:
        """Whether history may set ``name`` (one of LEARNABLE_FIELDS): the YAML says 'learned' or omits it.

        An omitted ``expected_start`` is learned too (without history it means after_predecessor);
        an explicit ``after_predecessor`` or clock time wins. A duration is learned when it is None.
        """
        if name == "expected_start":
            return self.expected_start == LEARNED or name not in self.model_fields_set
        if name in ("expected_duration", "max_duration"):
            return getattr(self, name) is None
        raise KeyError(name)

    def runbook_for(self, kind: FindingKind) -> str:
        """The step's runbook for alerts of ``kind`` ('' when it gives none for that kind)."""
        if isinstance(self.runbook, str):
            return self.runbook
        return self.runbook.get(kind.value, "")


class WorkflowConfig(BaseModel):
    """A chain of CC&B batch steps judged together within one business day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow_id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    name: str = ""
    description: str = ""
    timezone: str = "UTC"
    source_timezone: str = ""
    business_day_start: Clock = DEFAULT_BUSINESS_DAY_START
    schedule: str = DEFAULT_SCHEDULE
    on_call: list[str] = Field(default_factory=list)
    email_min_severity: Severity = Severity.CRITICAL
    # an unacknowledged CRITICAL incident is mailed again every remind_every (0: never) and, after
    # escalate_after unacknowledged, to escalate_to as well (the Variable batch_monitor_escalate_to overrides it)
    remind_every: Duration = dt.timedelta(hours=2)
    escalate_after: Duration = dt.timedelta(hours=1)
    escalate_to: Annotated[list[str], BeforeValidator(_recipient_list)] = Field(default_factory=list)
    chain_finish_by: Clock | None = None
    # where messages go: email (smtp_default), slack (batch_monitor_slack), apprise (batch_monitor_apprise)
    channels: Annotated[list[Channel], BeforeValidator(_channel_list)] = Field(
        default_factory=_email_only, min_length=1
    )
    # the daily digest, in the workflow's local time (or when the chain completes, if earlier); null: none
    digest_at: Clock | None = dt.time(23, 0)
    risk_margin: Duration = dt.timedelta(0)  # for the chain's AT_RISK (steps have their own)
    at_risk_severity: Severity = Severity.WARNING
    status_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    error_message_sql: str = "error_messages.sql"
    clock_skew_tolerance: Duration = dt.timedelta(minutes=5)
    # learned baselines (batch_monitor.baselines): history of the last baseline_days business days;
    # a step's (or segment's) baseline is used once it has baseline_min_days days with a good run
    baseline_days: int = Field(default=30, ge=1, le=366)
    baseline_min_days: int = Field(default=5, ge=1, le=366)
    weekend_days: Weekdays = Field(default_factory=lambda: list(DEFAULT_WEEKEND_DAYS))
    # which business days a run is expected on (run_calendar.py); none: every day
    calendar: CalendarConfig | None = None
    tags: list[str] = Field(default_factory=list)
    # the fast path: a trigger in Airflow's triggerer polls CC&B every watch_interval and starts a
    # tick at once when the workflow's runs change (the cron schedule keeps the time-based checks)
    watch: bool = False
    watch_interval: Duration = DEFAULT_WATCH_INTERVAL
    defaults: StepDefaults = StepDefaults()
    steps: list[StepConfig] = Field(min_length=1)
    # planned windows in which alerts are recorded but not mailed (batch_monitor.silences)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    source_file: str = ""

    @field_validator("timezone", "source_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value and value not in _ZONES and value != "UTC":
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Dhaka'")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a cron expression; use five fields such as '*/15 * * * *' "
                "(minute hour day-of-month month day-of-week) or a preset such as '@hourly'"
            )
        return value

    @field_validator("watch_interval")
    @classmethod
    def _watch_interval(cls, value: dt.timedelta) -> dt.timedelta:
        if not MIN_WATCH_INTERVAL <= value <= MAX_WATCH_INTERVAL:
            raise ValueError(
                f"{format_duration(value)} is out of range; poll CC&B every {format_duration(MIN_WATCH_INTERVAL)} "
                f"to {format_duration(MAX_WATCH_INTERVAL)}, e.g. '30s'"
            )
        return value

    @field_validator("on_call", "escalate_to")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s,;]+@[^@\s,;]+$", address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @field_validator("status_map")
    @classmethod
    def _status_values(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"pending", "running", "error", "complete"}
        for code, meaning in value.items():
            if meaning not in allowed:
                raise ValueError(f"status {code!r} maps to {meaning!r}; use one of {sorted(allowed)}")
        return {str(k): v for k, v in value.items()}

    @model_validator(mode="after")
    def _check_chain(self) -> WorkflowConfig:
        if not self.source_timezone:
            object.__setattr__(self, "source_timezone", self.timezone)
        if not self.name:
            object.__setattr__(self, "name", self.workflow_id)
        if self.baseline_min_days > self.baseline_days:
            raise ValueError(
                f"field 'baseline_min_days': {self.baseline_min_days} is more than baseline_days "
                f"({self.baseline_days}); a baseline cannot have more days than the history it reads"
            )
        _check_unique(self.steps)
        _check_dependencies(self.steps)
        _check_deadlines(self.steps, self.business_day_start)
        _check_maintenance_steps(self.maintenance, self.steps)
        return self

    @property
    def dag_id(self) -> str:
        return f"batch_monitor_{self.workflow_id}"

    @property
    def enabled_steps(self) -> list[StepConfig]:
        return [s for s in self.steps if s.enabled]

    def is_run_day(self, business_date: dt.date) -> bool:
        """Whether the chain is expected to run on ``business_date`` (its ``calendar``)."""
        return run_day(self.calendar, business_date).expected

    def step(self, step_id: str) -> StepConfig:
        for candidate in self.steps:
            if candidate.id == step_id:
                return candidate
        raise KeyError(step_id)

    @property
    def ordered_steps(self) -> list[StepConfig]:
        """Every step after its predecessors (YAML order where free); see :func:`step_order`."""
        return step_order(self.steps)

    def with_stuck_after(self, default: dt.timedelta) -> WorkflowConfig:
        """This workflow with ``default`` as the ``stuck_after`` of every step that sets none (in its
        own entry or through ``defaults``): the monitor's ``stuck_threshold_minutes``."""
        if default <= dt.timedelta(0):
            raise ValueError("the default stuck_after must be longer than 0")
        if default == DEFAULT_STUCK_AFTER:
            return self  # the steps that set none have it already
        steps = [
            s if "stuck_after" in s.model_fields_set else s.model_copy(update={"stuck_after": default})
            for s in self.steps
        ]
        return self.model_copy(update={"steps": steps})

    def predecessors(self, step: StepConfig) -> list[StepConfig]:
        return [self.step(d) for d in (step.depends_on or [])]


def _check_unique(steps: list[StepConfig]) -> None:
    seen_ids: set[str] = set()
    seen_codes: set[str] = set()
    for index, step in enumerate(steps):
        if step.batch_code in seen_codes:
            raise ValueError(
                f"step {step.id!r} (steps[{index}]), field 'batch_code': {step.batch_code!r} is used twice"
            )
        if step.id in seen_ids:
            raise ValueError(f"step {step.id!r} (steps[{index}]), field 'id': duplicate step id {step.id!r}")
        seen_ids.add(step.id)
        seen_codes.add(step.batch_code)


def _check_maintenance_steps(windows: list[MaintenanceWindow], steps: list[StepConfig]) -> None:
    ids = {s.id for s in steps}
    for index, window in enumerate(windows):
        for step_id in window.steps:
            if step_id not in ids:
                raise ValueError(f"field 'maintenance[{index}].steps': unknown step {step_id!r}")


def _check_dependencies(steps: list[StepConfig]) -> None:
    ids = [s.id for s in steps]
    graph = {s.id: list(s.depends_on or []) for s in steps}
    for index, step in enumerate(steps):
        for dep in graph[step.id]:
            if dep not in ids:
                raise ValueError(f"step {step.id!r} (steps[{index}]), field 'depends_on': unknown step {dep!r}")
            if dep == step.id:
                raise ValueError(f"step {step.id!r} (steps[{index}]), field 'depends_on': names the step itself")
    step_order(steps)


def step_order(steps: list[StepConfig]) -> list[StepConfig]:
    """Steps ordered so every step comes after its predecessors, in YAML order where free.

    Raises ValueError naming the cycle ("A-ONE -> C-THREE -> A-ONE": A-ONE depends on C-THREE...).
    The order of a dependency graph is worked out once (every tick asks for it; a 5,000-step sort
    costs tens of milliseconds).
    """
    graph = tuple((s.id, tuple(s.depends_on or ())) for s in steps)
    return [steps[index] for index in _graph_order(graph)]


def graph_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """The step ids of a dependency graph (step id -> the ids it depends on), each after the ones it
    depends on, in the graph's own order where free: :func:`step_order`'s rule, for ids alone."""
    nodes = dict.fromkeys([*graph, *(dep for deps in graph.values() for dep in deps)])
    items = tuple((node, tuple(graph.get(node, ()))) for node in nodes)
    return [items[index][0] for index in _graph_order(items)]


@lru_cache(maxsize=32)
def _graph_order(graph: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[int, ...]:
    """The positions of ``graph``'s steps (id, predecessors) in :func:`step_order`'s order."""
    position = {step_id: index for index, (step_id, _) in enumerate(graph)}
    sorter = TopologicalSorter({step_id: list(deps) for step_id, deps in graph})
    try:
        sorter.prepare()
    except CycleError as exc:
        ring = list(reversed(exc.args[1][1:]))  # graphlib lists each predecessor before its dependant
        first = min(range(len(ring)), key=lambda i: position[ring[i]])
        cycle = [*ring[first:], *ring[:first], ring[first]]
        raise ValueError(f"field 'depends_on' forms a cycle: {' -> '.join(cycle)}") from None
    ready: list[int] = []
    ordered: list[int] = []
    while sorter.is_active():
        for step_id in sorter.get_ready():
            heapq.heappush(ready, position[step_id])
        index = heapq.heappop(ready)
        ordered.append(index)
        sorter.done(graph[index][0])
    return tuple(ordered)


def _day_offset(clock: dt.time, day_start: dt.time) -> dt.timedelta:
    """How far into the business day a clock time falls (times before the day start: next morning)."""
    minutes = (clock.hour * 60 + clock.minute) - (day_start.hour * 60 + day_start.minute)
    return dt.timedelta(minutes=minutes % (24 * 60))


def _check_deadlines(steps: list[StepConfig], day_start: dt.time) -> None:
    """A step with a clock start and a deadline must be able to finish by it within the business day."""
    for index, step in enumerate(steps):
        if step.finish_by is None or not isinstance(step.expected_start, dt.time):
            continue
        duration = step.expected_duration or dt.timedelta(0)
        earliest = _day_offset(step.expected_start, day_start) + duration
        if _day_offset(step.finish_by, day_start) < earliest:
            start = step.expected_start.strftime("%H:%M")
            lasting = f" + expected_duration {format_duration(duration)}" if duration else ""
            needs = f"expected_start {start}{lasting}"
            raise ValueError(
                f"step {step.id!r} (steps[{index}]), field 'finish_by': {step.finish_by:%H:%M} is before the step "
                f"can finish ({needs}, in the business day that starts at {day_start:%H:%M})"
            )


def _apply_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Fill each step's missing fields from ``defaults`` and its depends_on from the order."""
    defaults = raw.get("defaults") or {}
    steps = raw.get("steps")
    if not isinstance(defaults, dict) or not isinstance(steps, list):
        return raw
    filled: list[Any] = []
    previous_id: str | None = None
    for item in steps:
        if not isinstance(item, dict):
            filled.append(item)
            previous_id = None
            continue
        step = dict(item)
        for key in _STEP_FIELDS_WITH_DEFAULTS:
            if key not in step and key in defaults:
                step[key] = defaults[key]
        if "depends_on" not in step:
            step["depends_on"] = [previous_id] if previous_id else []
        elif step["depends_on"] is None:
            step["depends_on"] = []
        elif isinstance(step["depends_on"], str):
            step["depends_on"] = [step["depends_on"]]
        filled.append(step)
        step_id = step.get("id") or step.get("batch_code")
        previous_id = str(step_id) if step_id else None
    return {**raw, "steps": filled}


def _describe_location(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """('steps', 2, 'max_duration') → "step 'C1-PPBTR' (steps[2]), field 'max_duration'"."""
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        index = parts[1]
        steps = raw.get("steps") or []
        label = f"steps[{index}]"
        if index < len(steps) and isinstance(steps[index], dict):
            ident = steps[index].get("id") or steps[index].get("batch_code")
            if ident:
                label = f"{ident!r} ({label})"
        rest = ".".join(str(p) for p in parts[2:])
        return f"step {label}, field {rest!r}" if rest else f"step {label}"
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return f"field {dotted!r}" if dotted else "workflow"


def _format_errors(path: Path, error: ValidationError, raw: dict[str, Any]) -> list[str]:
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:
            lines.append(message)
            continue
        where = _describe_location(tuple(item["loc"]), raw)
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif item["type"] == "missing":
            message = "required field is missing"
        lines.append(f"{where}: {message}")
    return lines


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, except that an impossible date (2026-13-01) stays text instead of raising
    a bare ValueError, so the field holding it is named in the error like any other bad value."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def parse_workflow(text: str, path: Path) -> WorkflowConfig:
    """Parse and validate one workflow document; ``path`` is only used in messages."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise WorkflowConfigError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise WorkflowConfigError(path, ["the file must be a mapping with 'workflow_id' and 'steps'"])
    prepared = _apply_defaults(raw)
    prepared.setdefault("source_file", str(path))
    try:
        return WorkflowConfig.model_validate(prepared)
    except ValidationError as exc:
        raise WorkflowConfigError(path, _format_errors(path, exc, raw)) from exc


def load_workflow(path: Path) -> WorkflowConfig:
    """Read one workflow file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowConfigError(path, [f"cannot be read: {exc}"]) from exc
    return parse_workflow(text, path)


@dataclass
class LoadResult:
    """Every workflow that loaded, and one error per file that did not."""

    workflows: list[WorkflowConfig] = field(default_factory=list)
    errors: list[WorkflowConfigError] = field(default_factory=list)


def workflow_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def load_workflows(directory: Path | Iterable[Path]) -> LoadResult:
    """Load every workflow file; a bad file never stops the others from loading."""
    paths = workflow_files(directory) if isinstance(directory, Path) else list(directory)
    result = LoadResult()
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            workflow = load_workflow(path)
        except WorkflowConfigError as exc:
            result.errors.append(exc)
            continue
        if workflow.workflow_id in seen:
            result.errors.append(
                WorkflowConfigError(
                    path,
                    [f"field 'workflow_id': {workflow.workflow_id!r} is already used by {seen[workflow.workflow_id]}"],
                )
            )
            continue
        seen[workflow.workflow_id] = path
        result.workflows.append(workflow)
    return result
