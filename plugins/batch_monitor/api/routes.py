"""The JSON API under /batch-monitor/api/v1/. Every endpoint needs an Airflow token.

"Now" (the default business day, the last 24 hours) is read from the wall clock here, at the
edge, and nowhere else; ``date=`` picks any business day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Generic, Literal, NoReturn, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from batch_monitor import deadman
from batch_monitor.api import cache, queries, views
from batch_monitor.api.access import UserDep, dag_id_of, may, readable, require
from batch_monitor.api.db import ReadingStoreDep, StoreDep
from batch_monitor.api.errors import excerpt
from batch_monitor.api.export_xlsx import XLSX_MEDIA_TYPE, logs_xlsx
from batch_monitor.api.limits import (
    BIGINT_MAX,
    BODY_LIMIT,
    DATE_RANGE,
    MAX_OFFSET,
    WORKFLOW_ID_CHARS,
    BusinessDate,
    CleanText,
    read_body,
)
from batch_monitor.api.queries import LogFilter, WorkflowMeta
from batch_monitor.api.schemas import (
    ActiveAlertsResponse,
    AlertActionBody,
    AlertActionResponse,
    AlertDetailResponse,
    AlertEventOut,
    AlertOut,
    BatchLogsResponse,
    HealthNow,
    HealthResponse,
    Labels,
    LogOut,
    RecentFailure,
    StepHealth,
    TimelineResponse,
    WorkflowInfo,
    WorkflowsResponse,
)
from batch_monitor.constants import KIND_LABELS, STEP_STATUS_LABELS, RunStatus
from batch_monitor.silences import Silence
from batch_monitor.store import actions
from batch_monitor.store import silences as stored_silences

router = APIRouter(prefix="/api/v1")

CSV_ROW_LIMIT = 100_000
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such alert"}}
# the answers kept per store revision (api/cache.py): a conditional request may get 304
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "unchanged since the ETag sent in If-None-Match"}}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": f"the body is larger than {BODY_LIMIT // 1024} KiB"},
    415: {"description": "the body is not sent as application/json"},
}
# The action body is read by `action_body` only after the token and the permission were checked,
# so it is documented here rather than declared as a FastAPI body parameter (read before anything).
ACTION_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": 'optional: {"comment": "..."}',
        "content": {"application/json": {"schema": AlertActionBody.model_json_schema()}},
    }
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no Airflow token (Bearer header or the UI's session cookie)"},
    403: {"description": "the token's user may not see or change this workflow"},
}

WorkflowParam = Annotated[CleanText, Field(max_length=WORKFLOW_ID_CHARS)] | None
AlertId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="the alert's id")]
DateParam = BusinessDate | None

SortColumn = Literal[
    "start_time", "end_time", "business_date", "duration_s", "records", "errors", "rps", "batch_cd", "status", "step_id"
]


def utc_now() -> dt.datetime:
    """The wall clock, read only at the API edge."""
    return dt.datetime.now(dt.UTC)


def bad_parameter(name: str, message: str, value: Any) -> NoReturn:
    """A 422 shaped like FastAPI's own validation errors, naming the query parameter."""
    raise RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}])


