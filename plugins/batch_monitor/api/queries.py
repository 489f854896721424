"""Reads of the store that the API needs (SQLAlchemy Core; every function takes a Connection).

Writes (acknowledge, resolve) go through ``batch_monitor.store.actions``. Nothing here reads
the wall clock: callers pass the moments and dates they mean. No Airflow imports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from batch_monitor import business_day as bd
from batch_monitor import silences as silencing
from batch_monitor.alerting import ACTIVE_STATES
from batch_monitor.config import (
    DEFAULT_BUSINESS_DAY_START,
    DEFAULT_SCHEDULE,
    DEFAULT_WEEKEND_DAYS,
    MaintenanceWindow,
    parse_clock,
)
from batch_monitor.constants import CHAIN_STEP_ID, FindingKind, RunStatus
from batch_monitor.models import Evaluation, StepBaseline
from batch_monitor.settings import REFRESH_INTERVAL_SECONDS
from batch_monitor.silences import Silence
from batch_monitor.store import silences as stored_silences
from batch_monitor.store.repository import load_baselines, load_evaluation, setting, utc
from batch_monitor.store.schema import (
    alert_events,
    alerts,
    evaluations,
    execution_logs,
    monitoring_config,
    silences,
    step_baselines,
    ticks,
    workflow_config,
)

DEFAULT_DAY_START = DEFAULT_BUSINESS_DAY_START.strftime("%H:%M")  # a workflow recorded without one


@dataclass(frozen=True)
class StepMeta:
    step_id: str
    batch_code: str
    name: str
    position: int
    depends_on: list[str]
    expected_start: str | None
    expected_duration_s: float | None
    max_duration_s: float | None
    finish_by: str | None
    stuck_after_s: float
    min_rps: float | None
    repeat_rule: dict[str, Any]
    enabled: bool
    runbook: str


@dataclass(frozen=True)
class WorkflowMeta:
    """A workflow as the monitoring DAG recorded it (batch_workflow_config + its settings)."""

    workflow_id: str
    name: str
    timezone: str
    business_day_start: str
    steps: list[StepMeta] = field(default_factory=list)
    schedule: str = DEFAULT_SCHEDULE  # the monitoring DAG's cron
    maintenance: list[MaintenanceWindow] = field(default_factory=list)  # from the workflow's YAML
    weekend_days: list[str] = field(default_factory=lambda: list(DEFAULT_WEEKEND_DAYS))

    @property
    def day_start(self) -> dt.time:
        return parse_clock(self.business_day_start)

    def business_date(self, moment: dt.datetime) -> dt.date:
        """The business date that contains ``moment``."""
        return bd.business_date(moment, self.timezone, self.day_start)

    def window(self, date: dt.date) -> tuple[dt.datetime, dt.datetime]:
        start, end = bd.window(date, self.timezone, self.day_start)
        return start, end

    @cached_property
    def _names(self) -> dict[str, str]:
        return {s.step_id: s.name for s in self.steps}

    def step_name(self, step_id: str) -> str:
        if step_id == CHAIN_STEP_ID:
            return "Whole chain"
        return self._names.get(step_id, step_id)


# --------------------------------------------------------------------------- configuration


def _settings(conn: sa.Connection, scopes: Collection[str]) -> dict[tuple[str, str], Any]:
    t = monitoring_config
    rows = conn.execute(sa.select(t.c.scope, t.c.key, t.c.value).where(t.c.scope.in_(list(scopes))))
    return {(r.scope, r.key): r.value for r in rows}


# Every endpoint needs the workflows, and rebuilding thousands of steps costs more than the rest
# of a request: they are kept per process and rebuilt only when the stored configuration changes.
# The fingerprint covers every column they are built from (a step's fields all come from its
# config, which config_hash digests) and the settings (time zone, day start).
_FINGERPRINT_SQL = (
    "md5(concat("
    "(SELECT string_agg(concat_ws('|', workflow_id, step_id, position, workflow_name, config_hash), ','"
    f" ORDER BY workflow_id, step_id) FROM {workflow_config.name}), '/', "
    "(SELECT string_agg(concat_ws('|', scope, key, value), ',' ORDER BY scope, key)"
    f" FROM {monitoring_config.name})))"
)
_FINGERPRINT = sa.text("SELECT " + _FINGERPRINT_SQL)
_cached: tuple[str, list[WorkflowMeta]] | None = None


def workflows(conn: sa.Connection) -> list[WorkflowMeta]:
    """Every workflow the monitor recorded, ordered by name, with its steps in chain order.

    Built once per configuration (see ``_FINGERPRINT``); callers must not change what they get.
    """
    return configured(conn)[1]


def configured(conn: sa.Connection) -> tuple[str, list[WorkflowMeta]]:
    """(the stored configuration's fingerprint, ``workflows``): the fingerprint changes with any
    step, workflow or setting, so responses built from the workflows can be kept under it."""
    global _cached
    fingerprint = str(conn.execute(_FINGERPRINT).scalar_one())
    cached = _cached
    if cached is not None and cached[0] == fingerprint:
        return cached
    _cached = (fingerprint, _load_workflows(conn))
    return _cached


C = TypeVar("C")
# How often a request runs its statement again after finding the configuration changed under it.
CONFIG_RETRIES = 3


def read_configured(
    conn: sa.Connection, plan: Callable[[list[WorkflowMeta]], tuple[C, Sequence[sa.ColumnElement[Any]]]]
) -> tuple[str, C, Sequence[Any]]:
    """One statement: the configuration's fingerprint and the columns ``plan`` asks for, given the
    workflows this process keeps (it picks a workflow and a day from them).

    (fingerprint, what ``plan`` returned, the columns' values). When the fingerprint read with the
    columns is not the kept workflows' (a re-deploy changed a step, a setting), the workflows are
    loaded again and the statement runs again with them: what is returned was planned from
    workflows at least as new as the fingerprint returned, so a response kept under that
    fingerprint is never built from an older configuration than its key says.
    """
    kept = _cached if _cached is not None else configured(conn)
    fingerprint: sa.ColumnElement[str] = sa.literal_column(_FINGERPRINT_SQL)
    for _ in range(CONFIG_RETRIES):
        planned, columns = plan(kept[1])
        row = conn.execute(sa.select(fingerprint, *columns)).one()
        if row[0] == kept[0]:
            return kept[0], planned, row[1:]
        kept = _reload(conn, str(row[0]))
    # Still changing: the workflows loaded last are newer than the fingerprint kept with them,
    # so the next request sees a fingerprint that differs and builds again.
    planned, columns = plan(kept[1])
    return kept[0], planned, conn.execute(sa.select(*columns)).one()


def _reload(conn: sa.Connection, fingerprint: str) -> tuple[str, list[WorkflowMeta]]:
    """The workflows loaded now, kept under ``fingerprint`` (read before them)."""
    global _cached
    _cached = (fingerprint, _load_workflows(conn))
    return _cached


def _load_workflows(conn: sa.Connection) -> list[WorkflowMeta]:
    t = workflow_config
    columns = [c for c in t.c if c.name not in ("step_config", "config_hash", "source_file", "loaded_at")]
    runbook = t.c.step_config["runbook"].label("runbook")  # one text, or {kind: text}
    rows = conn.execute(sa.select(*columns, runbook).order_by(t.c.workflow_id, t.c.position)).all()
    by_id: dict[str, list[Any]] = {}  # rows of the select above
    for row in rows:
        by_id.setdefault(row.workflow_id, []).append(row)
    settings = _settings(conn, list(by_id))
    result = []
    for workflow_id, steps in by_id.items():
        result.append(
            WorkflowMeta(
                workflow_id=workflow_id,
                name=steps[0].workflow_name,
                timezone=str(settings.get((workflow_id, "timezone"), "UTC")),
                business_day_start=str(settings.get((workflow_id, "business_day_start"), DEFAULT_DAY_START)),
                steps=[_step_meta(r) for r in steps],
                schedule=str(settings.get((workflow_id, "schedule"), DEFAULT_SCHEDULE)),
                maintenance=_windows(settings.get((workflow_id, "maintenance"))),
                weekend_days=list(settings.get((workflow_id, "weekend_days")) or DEFAULT_WEEKEND_DAYS),
            )
        )
    return sorted(result, key=lambda w: (w.name.lower(), w.workflow_id))


def _windows(value: Any) -> list[MaintenanceWindow]:
    """The maintenance windows recorded with a workflow (none if the setting is missing or unreadable)."""
    if not isinstance(value, list):
        return []
    try:
        return [MaintenanceWindow.model_validate(item) for item in value]
    except ValueError:  # written by another version of the monitor: show none rather than fail
        return []


def _step_meta(row: sa.Row[Any]) -> StepMeta:
    return StepMeta(
        step_id=row.step_id,
        batch_code=row.batch_cd,
        name=row.step_name,
        position=row.position,
        depends_on=list(row.depends_on or []),
        expected_start=row.expected_start,
        expected_duration_s=row.expected_duration_s,
        max_duration_s=row.max_duration_s,
        finish_by=row.finish_by,
        stuck_after_s=row.stuck_after_s,
        min_rps=row.min_rps,
        repeat_rule=dict(row.repeat_rule or {}),
        enabled=row.enabled,
        runbook=runbook_text(row.runbook),
    )


def runbook_text(runbook: Any) -> str:
    """A step's runbook as one line: the text, or 'FAILED: …; STUCK: …' for one given per kind."""
    if isinstance(runbook, dict):
        return "; ".join(f"{kind}: {text}" for kind, text in runbook.items())
    return str(runbook or "")


def refresh_interval_seconds(conn: sa.Connection) -> int:
    """The page's auto-refresh interval (global ``refresh_interval_seconds``), at least 10 s."""
    return max(int(setting(conn, REFRESH_INTERVAL_SECONDS)), 10)


def latest_business_dates(conn: sa.Connection) -> dict[str, dt.date]:
    """The newest judged business day of each workflow."""
    t = evaluations
    rows = conn.execute(sa.select(t.c.workflow_id, sa.func.max(t.c.business_date)).group_by(t.c.workflow_id))
    return {r[0]: r[1] for r in rows}


def evaluation(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> Evaluation | None:
    """The day's latest evaluation (batch_evaluations), or None when the day was not judged."""
    return load_evaluation(conn, workflow_id, business_date)


def baselines(conn: sa.Connection, workflow_id: str) -> list[StepBaseline]:
    """The workflow's learned baselines, every step and segment (batch_step_baselines)."""
    return load_baselines(conn, workflow_id)


# --------------------------------------------------------------------------- alerts


def active_alerts(conn: sa.Connection, workflow_ids: Collection[str]) -> list[dict[str, Any]]:
    """Open and acknowledged alerts of the given workflows, newest first."""
    t = alerts
    query = (
        sa.select(t)
        .where(t.c.state.in_(ACTIVE_STATES), t.c.workflow_id.in_(list(workflow_ids)))
        .order_by(t.c.first_seen_at.desc(), t.c.id.desc())
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def day_alerts(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> list[dict[str, Any]]:
    """Every alert of one business day (any state), oldest first."""
    t = alerts
    query = (
        sa.select(t)
        .where(t.c.workflow_id == workflow_id, t.c.business_date == business_date)
        .order_by(t.c.first_seen_at, t.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def alert_row(conn: sa.Connection, alert_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else dict(row._mapping)


def alert_workflow(conn: sa.Connection, alert_id: int) -> str | None:
    """The workflow an alert belongs to, or None for an unknown id."""
    return conn.execute(sa.select(alerts.c.workflow_id).where(alerts.c.id == alert_id)).scalar_one_or_none()


def alert_event_rows(conn: sa.Connection, alert_id: int) -> list[dict[str, Any]]:
    e = alert_events
    # in the order they were recorded: of two people acknowledging at once, the one who lost may
    # have clicked a moment earlier (``at``), but their refusal was written after the win
    query = sa.select(e).where(e.c.alert_id == alert_id).order_by(e.c.id)
    return [dict(r._mapping) for r in conn.execute(query)]


def _count_active_alerts(workflow_id: str) -> sa.Select[int]:
    """Counts the workflow's alerts that are open or acknowledged."""
    t = alerts
    return sa.select(sa.func.count()).where(t.c.workflow_id == workflow_id, t.c.state.in_(ACTIVE_STATES))


BREACH_KINDS = (FindingKind.LATE_START.value, FindingKind.MISSED_DEADLINE.value)


def count_breaches(conn: sa.Connection, workflow_id: str, first_date: dt.date, last_date: dt.date) -> int:
    """Late starts and missed deadlines of the window's days, in any state: a breach that was over
    between two ticks (recorded and resolved at once) counts like one that stayed open."""
    t = alerts
    query = sa.select(sa.func.count()).where(
        t.c.workflow_id == workflow_id,
        t.c.business_date.between(first_date, last_date),
        t.c.kind.in_(BREACH_KINDS),
    )
    return int(conn.execute(query).scalar_one())


# --------------------------------------------------------------------------- runs


SORTABLE_LOG_COLUMNS = (
    "start_time",
    "end_time",
    "business_date",
    "duration_s",
    "records",
    "errors",
    "rps",
    "batch_cd",
    "status",
    "step_id",
)


@dataclass(frozen=True)
class LogFilter:
    """Filters of the run history. ``workflow_ids`` limits to what the caller may read."""

    workflow_ids: Sequence[str]
    batch_code: str | None = None
    status: RunStatus | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    search: str | None = None
    sort: str = "start_time"
    descending: bool = True


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _log_conditions(f: LogFilter) -> list[sa.ColumnElement[bool]]:
    t = execution_logs
    conditions: list[sa.ColumnElement[bool]] = [t.c.workflow_id.in_(list(f.workflow_ids))]
    if f.batch_code:
        conditions.append(t.c.batch_cd == f.batch_code)
    if f.status is not None:
        conditions.append(t.c.status == f.status.value)
    if f.date_from is not None:
        conditions.append(t.c.business_date >= f.date_from)
    if f.date_to is not None:
        conditions.append(t.c.business_date <= f.date_to)
    if f.search:
        conditions.append(t.c.error_text.ilike(f"%{_escape_like(f.search)}%", escape="\\"))
    return conditions


def batch_logs(
    conn: sa.Connection, f: LogFilter, *, limit: int | None, offset: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, the page of rows) of the run history, sorted as asked (id breaks ties)."""
    if f.sort not in SORTABLE_LOG_COLUMNS:
        raise ValueError(f"cannot sort by {f.sort!r}; use one of {', '.join(SORTABLE_LOG_COLUMNS)}")
    t = execution_logs
    conditions = _log_conditions(f)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*conditions)).scalar_one())
    column = t.c[f.sort]
    order = column.desc().nulls_last() if f.descending else column.asc().nulls_last()
    tiebreak = t.c.id.desc() if f.descending else t.c.id.asc()
    query = sa.select(t).where(*conditions).order_by(order, tiebreak).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return total, [dict(r._mapping) for r in conn.execute(query)]


# --------------------------------------------------------------------------- health


FINISHED = (RunStatus.COMPLETE.value, RunStatus.ERROR.value)


def step_health(
    conn: sa.Connection, workflow_id: str, first_date: dt.date, last_date: dt.date
) -> dict[str, dict[str, Any]]:
    """Per batch code over the window: finished and failed runs, average duration and RPS."""
    t = execution_logs
    finished = t.c.status.in_(FINISHED)
    query = (
        sa.select(
            t.c.batch_cd,
            sa.func.count().filter(finished).label("finished"),
            sa.func.count().filter(t.c.status == RunStatus.ERROR.value).label("failed"),
            sa.func.avg(t.c.duration_s).filter(finished).label("avg_duration_s"),
            sa.func.avg(t.c.rps).filter(finished).label("avg_rps"),
        )
        .where(t.c.workflow_id == workflow_id, t.c.business_date.between(first_date, last_date))
        .group_by(t.c.batch_cd)
    )
    return {r.batch_cd: dict(r._mapping) for r in conn.execute(query)}


def _failed_between(workflow_id: str, start: dt.datetime, end: dt.datetime) -> sa.Select[int]:
    """Counts the runs of the workflow that ended in error within [start, end)."""
    t = execution_logs
    return sa.select(sa.func.count()).where(
        t.c.workflow_id == workflow_id,
        t.c.status == RunStatus.ERROR.value,
        sa.func.coalesce(t.c.end_time, t.c.observed_at) >= start,
        sa.func.coalesce(t.c.end_time, t.c.observed_at) < end,
    )


def average_rps(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> float | None:
    """Average records/second of the day's runs that processed anything (running ones included)."""
    t = execution_logs
    query = sa.select(sa.func.avg(t.c.rps)).where(
        t.c.workflow_id == workflow_id,
        t.c.business_date == business_date,
        t.c.rps.is_not(None),
        t.c.records > 0,
    )
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else float(value)


def recent_failures(
    conn: sa.Connection, workflow_id: str, first_date: dt.date, last_date: dt.date, limit: int = 10
) -> list[dict[str, Any]]:
    """The window's failed runs, latest first."""
    t = execution_logs
    query = (
        sa.select(t)
        .where(
            t.c.workflow_id == workflow_id,
            t.c.status == RunStatus.ERROR.value,
            t.c.business_date.between(first_date, last_date),
        )
        .order_by(sa.func.coalesce(t.c.end_time, t.c.start_time).desc().nulls_last(), t.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


# --------------------------------------------------------------------------- silences


def silences_in_effect(conn: sa.Connection, metas: Sequence[WorkflowMeta], now: dt.datetime) -> list[Silence]:
    """Every silence and maintenance window in effect at ``now`` for these workflows."""
    return in_effect_of(stored_silences.listed(conn, [m.workflow_id for m in metas], active_at=now), metas, now)


def in_effect_of(listed: Sequence[Silence], metas: Sequence[WorkflowMeta], now: dt.datetime) -> list[Silence]:
    """``silences_in_effect`` from the stored silences listed (in effect or yet to come at or before
    ``now``): those in effect at ``now``, and the workflows' maintenance windows."""
    stored = [s for s in listed if s.active(now)]
    later = now + dt.timedelta(microseconds=1)
    windows = [
        s for m in metas for s in silencing.maintenance_silences(m.workflow_id, m.timezone, m.maintenance, now, later)
    ]
    return stored + windows


# --------------------------------------------------------------------------- revisions
#
# A response kept by the API (api/cache.py) is keyed by what these read, in one statement, BEFORE
# the data it is built from: a write that lands in between makes the data newer than its key,
# never older, and the next request sees a new key. ``xmin`` is the transaction that wrote a row
# version: it changes with every insert and update, whoever makes it (a tick, an operator's
# acknowledgement or resolution, a mail sent, a purge).


def _row_versions(
    table: sa.Table, *where: sa.ColumnElement[bool], label: sa.ColumnElement[Any]
) -> sa.ScalarSelect[Any]:
    """One text naming every matching row and its version ('label:xmin,...'), or NULL for none."""
    version: sa.ColumnElement[str] = sa.literal_column(f"{table.name}.xmin::text")
    return (
        sa.select(
            sa.func.string_agg(sa.cast(label, sa.Text) + ":" + version, aggregate_order_by(sa.literal(","), label))
        )
        .where(*where)
        .scalar_subquery()
    )


def timeline_revision_columns(workflow_id: str, business_date: dt.date) -> list[sa.ColumnElement[Any]]:
    """The version of everything a day's timeline is built from besides the configuration: the
    day's evaluation, its alerts (any state), and the workflow's learned baselines (replaced whole
    in one transaction: their count and the range of their row versions). Three columns; see
    ``revision_of``."""
    e, a, b = evaluations, alerts, step_baselines
    xid: sa.ColumnElement[int] = sa.literal_column(f"{b.name}.xmin::text::bigint")
    learned = sa.func.concat_ws(":", sa.func.count(), sa.func.min(xid), sa.func.max(xid))
    return [
        _row_versions(e, e.c.workflow_id == workflow_id, e.c.business_date == business_date, label=e.c.business_date),
        _row_versions(a, a.c.workflow_id == workflow_id, a.c.business_date == business_date, label=a.c.id),
        sa.select(learned).where(b.c.workflow_id == workflow_id).scalar_subquery(),
    ]


def revision_of(values: Sequence[Any]) -> str:
    """One text of the revision columns' values."""
    return "/".join(str(v) for v in values)


def timeline_revision(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> str:
    """``timeline_revision_columns`` read on their own."""
    return revision_of(conn.execute(sa.select(*timeline_revision_columns(workflow_id, business_date))).one())


def active_alerts_version(workflow_ids: Collection[str]) -> sa.ColumnElement[Any]:
    """The version of the workflows' active alerts (``active_alerts``): an alert opened, seen again by
    a tick, acknowledged or resolved changes it."""
    t = alerts
    return _row_versions(t, t.c.state.in_(ACTIVE_STATES), t.c.workflow_id.in_(list(workflow_ids)), label=t.c.id)


def silences_version(workflow_id: str, now: dt.datetime) -> sa.ColumnElement[Any]:
    """The version of the workflow's stored silences that ``silences_in_effect`` lists at ``now``
    (those in effect or yet to come): any silence added, changed or ended, or over, changes it."""
    t = silences
    moment = utc(now, "now")
    return _row_versions(
        t,
        t.c.workflow_id == workflow_id,
        t.c.ends_at > moment,
        sa.or_(t.c.ended_at.is_(None), t.c.ended_at > moment),
        label=t.c.id,
    )


@dataclass(frozen=True)
class HealthProbe:
    """What batch-health reads on every request: the parts that move with the clock or with an
    operator's resolution, and the revision of the rest (kept under it by the API)."""

    last_tick_at: dt.datetime | None
    active_alerts: int
    failed_last_24h: int
    revision: str


def health_probe(
    conn: sa.Connection, workflow_id: str, first_date: dt.date, last_date: dt.date, reference: dt.datetime
) -> HealthProbe:
    """One statement: the last finished tick, the active alerts, the failures of the 24 hours
    before ``reference``, and the version of the window's evaluations.

    Every write of the window's runs and breaches (a tick's persist) saves its day's evaluation
    in the same transaction; a history bootstrap (runs without an evaluation) happens within a
    tick, before the tick is recorded: the evaluations' versions and the last tick cover them.
    """
    query = sa.select(*health_probe_columns(workflow_id, first_date, last_date, reference))
    return health_probe_of(conn.execute(query).one())


def health_probe_columns(
    workflow_id: str, first_date: dt.date, last_date: dt.date, reference: dt.datetime
) -> list[sa.ColumnElement[Any]]:
    """``health_probe``'s four columns, to read with others (see ``health_probe_of``)."""
    e, t = evaluations, ticks
    return [
        sa.select(sa.func.max(t.c.finished_at)).where(t.c.workflow_id == workflow_id).scalar_subquery(),
        _count_active_alerts(workflow_id).scalar_subquery(),
        _failed_between(workflow_id, reference - dt.timedelta(hours=24), reference).scalar_subquery(),
        _row_versions(
            e, e.c.workflow_id == workflow_id, e.c.business_date.between(first_date, last_date), label=e.c.business_date
        ),
    ]


def health_probe_of(values: Sequence[Any]) -> HealthProbe:
    """The probe from ``health_probe_columns``' values."""
    last_tick, active, failed, versions = values
    return HealthProbe(last_tick, int(active), int(failed), f"{last_tick}/{versions}")
