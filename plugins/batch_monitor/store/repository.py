"""Reads and writes of the store that the DAG's tasks call (alerts live in store/alerts.py).

Every function takes a SQLAlchemy ``Connection``; the caller owns the transaction, so one
tick's writes commit or roll back together. Bulk writes are one statement whatever the size:
the rows travel as one JSON array that PostgreSQL unpacks with ``jsonb_to_recordset``
(see :func:`recordset`), so a 5,000-step evaluation is as many round trips as a 5-step one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from batch_monitor import business_day as bd
from batch_monitor.baselines import HistoryRun
from batch_monitor.config import StepConfig, WorkflowConfig
from batch_monitor.constants import RunStatus, StepStatus
from batch_monitor.exceptions import StoreError
from batch_monitor.models import Evaluation, Observations, Progress, RiskMemory, RunKey, RunView, StepBaseline
from batch_monitor.settings import STUCK_THRESHOLD_MINUTES, TABLE_SETTINGS, Setting
from batch_monitor.store import packing
from batch_monitor.store.schema import (
    alert_events,
    alerts,
    email_outbox,
    evaluations,
    execution_logs,
    monitoring_config,
    performance_summary,
    source_snapshots,
    step_baselines,
    tick_evaluations,
    workflow_config,
)

log = logging.getLogger(__name__)

GLOBAL_SCOPE = "global"

# (value, description) of the global settings an operator may change in batch_monitoring_config:
# batch_monitor.settings.TABLE_SETTINGS, the one place they are defined
DEFAULT_SETTINGS: dict[str, tuple[Any, str]] = {s.name: (s.default, s.description) for s in TABLE_SETTINGS}


# --------------------------------------------------------------------------- helpers


def utc(moment: dt.datetime, name: str = "datetime") -> dt.datetime:
    """``moment`` in UTC; a naive datetime is refused (the store keeps only aware times)."""
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(dt.UTC)


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(dt.UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return utc(value, "a time in a row").isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} {value!r} as JSON")


def recordset(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[sa.Column[Any]], name: str = "r"
) -> sa.TableValuedAlias:
    """``rows`` as a derived table ``name(col type, ...)`` built from ONE bound JSON parameter.

    Use it as the source of an ``INSERT ... SELECT`` or an ``UPDATE ... FROM``: one statement
    and one parameter for any number of rows (no per-row round trips, no parameter limits).
    Keys of each row are the column names; a missing key reads as NULL.
    """
    payload = json.dumps(list(rows), default=_json_default, allow_nan=False)
    typed = [sa.column(c.name, c.type) for c in columns]
    source = sa.func.jsonb_to_recordset(sa.cast(sa.bindparam(None, payload, type_=sa.Text), JSONB))
    return source.table_valued(*typed).render_derived(name=name, with_types=True)


def _clock(value: dt.time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def _seconds(value: dt.timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


# --------------------------------------------------------------------------- configuration


def _step_row(workflow: WorkflowConfig, position: int, step: StepConfig, now: dt.datetime) -> dict[str, Any]:
    step_json = step.model_dump(mode="json")
    expected_start = step.expected_start
    return {
        "workflow_id": workflow.workflow_id,
        "step_id": step.id,
        "position": position,
        "workflow_name": workflow.name,
        "batch_cd": step.batch_code,
        "step_name": step.name,
        "depends_on": list(step.depends_on or []),
        "expected_start": _clock(expected_start) if isinstance(expected_start, dt.time) else expected_start,
        "expected_duration_s": _seconds(step.expected_duration),
        "max_duration_s": _seconds(step.max_duration),
        "finish_by": _clock(step.finish_by),
        "stuck_after_s": step.stuck_after.total_seconds(),
        "min_rps": step.min_rps,
        "repeat_rule": step.repeat.model_dump(mode="json"),
        "enabled": step.enabled,
        "step_config": step_json,
        "source_file": workflow.source_file,
        "config_hash": hashlib.sha256(json.dumps(step_json, sort_keys=True).encode()).hexdigest(),
        "loaded_at": now,
    }


def save_workflow_config(conn: sa.Connection, workflow: WorkflowConfig, now: dt.datetime) -> None:
    """Record the workflow as loaded from YAML: one row per step, and its workflow-level settings.

    Steps no longer in the YAML are deleted. A step's ``loaded_at`` moves only when it changed.
    """
    now = utc(now, "now")
    t = workflow_config
    rows = [_step_row(workflow, i, step, now) for i, step in enumerate(workflow.steps)]
    columns = list(t.c)
    source = recordset(rows, columns)
    stmt = pg_insert(t).from_select([c.name for c in columns], sa.select(*source.c))
    changed = sa.tuple_(t.c.config_hash, t.c.position, t.c.workflow_name, t.c.source_file).is_distinct_from(
        sa.tuple_(
            stmt.excluded.config_hash,
            stmt.excluded.position,
            stmt.excluded.workflow_name,
            stmt.excluded.source_file,
        )
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.workflow_id, t.c.step_id],
            set_={c.name: stmt.excluded[c.name] for c in columns if not c.primary_key},
            where=changed,
        )
    )
    step_ids = [s.id for s in workflow.steps]
    conn.execute(
        sa.delete(t).where(
            t.c.workflow_id == workflow.workflow_id,
            t.c.step_id != sa.all_(sa.bindparam(None, step_ids, type_=ARRAY(sa.String))),
        )
    )
    settings: dict[str, tuple[Any, str]] = {
        "timezone": (workflow.timezone, "Zone of the business calendar"),
        "business_day_start": (_clock(workflow.business_day_start), "Local time a business day begins"),
        "schedule": (workflow.schedule, "Cron schedule of the monitoring DAG"),
        "on_call": (list(workflow.on_call), "Addresses e-mailed about alerts"),
        "chain_finish_by": (_clock(workflow.chain_finish_by), "Local time the whole chain must finish by"),
        "email_min_severity": (workflow.email_min_severity.value, "Lowest severity that is e-mailed"),
        "maintenance": (
            [w.model_dump(mode="json", by_alias=True, exclude_none=True) for w in workflow.maintenance],
            "Maintenance windows: alerts recorded, not mailed",
        ),
        "weekend_days": (list(workflow.weekend_days), "Days of the week whose baselines are the weekend's"),
    }
    _upsert_settings(conn, workflow.workflow_id, settings, now, overwrite=True)


def _upsert_settings(
    conn: sa.Connection,
    scope: str,
    settings: Mapping[str, tuple[Any, str]],
    now: dt.datetime | None,
    *,
    overwrite: bool,
) -> None:
    t = monitoring_config
    rows = [
        {"scope": scope, "key": key, "value": value, "description": description}
        | ({"updated_at": now} if now is not None else {})
        for key, (value, description) in settings.items()
    ]
    stmt = pg_insert(t).values(rows)
    if overwrite:
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.scope, t.c.key],
            set_={
                "value": stmt.excluded.value,
                "description": stmt.excluded.description,
                "updated_at": stmt.excluded.updated_at,
            },
            where=t.c.value.is_distinct_from(stmt.excluded.value),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[t.c.scope, t.c.key])
    conn.execute(stmt)


def ensure_default_settings(conn: sa.Connection) -> None:
    """Insert the global settings that are missing and delete the global keys the monitor does not
    read (e.g. ``business_day_start``, which each workflow's YAML sets); an operator's values are
    never overwritten. The global scope then holds exactly the settings in effect."""
    t = monitoring_config
    conn.execute(sa.delete(t).where(t.c.scope == GLOBAL_SCOPE, t.c.key.not_in(list(DEFAULT_SETTINGS))))
    _upsert_settings(conn, GLOBAL_SCOPE, DEFAULT_SETTINGS, None, overwrite=False)


def setting(conn: sa.Connection, item: Setting[int]) -> float:
    """A global setting's value in batch_monitoring_config: a positive number (a number in text too);
    its default when it is missing or is not one (logged, so an operator's typo is seen)."""
    return setting_value(item, get_setting(conn, item.name))


def setting_value(item: Setting[int], value: Any) -> float:
    """A global setting's stored JSON ``value`` (None: not set) as ``setting`` reads it."""
    try:
        number = float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number) or number <= 0:
        if value is not None:
            log.warning(
                "batch_monitoring_config: %s = %r is not a positive number; using %s", item.name, value, item.default
            )
        return float(item.default)
    return number


def with_stored_defaults(conn: sa.Connection, workflow: WorkflowConfig) -> WorkflowConfig:
    """The workflow as the monitor judges it: ``stuck_threshold_minutes`` is the ``stuck_after`` of
    every step whose YAML (or its ``defaults``) sets none."""
    return workflow.with_stuck_after(dt.timedelta(minutes=setting(conn, STUCK_THRESHOLD_MINUTES)))


def get_setting(conn: sa.Connection, key: str, scope: str = GLOBAL_SCOPE, default: Any = None) -> Any:
    """A setting's JSON value, or ``default`` when it is not set."""
    t = monitoring_config
    row = conn.execute(sa.select(t.c.value).where(t.c.scope == scope, t.c.key == key)).one_or_none()
    return default if row is None else row.value


def get_settings(conn: sa.Connection, wanted: Collection[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Several settings in one query: each ``(scope, key)`` that is set, with its JSON value."""
    t = monitoring_config
    query = sa.select(t.c.scope, t.c.key, t.c.value).where(sa.tuple_(t.c.scope, t.c.key).in_(list(wanted)))
    return {(row.scope, row.key): row.value for row in conn.execute(query)}


# --------------------------------------------------------------------------- snapshots, evaluations


def save_snapshot(conn: sa.Connection, obs: Observations) -> int:
    """Keep what was read from CC&B for one tick (packed); returns the snapshot id (same tick → same id).

    Saving a tick again with different observations drops the evaluation kept for it.
    """
    t = source_snapshots
    values = {
        "workflow_id": obs.workflow_id,
        "business_date": obs.business_date,
        "as_of": utc(obs.as_of, "Observations.as_of"),
    }
    stmt = pg_insert(t).values(**values, payload=packing.pack(obs))
    upsert = stmt.on_conflict_do_update(
        constraint="uq_snapshots_tick",
        set_={"payload": stmt.excluded.payload},
        where=t.c.payload != stmt.excluded.payload,
    ).returning(t.c.id)
    sid = conn.execute(upsert).scalar_one_or_none()
    if sid is None:  # the same tick read again, the same observations: its evaluation stands
        tick = [t.c[name] == value for name, value in values.items()]
        return int(conn.execute(sa.select(t.c.id).where(*tick)).scalar_one())
    conn.execute(sa.delete(tick_evaluations).where(tick_evaluations.c.snapshot_id == sid))
    return int(sid)


def load_snapshot(conn: sa.Connection, snapshot_id: int) -> Observations:
    """The observations of a snapshot saved by :func:`save_snapshot`."""
    t = source_snapshots
    payload = conn.execute(sa.select(t.c.payload).where(t.c.id == snapshot_id)).scalar_one_or_none()
    if payload is None:
        raise StoreError(f"{t.name}: no snapshot with id {snapshot_id} (purged, or never saved)")
    return packing.unpack(Observations, payload)


def save_tick_evaluation(conn: sa.Connection, snapshot_id: int, ev: Evaluation) -> None:
    """Keep the evaluation of a snapshot (packed) for the tasks after the evaluate task (again: replaced)."""
    t = tick_evaluations
    stmt = pg_insert(t).values(snapshot_id=snapshot_id, evaluation=packing.pack(ev))
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[t.c.snapshot_id], set_={"evaluation": stmt.excluded.evaluation})
    )


def load_tick_evaluation(conn: sa.Connection, snapshot_id: int) -> tuple[Evaluation, bytes] | None:
    """The evaluation :func:`save_tick_evaluation` kept for a snapshot, with its packed bytes (the
    day's evaluation is saved as they are: see :func:`save_evaluation`); None: not evaluated yet."""
    t = tick_evaluations
    packed = conn.execute(sa.select(t.c.evaluation).where(t.c.snapshot_id == snapshot_id)).scalar_one_or_none()
    return None if packed is None else (packing.unpack(Evaluation, packed), packed)


def evaluation_values(ev: Evaluation, packed: bytes | None = None) -> dict[str, Any]:
    """A batch_evaluations row's ``payload`` (the evaluation, packed; ``packed`` when it is already)
    and ``memory`` (what the day's next tick reads back of it: see :func:`load_day_memory`)."""
    risk = {key: memory.model_dump(mode="json") for key, memory in ev.risk.items()}
    completed = [state.step_id for state in ev.steps if state.status == StepStatus.COMPLETE]
    return {"payload": packing.pack(ev) if packed is None else packed, "memory": [risk, completed]}


def save_evaluation(conn: sa.Connection, ev: Evaluation, packed: bytes | None = None) -> bool:
    """Keep the day's latest evaluation. False (nothing written) when a newer one is stored.

    ``packed``: ``ev`` as :func:`load_tick_evaluation` read it (not packed a second time)."""
    t = evaluations
    stmt = pg_insert(t).values(
        workflow_id=ev.workflow_id,
        business_date=ev.business_date,
        as_of=utc(ev.as_of, "Evaluation.as_of"),
        chain_status=ev.chain_status.value,
        updated_at=sa.func.now(),
        **evaluation_values(ev, packed),
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[t.c.workflow_id, t.c.business_date],
        set_={
            "as_of": stmt.excluded.as_of,
            "chain_status": stmt.excluded.chain_status,
            "payload": stmt.excluded.payload,
            "memory": stmt.excluded.memory,
            "updated_at": stmt.excluded.updated_at,
        },
        where=t.c.as_of <= stmt.excluded.as_of,
    ).returning(t.c.as_of)
    return conn.execute(upsert).first() is not None


@dataclass(frozen=True)
class DayMemory:
    """What judging a business day again takes from the store (see :func:`load_day_memory`)."""

    progress: dict[str, Progress]  # the day's runs' progress memory, keyed by RunKey.token()
    risk: dict[str, RiskMemory]  # the AT_RISK memory of the day's latest stored evaluation
    completed: set[str]  # the steps the day's latest stored evaluation saw complete
    baselines: list[StepBaseline] | None = None  # the segments asked for (None: not asked)
    # the stuck_threshold_minutes setting (read in the same query): see with_stored_defaults
    stuck_threshold: dt.timedelta = dt.timedelta(minutes=STUCK_THRESHOLD_MINUTES.default or 0)


def load_day_memory(
    conn: sa.Connection, workflow_id: str, business_date: dt.date, segments: Collection[str] | None = None
) -> DayMemory:
    """In ONE query: the day's progress memory, the AT_RISK memory and the steps seen complete of the
    day's latest stored evaluation, the ``stuck_threshold_minutes`` setting, and (``segments`` given)
    the workflow's baselines of those segments.

    Of the stored evaluation only those two parts are read (its ``memory`` column), not the whole of
    it. Before the day's first evaluation both are empty.
    """
    x, e = execution_logs, evaluations
    progress = sa.select(sa.func.json_agg(sa.func.json_build_array(*(x.c[name] for name in _PROGRESS_ROW)))).where(
        x.c.workflow_id == workflow_id, x.c.business_date == business_date, x.c.progress_changed_at.is_not(None)
    )
    remembered = sa.select(e.c.memory).where(e.c.workflow_id == workflow_id, e.c.business_date == business_date)
    c = monitoring_config
    threshold = sa.select(c.c.value).where(c.c.scope == GLOBAL_SCOPE, c.c.key == STUCK_THRESHOLD_MINUTES.name)
    parts = [progress.scalar_subquery(), remembered.scalar_subquery(), threshold.scalar_subquery()]
    if segments is not None:
        b = step_baselines
        learned = sa.select(sa.func.json_agg(sa.func.json_build_array(*(b.c[name] for name in _BASELINE_COLUMNS))))
        parts.append(learned.where(b.c.workflow_id == workflow_id, b.c.segment.in_(sorted(segments))).scalar_subquery())
    row = conn.execute(sa.select(*parts)).one()
    risk, done = row[1] if row[1] is not None else ({}, [])
    return DayMemory(
        progress=dict(_progress_entry(item) for item in row[0] or []),
        risk={key: RiskMemory.model_validate(value) for key, value in (risk or {}).items()},
        completed=set(done),
        baselines=[_baseline_of(item) for item in row[3] or []] if segments is not None else None,
        stuck_threshold=dt.timedelta(minutes=setting_value(STUCK_THRESHOLD_MINUTES, row[2])),
    )


_PROGRESS_ROW = (
    "batch_cd",
    "batch_nbr",
    "rerun_nbr",
    "progress_records",
    "progress_threads_done",
    "progress_changed_at",
    "observed_at",
)


def _progress_entry(item: list[Any]) -> tuple[str, Progress]:
    """One run's progress memory from load_day_memory's JSON (times as PostgreSQL writes them)."""
    batch_cd, batch_nbr, rerun_nbr, records, threads_done, changed_at, observed_at = item
    key = RunKey(batch_cd=batch_cd, batch_nbr=batch_nbr, rerun_nbr=rerun_nbr)
    return key.token(), Progress(
        records=records or 0,
        threads_done=threads_done or 0,
        changed_at=dt.datetime.fromisoformat(changed_at).astimezone(dt.UTC),
        seen_at=dt.datetime.fromisoformat(observed_at).astimezone(dt.UTC),
    )


@dataclass(frozen=True)
class EvaluationHead:
    """Of the day's latest evaluation, what its columns say without unpacking it."""

    business_date: dt.date
    chain_status: StepStatus
    as_of: dt.datetime


def evaluation_head(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> EvaluationHead | None:
    """The head of the day's latest evaluation, None when there is none."""
    t = evaluations
    query = sa.select(t.c.chain_status, t.c.as_of).where(
        t.c.workflow_id == workflow_id, t.c.business_date == business_date
    )
    row = conn.execute(query).first()
    return None if row is None else EvaluationHead(business_date, StepStatus(row.chain_status), row.as_of)


def load_evaluation(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> Evaluation | None:
    """The latest evaluation kept for the day, or None."""
    t = evaluations
    payload = conn.execute(
        sa.select(t.c.payload).where(t.c.workflow_id == workflow_id, t.c.business_date == business_date)
    ).scalar_one_or_none()
    return None if payload is None else packing.unpack(Evaluation, payload)


# --------------------------------------------------------------------------- runs


def _run_row(workflow_id: str, ev: Evaluation, run: RunView, as_of: dt.datetime) -> dict[str, Any]:
    token = RunKey(batch_cd=run.batch_cd, batch_nbr=run.batch_nbr, rerun_nbr=run.rerun_nbr).token()
    progress = ev.progress.get(token)
    return {
        "workflow_id": workflow_id,
        "step_id": run.step_id,
        "batch_cd": run.batch_cd,
        "batch_nbr": run.batch_nbr,
        "rerun_nbr": run.rerun_nbr,
        "business_date": ev.business_date,
        "status": run.status.value,
        "status_code": run.status_code,
        "start_time": run.start,
        "end_time": run.end,
        "duration_s": run.duration_s,
        "records": run.records,
        "errors": run.errors,
        "rps": run.rps,
        "threads_total": run.threads_total,
        "threads_done": run.threads_done,
        "error_text": run.error_text,
        "progress_records": progress.records if progress else None,
        "progress_threads_done": progress.threads_done if progress else None,
        "progress_changed_at": progress.changed_at if progress else None,
        "observed_at": as_of,
    }


_RUN_COLUMNS = (
    "workflow_id",
    "step_id",
    "batch_cd",
    "batch_nbr",
    "rerun_nbr",
    "business_date",
    "status",
    "status_code",
    "start_time",
    "end_time",
    "duration_s",
    "records",
    "errors",
    "rps",
    "threads_total",
    "threads_done",
    "error_text",
    "progress_records",
    "progress_threads_done",
    "progress_changed_at",
    "observed_at",
)
_PROGRESS_COLUMNS = ("progress_records", "progress_threads_done", "progress_changed_at")


def upsert_runs(conn: sa.Connection, workflow_id: str, ev: Evaluation) -> int:
    """Write every run of the evaluation to batch_execution_logs in one statement.

    A run already stored from a newer tick is left alone (a late, older tick never moves a run
    backwards). A finished run that comes back as it is stored is left alone too: its row keeps the
    tick that stored it (``observed_at``), and a tick late in a 5,000-step day rewrites its few
    running or changed runs, not its thousands of finished ones. Progress memory comes from
    ``ev.progress``; a run without an entry keeps what it had. Returns how many rows were inserted
    or updated.
    """
    as_of = utc(ev.as_of, "Evaluation.as_of")
    by_key: dict[tuple[str, int, int], dict[str, Any]] = {}
    for step in ev.steps:
        for run in step.runs:
            by_key[(run.batch_cd, run.batch_nbr, run.rerun_nbr)] = _run_row(workflow_id, ev, run, as_of)
    if not by_key:
        return 0
    t = execution_logs
    columns = [t.c[name] for name in _RUN_COLUMNS]
    source = recordset(list(by_key.values()), columns)
    stmt = pg_insert(t).from_select(list(_RUN_COLUMNS), sa.select(*source.c))
    updates: dict[str, Any] = {
        name: stmt.excluded[name] for name in _RUN_COLUMNS if name not in ("batch_cd", "batch_nbr", "rerun_nbr")
    }
    for name in _PROGRESS_COLUMNS:
        updates[name] = sa.func.coalesce(stmt.excluded[name], t.c[name])
    compared = [name for name in updates if name != "observed_at"]
    changed = sa.tuple_(*(t.c[name] for name in compared)).is_distinct_from(sa.tuple_(*(updates[n] for n in compared)))
    updates["updated_at"] = sa.func.now()
    stmt = stmt.on_conflict_do_update(
        constraint="uq_execution_logs_run",
        set_=updates,
        where=sa.and_(t.c.observed_at <= stmt.excluded.observed_at, sa.or_(t.c.end_time.is_(None), changed)),
    )
    return int(conn.execute(stmt).rowcount)


# --------------------------------------------------------------------------- baselines

BASELINES_COMPUTED_FOR = "baselines_computed_for"  # workflow setting: the business date last learned for
PURGED_BEFORE = "purged_before"  # workflow setting: the cutoffs of the last purge ({"before", "snapshots_before"})
_BASELINE_COLUMNS = tuple(StepBaseline.model_fields)


def has_runs_before(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> bool:
    """Whether the store holds any run of the workflow from a business day before ``business_date``."""
    t = execution_logs
    query = sa.select(sa.exists().where(t.c.workflow_id == workflow_id, t.c.business_date < business_date))
    return bool(conn.execute(query).scalar())


def load_history(conn: sa.Connection, workflow: WorkflowConfig, before: dt.date) -> list[HistoryRun]:
    """The workflow's runs of the ``baseline_days`` business days before ``before``, in ONE query."""
    t = execution_logs
    first = before - dt.timedelta(days=workflow.baseline_days)
    rows = conn.execute(
        sa.select(t.c.step_id, t.c.business_date, t.c.start_time, t.c.end_time, t.c.records, t.c.status).where(
            t.c.workflow_id == workflow.workflow_id, t.c.business_date >= first, t.c.business_date < before
        )
    ).all()
    day_starts = {
        date: bd.window(date, workflow.timezone, workflow.business_day_start)[0] for date in {row[1] for row in rows}
    }
    statuses = {s.value: s for s in RunStatus}
    return [
        HistoryRun(step_id, date, start, end, records or 0, statuses.get(status, RunStatus.UNKNOWN), day_starts[date])
        for step_id, date, start, end, records, status in rows
    ]


def baselines_computed_for(conn: sa.Connection, workflow_id: str) -> dt.date | None:
    """The business date the workflow's baselines were last learned for (None: never)."""
    value = get_setting(conn, BASELINES_COMPUTED_FOR, scope=workflow_id)
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def replace_baselines(
    conn: sa.Connection,
    workflow_id: str,
    baselines: Sequence[StepBaseline],
    computed_for: dt.date,
    now: dt.datetime,
) -> int:
    """Replace every baseline of the workflow with ``baselines`` (one delete, one insert) and note
    the business date they were learned for. Returns how many rows were written."""
    now = utc(now, "now")
    t = step_baselines
    conn.execute(sa.delete(t).where(t.c.workflow_id == workflow_id))
    rows = [
        {**b.model_dump(), "workflow_id": workflow_id, "computed_for": computed_for, "computed_at": now}
        for b in baselines
    ]
    if rows:
        columns = [t.c[name] for name in ("workflow_id", *_BASELINE_COLUMNS, "computed_for", "computed_at")]
        source = recordset(rows, columns)
        conn.execute(sa.insert(t).from_select([c.name for c in columns], sa.select(*source.c)))
    setting = (computed_for.isoformat(), "Business date the step baselines were last learned for")
    _upsert_settings(conn, workflow_id, {BASELINES_COMPUTED_FOR: setting}, now, overwrite=True)
    return len(rows)


def _baseline_of(values: list[Any]) -> StepBaseline:
    """A baseline from its columns as JSON gives them back (a float column's whole number comes back
    an int: validating makes it a float again, faster than pydantic's model_construct)."""
    return StepBaseline(**dict(zip(_BASELINE_COLUMNS, values, strict=True)))


def load_baselines(
    conn: sa.Connection, workflow_id: str, segments: Collection[str] | None = None
) -> list[StepBaseline]:
    """The stored baselines of the workflow (each step's segments, or only ``segments``), in one query.

    Validated again as they are read: pydantic-core's validation of a few numbers takes less time
    than ``model_construct`` (a tick loads them all; 5,000 steps have up to 20,000).
    """
    t = step_baselines
    query = sa.select(*(t.c[name] for name in _BASELINE_COLUMNS)).where(t.c.workflow_id == workflow_id)
    if segments is not None:
        query = query.where(t.c.segment.in_(sorted(segments)))
    return [StepBaseline(**row._mapping) for row in conn.execute(query)]


# --------------------------------------------------------------------------- housekeeping


def summarize_day(conn: sa.Connection, workflow_id: str, business_date: dt.date, now: dt.datetime) -> int:
    """Recompute the day's batch_performance_summary rows from its runs (one per batch code).

    Durations and RPS average the finished runs; success rate is completed / finished runs.
    A row is written only when its figures change (a 5,000-step day's housekeeping rewrote every
    row at every tick): ``computed_at`` is when they were last computed different. Returns how
    many summary rows were written.
    """
    t = execution_logs
    finished = t.c.status.in_([RunStatus.COMPLETE.value, RunStatus.ERROR.value])
    completed = sa.func.count().filter(t.c.status == RunStatus.COMPLETE.value)
    finished_count = sa.func.count().filter(finished)
    query = (
        sa.select(
            t.c.workflow_id,
            t.c.business_date,
            sa.func.max(t.c.step_id),
            t.c.batch_cd,
            sa.func.count(),
            sa.func.count().filter(t.c.status == RunStatus.ERROR.value),
            sa.cast(completed, sa.Float) / sa.func.nullif(finished_count, 0),
            sa.func.avg(t.c.duration_s).filter(finished),
            sa.func.max(t.c.duration_s).filter(finished),
            sa.func.coalesce(sa.func.sum(t.c.records), 0),
            sa.func.coalesce(sa.func.sum(t.c.errors), 0),
            sa.func.avg(t.c.rps).filter(finished),
            sa.func.min(t.c.start_time),
            sa.func.max(t.c.end_time),
            sa.literal(utc(now, "now"), type_=t.c.observed_at.type),
        )
        .where(t.c.workflow_id == workflow_id, t.c.business_date == business_date)
        .group_by(t.c.workflow_id, t.c.business_date, t.c.batch_cd)
    )
    p = performance_summary
    names = [
        "workflow_id",
        "business_date",
        "step_id",
        "batch_cd",
        "runs",
        "failures",
        "success_rate",
        "avg_duration_s",
        "max_duration_s",
        "total_records",
        "total_errors",
        "avg_rps",
        "first_start",
        "last_end",
        "computed_at",
    ]
    stmt = pg_insert(p).from_select(names, query)
    figures = [name for name in names[2:] if name not in ("batch_cd", "computed_at")]
    stmt = stmt.on_conflict_do_update(
        constraint="uq_performance_day_batch",
        set_={name: stmt.excluded[name] for name in names[2:] if name != "batch_cd"},
        where=sa.or_(*(p.c[name].is_distinct_from(stmt.excluded[name]) for name in figures)),
    )
    return int(conn.execute(stmt).rowcount)


def note_purged(conn: sa.Connection, workflow_id: str, cutoffs: Mapping[str, dt.date], now: dt.datetime) -> None:
    """Keep the cutoffs the workflow was last purged with: housekeeping purges again only when they move."""
    value = {key: date.isoformat() for key, date in cutoffs.items()}
    setting = (value, "cutoffs (business dates) of the last purge; the purge runs again when they move")
    _upsert_settings(conn, workflow_id, {PURGED_BEFORE: setting}, now, overwrite=True)


def purge(
    conn: sa.Connection, *, workflow_id: str | None, before: dt.date, snapshots_before: dt.date | None = None
) -> dict[str, int]:
    """Delete history of business days before ``before`` (one workflow, or all when None).

    Raw source snapshots go from ``snapshots_before`` on when it is later (they are the bulk of the
    store and only a tick needs its own). Mails are deleted only once sent; an unsent mail is never
    lost, even when its alert goes. Returns the number of rows deleted per table.
    """

    def of(table: sa.Table, cutoff: dt.date = before) -> list[sa.ColumnElement[bool]]:
        conditions = [table.c.business_date < cutoff]
        if workflow_id is not None:
            conditions.append(table.c.workflow_id == workflow_id)
        return conditions

    counts: dict[str, int] = {}
    o = email_outbox
    old_alert_ids = sa.select(alerts.c.id).where(*of(alerts))
    sent_mail = [o.c.sent_at.is_not(None)]
    if workflow_id is None:
        cutoff = dt.datetime.combine(before, dt.time(), dt.UTC)
        whose = sa.or_(o.c.alert_id.in_(old_alert_ids), sa.and_(o.c.alert_id.is_(None), o.c.created_at < cutoff))
    else:
        whose = o.c.alert_id.in_(old_alert_ids)
    counts[o.name] = conn.execute(sa.delete(o).where(*sent_mail, whose)).rowcount
    counts[alert_events.name] = conn.execute(
        sa.delete(alert_events).where(alert_events.c.alert_id.in_(old_alert_ids))
    ).rowcount
    snapshot_cutoff = max(before, snapshots_before or before)
    for table in (alerts, execution_logs, performance_summary, source_snapshots, evaluations):
        until = snapshot_cutoff if table is source_snapshots else before
        counts[table.name] = conn.execute(sa.delete(table).where(*of(table, until))).rowcount
    return counts