def require_json(request: Request) -> None:
    """State-changing requests must carry JSON, so a cross-site HTML form cannot send them."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            'send a JSON body with Content-Type: application/json, e.g. {"comment": "looking into it"}',
        )


def _pick_workflow(request: Request, user: UserDep, metas: list[WorkflowMeta], workflow: str | None) -> WorkflowMeta:
    """The asked-for workflow (422 if unknown, 403 if not readable), or the first readable one."""
    if workflow is not None:
        meta = next((m for m in metas if m.workflow_id == workflow), None)
        if meta is None:
            known = ", ".join(m.workflow_id for m in metas) or "none recorded yet"
            bad_parameter("workflow", f"unknown workflow {workflow!r}; known: {known}", workflow)
        require(request, user, "GET", meta.workflow_id)
        return meta
    allowed = readable(request, user, [m.workflow_id for m in metas])
    if not allowed:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "no workflow to show: the monitoring DAGs record their workflows on their first run"
            if not metas
            else "you may not read any workflow's monitoring DAG",
        )
    return next(m for m in metas if m.workflow_id == allowed[0])


# --------------------------------------------------------------------------- workflows


@router.get("/workflows", response_model=WorkflowsResponse, responses=AUTH_ERRORS, tags=["workflows"])
def get_workflows(request: Request, user: UserDep, conn: StoreDep) -> WorkflowsResponse:
    """The configured workflows the caller may read, their steps, the page's refresh interval and labels."""
    now = utc_now()
    metas = queries.workflows(conn)
    latest = queries.latest_business_dates(conn)
    allowed = set(readable(request, user, [m.workflow_id for m in metas]))
    infos = [
        WorkflowInfo(
            workflow_id=m.workflow_id,
            name=m.name,
            dag_id=dag_id_of(m.workflow_id),
            timezone=m.timezone,
            business_day_start=m.business_day_start,
            current_business_date=m.business_date(now),
            latest_business_date=latest.get(m.workflow_id),
            can_acknowledge=may(request, user, "PUT", m.workflow_id),
            steps=[views.step_info(s) for s in m.steps],
        )
        for m in metas
        if m.workflow_id in allowed
    ]
    return WorkflowsResponse(
        user=user.get_name(),
        refresh_interval_seconds=queries.refresh_interval_seconds(conn),
        server_time=now,
        workflows=infos,
        labels=Labels(alert_kinds=KIND_LABELS, step_statuses=STEP_STATUS_LABELS),
    )


# --------------------------------------------------------------------------- alerts


R = TypeVar("R", TimelineResponse, ActiveAlertsResponse)


@dataclass(frozen=True)
class KeptMarked(Generic[R]):
    """A response as built for one revision of the store, before any silence marks, and its bodies
    by the marks in effect (a silence starts or ends without a tick)."""

    response: R  # never changed: marks go on a copy
    shown: Callable[[R], list[AlertOut]]  # the alerts in it a silence may mark
    variants: cache.Kept[cache.Encoded] = field(default_factory=lambda: cache.Kept(entries=4))

    def render(self, marks: tuple[views.SilenceMark, ...]) -> cache.Encoded:
        response = self.response
        if marks:
            response = response.model_copy(deep=True)
            views.mark_silenced(self.shown(response), marks)
        return cache.Encoded.of(cache.encode(response.model_dump(mode="json", by_alias=True)), compress=True)

    def answer(self, request: Request, in_effect: list[Silence], now: dt.datetime) -> Response:
        """The body with the marks of the silences in effect now (built once per set of marks)."""
        marks = views.silence_marks(self.shown(self.response), in_effect, now) if in_effect else ()
        return cache.json_response(request, self.variants.get_or_build(marks, marks, lambda: self.render(marks)))


# The workflows' stored silences in effect or yet to come, by their version (queries.silences_version).
_silences: cache.Kept[list[Silence]] = cache.Kept()


def _silences_listed(conn: sa.Connection, versions: Mapping[str, Any], now: dt.datetime) -> list[Silence]:
    """The stored silences of the workflows in ``versions`` (workflow id → silences_version), each
    workflow's kept while its version holds."""
    listed: list[Silence] = []
    for workflow_id, version in versions.items():
        listed += _silences.get_or_build(
            workflow_id, version, partial(stored_silences.listed, conn, [workflow_id], active_at=now)
        )
    return listed


# The active alerts by the workflows asked for (one, or all a user may read).
_active_alerts: cache.Kept[KeptMarked[ActiveAlertsResponse]] = cache.Kept()


@router.get(
    "/active-alerts",
    response_model=ActiveAlertsResponse,
    responses={**AUTH_ERRORS, **NOT_MODIFIED},
    tags=["alerts"],
)
def get_active_alerts(
    request: Request,
    user: UserDep,
    conn: ReadingStoreDep,
    workflow: Annotated[WorkflowParam, Query(description="only this workflow's alerts")] = None,
) -> Response:
    """Active alerts (open or acknowledged, not resolved), CRITICAL first then newest, with counts.

    Built once per revision of the alerts (api/cache.py); sent with an ETag, 304 on If-None-Match.
    """
    now = utc_now()

    def plan(metas: list[WorkflowMeta]) -> tuple[tuple[list[WorkflowMeta], list[str]], list[Any]]:
        if workflow is not None:
            ids = [_pick_workflow(request, user, metas, workflow).workflow_id]
        else:
            ids = readable(request, user, [m.workflow_id for m in metas])
        return (metas, ids), [queries.active_alerts_version(ids), *(queries.silences_version(w, now) for w in ids)]

    fingerprint, (metas, ids), row = queries.read_configured(conn, plan)

    def build() -> KeptMarked[ActiveAlertsResponse]:
        response = views.active_alerts(queries.active_alerts(conn, ids), {m.workflow_id: m for m in metas})
        return KeptMarked(response, lambda r: r.alerts)

    kept = _active_alerts.get_or_build(tuple(ids), (fingerprint, row[0]), build)
    listed = _silences_listed(conn, dict(zip(ids, row[1:], strict=True)), now)
    return kept.answer(request, queries.in_effect_of(listed, _metas_of(metas, ids), now), now)


def _metas_of(metas: list[WorkflowMeta], ids: list[str]) -> list[WorkflowMeta]:
    return [m for m in metas if m.workflow_id in ids]


@router.get(
    "/alerts/{alert_id}", response_model=AlertDetailResponse, responses={**AUTH_ERRORS, **NOT_FOUND}, tags=["alerts"]
)
def get_alert(request: Request, user: UserDep, conn: StoreDep, alert_id: AlertId) -> AlertDetailResponse:
    """One alert with its history: opened, re-opened, e-mailed, acknowledged, resolved."""
    row = queries.alert_row(conn, alert_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert_id}")
    require(request, user, "GET", row["workflow_id"])
    metas = {m.workflow_id: m for m in queries.workflows(conn)}
    alert = views.alert_out(row, metas)
    now = utc_now()
    in_effect = queries.silences_in_effect(conn, _metas_of(list(metas.values()), [alert.workflow_id]), now)
    views.annotate_silenced([alert], in_effect, now)
    return AlertDetailResponse(
        alert=alert,
        events=[AlertEventOut.model_validate(e) for e in queries.alert_event_rows(conn, alert_id)],
        can_acknowledge=may(request, user, "PUT", row["workflow_id"]),
    )


def _writable_alert_workflow(request: Request, user: UserDep, conn: StoreDep, alert_id: AlertId) -> str:
    workflow_id = queries.alert_workflow(conn, alert_id)
    if workflow_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert_id}")
    require(request, user, "PUT", workflow_id)
    return workflow_id


# Dependencies run in this order: token (401), JSON content type (415), alert (404), permission
# (403), and only then the body is read (413, 422): action_body depends on the permission check.
WritableAlert = Annotated[str, Depends(_writable_alert_workflow)]


def _body_error(kind: str, message: str, raw: bytes) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message, "input": raw}])


async def action_body(request: Request, _workflow: WritableAlert) -> AlertActionBody | None:
    """The optional ``{"comment": ...}`` body: at most BODY_LIMIT bytes (413), JSON (422), valid (422)."""
    raw = await read_body(request)
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, too deep, too many digits
        raise _body_error("json_invalid", f"the body is not JSON text: {excerpt(str(exc), 120)}", raw) from exc
    if data is None:
        return None
    try:
        return AlertActionBody.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from exc


def _comment(body: AlertActionBody | None) -> str | None:
    text = (body.comment or "").strip() if body is not None else ""
    return text or None


def _alert_response(conn: StoreDep, alert_id: int, changed: bool, message: str) -> AlertActionResponse:
    row = queries.alert_row(conn, alert_id)
    if row is None:  # deleted between the change and this read (purge): say so plainly
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert_id}")
    metas = {m.workflow_id: m for m in queries.workflows(conn)}
    return AlertActionResponse(alert=views.alert_out(row, metas), changed=changed, message=message)


JsonOnly = Annotated[None, Depends(require_json)]
ActionBody = Annotated[AlertActionBody | None, Depends(action_body)]


@router.post(
    "/acknowledge-alert/{alert_id}",
    response_model=AlertActionResponse,
    responses={**AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS, 409: {"description": "the alert is resolved"}},
    tags=["alerts"],
    openapi_extra=ACTION_BODY_DOC,
)
def acknowledge_alert(
    request: Request,
    user: UserDep,
    _json: JsonOnly,
    conn: StoreDep,
    alert_id: AlertId,
    _workflow: WritableAlert,
    body: ActionBody,
) -> AlertActionResponse:
    """Acknowledge an open alert as the token's user. Acknowledging again changes nothing and says so."""
    result = actions.acknowledge_alert(conn, alert_id, user=user.get_name(), comment=_comment(body), now=utc_now())
    conn.commit()
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert_id}")
    if result.outcome == "resolved":
        raise HTTPException(status.HTTP_409_CONFLICT, f"alert {alert_id} is resolved; there is nothing to acknowledge")
    if result.ok:
        message = f"alert {alert_id} acknowledged by {result.acknowledged_by}"
    else:
        when = result.acknowledged_at.isoformat() if result.acknowledged_at else "earlier"
        message = f"alert {alert_id} was already acknowledged by {result.acknowledged_by} at {when}; nothing changed"
    return _alert_response(conn, alert_id, result.ok, message)


@router.post(
    "/alerts/{alert_id}/resolve",
    response_model=AlertActionResponse,
    responses={**AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS},
    tags=["alerts"],
    openapi_extra=ACTION_BODY_DOC,
)
def resolve_alert(
    request: Request,
    user: UserDep,
    _json: JsonOnly,
    conn: StoreDep,
    alert_id: AlertId,
    _workflow: WritableAlert,
    body: ActionBody,
) -> AlertActionResponse:
    """Resolve an alert by hand. It reopens only if its condition clears and later comes back."""
    result = actions.resolve_alert(conn, alert_id, user=user.get_name(), comment=_comment(body), now=utc_now())
    conn.commit()
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert_id}")
    if result.ok:
        message = f"alert {alert_id} resolved by {result.resolved_by}"
    else:
        message = f"alert {alert_id} was already resolved by {result.resolved_by}; nothing changed"
    return _alert_response(conn, alert_id, result.ok, message)


# --------------------------------------------------------------------------- timeline


_timelines: cache.Kept[KeptMarked[TimelineResponse]] = cache.Kept()


def _build_timeline(conn: sa.Connection, meta: WorkflowMeta, business_date: dt.date) -> KeptMarked[TimelineResponse]:
    ev = queries.evaluation(conn, meta.workflow_id, business_date)
    alerts = queries.day_alerts(conn, meta.workflow_id, business_date)
    response = views.timeline(meta, business_date, ev, alerts, queries.baselines(conn, meta.workflow_id))
    return KeptMarked(response, views.shown_alerts)


@router.get(
    "/batch-timeline",
    response_model=TimelineResponse,
    responses={**AUTH_ERRORS, **NOT_MODIFIED},
    tags=["timeline"],
)
def get_batch_timeline(
    request: Request,
    user: UserDep,
    conn: ReadingStoreDep,
    workflow: Annotated[WorkflowParam, Query(description="workflow id; default: the first one")] = None,
    date: Annotated[
        DateParam, Query(description=f"business date (YYYY-MM-DD, {DATE_RANGE}); default: the current business day")
    ] = None,
) -> Response:
    """The business day's steps in order: state, times, progress, runs, predictions, alerts.

    Built once per revision of the store (api/cache.py); sent with an ETag, 304 on If-None-Match.
    """
    now = utc_now()

    def plan(metas: list[WorkflowMeta]) -> tuple[tuple[WorkflowMeta, dt.date], list[Any]]:
        meta = _pick_workflow(request, user, metas, workflow)
        business_date = date or meta.business_date(now)
        columns = queries.timeline_revision_columns(meta.workflow_id, business_date)
        return (meta, business_date), [*columns, queries.silences_version(meta.workflow_id, now)]

    fingerprint, (meta, business_date), row = queries.read_configured(conn, plan)
    revision = queries.revision_of(row[:-1])
    kept = _timelines.get_or_build(
        (meta.workflow_id, business_date), (fingerprint, revision), lambda: _build_timeline(conn, meta, business_date)
    )
    listed = _silences_listed(conn, {meta.workflow_id: row[-1]}, now)
    return kept.answer(request, queries.in_effect_of(listed, [meta], now), now)


# --------------------------------------------------------------------------- run history


@router.get(
    "/batch-logs",
    response_model=BatchLogsResponse,
    responses={
        **AUTH_ERRORS,
        200: {
            "content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}},
            "description": "JSON page, or every matching row as CSV (format=csv) or an Excel workbook (format=xlsx)",
        },
    },
    tags=["runs"],
)
def get_batch_logs(
    request: Request,
    user: UserDep,
    conn: StoreDep,
    workflow: Annotated[WorkflowParam, Query(description="workflow id; default: every readable workflow")] = None,
    batch_code: Annotated[CleanText | None, Query(max_length=30, description="CC&B batch code, e.g. C1-PPBTR")] = None,
    run_status: Annotated[RunStatus | None, Query(alias="status", description="run status")] = None,
    date_from: Annotated[DateParam, Query(description=f"first business date (inclusive; {DATE_RANGE})")] = None,
    date_to: Annotated[DateParam, Query(description=f"last business date (inclusive; {DATE_RANGE})")] = None,
    q: Annotated[CleanText | None, Query(max_length=200, description="text to find in the error message")] = None,
    sort: Annotated[SortColumn, Query(description="column to sort by")] = "start_time",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    format: Annotated[
        Literal["json", "csv", "xlsx"], Query(description="csv or xlsx: every matching row as a file")
    ] = "json",
) -> Any:
    """Run history (one row per CC&B run) with filters, sorting and pagination; CSV and xlsx export."""
    if date_from is not None and date_to is not None and date_from > date_to:
        bad_parameter("date_from", f"date_from {date_from} is after date_to {date_to}", date_from.isoformat())
    metas = queries.workflows(conn)
    if workflow is not None:
        ids = [_pick_workflow(request, user, metas, workflow).workflow_id]
    else:
        ids = readable(request, user, [m.workflow_id for m in metas])
    filters = LogFilter(
        workflow_ids=ids,
        batch_code=batch_code or None,
        status=run_status,
        date_from=date_from,
        date_to=date_to,
        search=q or None,
        sort=sort,
        descending=order == "desc",
    )
    if format == "csv":
        _total, rows = queries.batch_logs(conn, filters, limit=CSV_ROW_LIMIT)
        text = views.logs_csv((LogOut.model_validate(r) for r in rows), {m.workflow_id: m for m in metas})
        return Response(
            content=text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="batch-logs.csv"'},
        )
    if format == "xlsx":
        _total, rows = queries.batch_logs(conn, filters, limit=CSV_ROW_LIMIT)
        book = logs_xlsx((LogOut.model_validate(r) for r in rows), {m.workflow_id: m for m in metas})
        return Response(
            content=book,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="batch-logs.xlsx"'},
        )
    total, rows = queries.batch_logs(conn, filters, limit=limit, offset=offset)
    return BatchLogsResponse(total=total, limit=limit, offset=offset, items=[LogOut.model_validate(r) for r in rows])


# --------------------------------------------------------------------------- health


def _health_rest(
    conn: sa.Connection, meta: WorkflowMeta, first: dt.date, today: dt.date, now: HealthNow
) -> cache.Spliced:
    """batch-health encoded but for HealthNow's fields, built from the store's runs and alerts
    (kept per revision)."""
    per_batch = queries.step_health(conn, meta.workflow_id, first, today)
    per_step = []
    for step in meta.steps:
        stats = per_batch.get(step.batch_code, {})
        finished, failed = int(stats.get("finished", 0)), int(stats.get("failed", 0))
        per_step.append(
            StepHealth(
                step_id=step.step_id,
                batch_code=step.batch_code,
                name=step.name,
                runs_finished=finished,
                runs_failed=failed,
                success_rate=(finished - failed) / finished if finished else None,
                avg_duration_s=stats.get("avg_duration_s"),
                avg_rps=stats.get("avg_rps"),
            )
        )
    finished = sum(int(s.get("finished", 0)) for s in per_batch.values())
    failed = sum(int(s.get("failed", 0)) for s in per_batch.values())
    response = HealthResponse(
        workflow_id=meta.workflow_id,
        timezone=meta.timezone,
        business_date=today,
        window_days=(today - first).days + 1,
        window_first_date=first,
        success_rate=(finished - failed) / finished if finished else None,
        runs_finished=finished,
        runs_failed=failed,
        per_step=per_step,
        avg_rps_today=queries.average_rps(conn, meta.workflow_id, today),
        breaches=queries.count_breaches(conn, meta.workflow_id, first, today),
        recent_failures=[
            RecentFailure.model_validate(r) for r in queries.recent_failures(conn, meta.workflow_id, first, today)
        ],
        **now.model_dump(),
    )
    return cache.Spliced.of(response.model_dump(mode="json", by_alias=True), HealthNow.model_fields)


_health: cache.Kept[cache.Spliced] = cache.Kept()


@router.get(
    "/batch-health",
    response_model=HealthResponse,
    responses={**AUTH_ERRORS, **NOT_MODIFIED},
    tags=["health"],
)
def get_batch_health(
    request: Request,
    user: UserDep,
    conn: ReadingStoreDep,
    workflow: Annotated[WorkflowParam, Query(description="workflow id; default: the first one")] = None,
    days: Annotated[int, Query(ge=1, le=90, description="window in business days, ending with `date`")] = 7,
    date: Annotated[
        DateParam, Query(description=f"last business day of the window ({DATE_RANGE}); default: today")
    ] = None,
) -> Response:
    """Success rates (overall, per step), failures of the last 24 h, today's RPS, active alerts.

    What depends on the clock (the 24 hours, the dead man's switch) and the active alerts are read
    on every request; the rest is kept per revision of the store (api/cache.py). Sent with an ETag.
    """
    now = utc_now()

    def plan(metas: list[WorkflowMeta]) -> tuple[tuple[WorkflowMeta, dt.date, dt.date, dt.datetime], list[Any]]:
        meta = _pick_workflow(request, user, metas, workflow)
        today = date or meta.business_date(now)
        first = today - dt.timedelta(days=days - 1)
        reference = min(now, meta.window(today)[1])
        return (meta, first, today, reference), queries.health_probe_columns(meta.workflow_id, first, today, reference)

    fingerprint, (meta, first, today, reference), row = queries.read_configured(conn, plan)
    probe = queries.health_probe_of(row)
    alive = deadman.pulse(probe.last_tick_at, meta.schedule, now)
    live = HealthNow(
        reference_time=reference,
        failed_last_24h=probe.failed_last_24h,
        active_alerts=probe.active_alerts,
        monitor_stale=alive.stale,
        last_tick_at=alive.last_tick_at,
    )
    rest = _health.get_or_build(
        (meta.workflow_id, first, today),
        (fingerprint, probe.revision),
        lambda: _health_rest(conn, meta, first, today, live),
    )
    return cache.json_response(request, rest.fill(live.model_dump(mode="json", by_alias=True)))
