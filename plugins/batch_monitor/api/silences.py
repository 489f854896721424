"""Silences, snoozes and maintenance windows in the JSON API.

- ``POST silences``: silence a workflow, one step, or some kinds, from ``starts_at`` (default now)
  to ``ends_at``, with a comment (why); ``GET silences`` (``?active=true``, ``?workflow=``) lists
  them with their audit trail; ``DELETE silences/{id}`` ends one now (the row stays).
- ``POST alerts/{id}/snooze``: a silence of that one alert until ``until``.
- The alerts the API returns say ``silenced: "silenced until 11:00 by op1: planned rerun"`` while a
  silence or maintenance window covers them; the timeline lists the day's maintenance windows.

Changing silences needs the same right as acknowledging: edit access to the workflow's DAG (a
viewer gets 403; no token 401). A time without a UTC offset is the workflow's local time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from batch_monitor import silences as pure
from batch_monitor.api import queries
from batch_monitor.api.access import UserDep, may, readable, require
from batch_monitor.api.db import StoreDep
from batch_monitor.api.errors import excerpt
from batch_monitor.api.limits import BIGINT_MAX, MAX_DATE, MIN_DATE, read_body
from batch_monitor.api.queries import WorkflowMeta
from batch_monitor.api.routes import (
    AUTH_ERRORS,
    BODY_ERRORS,
    NOT_FOUND,
    AlertId,
    JsonOnly,
    WorkflowParam,
    WritableAlert,
    bad_parameter,
    utc_now,
)
from batch_monitor.api.schemas import (
    SilenceActionResponse,
    SilenceBody,
    SilenceEventOut,
    SilenceOut,
    SilencesResponse,
    SnoozeBody,
)
from batch_monitor.constants import CHAIN_STEP_ID
from batch_monitor.settings import MAX_SILENCE_DAYS
from batch_monitor.silences import Silence
from batch_monitor.store import repository
from batch_monitor.store import silences as store_silences

router = APIRouter(prefix="/api/v1")

SilenceId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="the silence's id")]
NO_SILENCE: dict[int | str, dict[str, Any]] = {404: {"description": "no such silence"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "a value is invalid: loc names the field"}}
_Body = TypeVar("_Body", bound=BaseModel)


def _body_error(kind: str, loc: tuple[str | int, ...], message: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": value}])


def _parse(raw: bytes, model: type[_Body]) -> _Body:
    """The JSON body as ``model``: 422 naming the field for anything else."""
    try:
        data = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:
        raise _body_error(
            "json_invalid", ("body",), f"the body is not JSON text: {excerpt(str(exc), 120)}", raw
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from exc


def _max_length(conn: StoreDep) -> dt.timedelta:
    try:
        return dt.timedelta(days=repository.setting(conn, MAX_SILENCE_DAYS))
    except OverflowError:
        return dt.timedelta(days=MAX_SILENCE_DAYS.default)


def _aware(moment: dt.datetime, timezone: str, field: str) -> dt.datetime:
    """A body time in UTC (naive: the workflow's local time); 422 outside the dates the API takes."""
    if not MIN_DATE <= moment.date() <= MAX_DATE:
        raise _body_error("value_error", ("body", field), f"must lie between {MIN_DATE} and {MAX_DATE}", str(moment))
    aware = moment.replace(tzinfo=ZoneInfo(timezone)) if moment.tzinfo is None else moment
    return aware.astimezone(dt.UTC)


def _window(
    starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime, longest: dt.timedelta, end_field: str
) -> None:
    """422 naming ``end_field`` unless the silence ends after now, after it starts, and within ``longest``."""
    if ends_at <= now:
        raise _body_error("value_error", ("body", end_field), "lies in the past", ends_at.isoformat())
    if ends_at <= starts_at:
        message = f"must come after starts_at ({starts_at.isoformat()})"
        raise _body_error("value_error", ("body", end_field), message, ends_at.isoformat())
    if ends_at - starts_at > longest:
        days = longest / dt.timedelta(days=1)
        message = f"a silence may last at most {days:g} days (setting {MAX_SILENCE_DAYS.name})"
        raise _body_error("value_error", ("body", end_field), message, ends_at.isoformat())


def _meta(metas: Sequence[WorkflowMeta], workflow_id: str) -> WorkflowMeta | None:
    return next((m for m in metas if m.workflow_id == workflow_id), None)


def silence_out(
    silence: Silence, meta: WorkflowMeta | None, now: dt.datetime, trail: Sequence[Mapping[str, Any]] = ()
) -> SilenceOut:
    """A silence as the API shows it."""
    timezone = meta.timezone if meta else "UTC"
    assert silence.id is not None
    return SilenceOut(
        id=silence.id,
        workflow_id=silence.workflow_id,
        step_id=silence.step_id,
        kinds=list(silence.kinds) if silence.kinds is not None else None,
        alert_id=silence.alert_id,
        source=silence.source,
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        ended_at=silence.ended_at,
        ended_by=silence.ended_by,
        created_by=silence.created_by,
        created_at=silence.created_at,
        comment=silence.comment,
        active=silence.active(now),
        text=pure.describe(silence, timezone, now),
        timezone=timezone,
        events=[SilenceEventOut.model_validate(e) for e in trail],
    )


def _response(conn: StoreDep, silence: Silence, changed: bool, message: str, now: dt.datetime) -> SilenceActionResponse:
    assert silence.id is not None
    meta = _meta(queries.workflows(conn), silence.workflow_id)
    trail = store_silences.events(conn, [silence.id]).get(silence.id, [])
    return SilenceActionResponse(silence=silence_out(silence, meta, now, trail), changed=changed, message=message)


@router.post(
    "/silences",
    status_code=status.HTTP_201_CREATED,
    response_model=SilenceActionResponse,
    responses={**AUTH_ERRORS, **BODY_ERRORS, **INVALID},
    tags=["silences"],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": SilenceBody.model_json_schema()}}}
    },
)
async def create_silence(request: Request, user: UserDep, _json: JsonOnly, conn: StoreDep) -> SilenceActionResponse:
    """Silence a workflow (``step`` null), one step, or some ``kinds`` of it, until ``ends_at``.

    A caller who may change no workflow at all gets 403 before the body is read; otherwise the
    body names the workflow, so it is read (at most 64 KiB) before that workflow's permission is checked.
    """
    metas = queries.workflows(conn)
    if not any(may(request, user, "PUT", m.workflow_id) for m in metas):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"user {user.get_name()!r} may not silence any workflow (needs edit access to its DAG batch_monitor_<id>)",
        )
    body = _parse(await read_body(request), SilenceBody)
    meta = _meta(metas, body.workflow)
    if meta is None:
        known = ", ".join(m.workflow_id for m in metas) or "none recorded yet"
        raise _body_error("value_error", ("body", "workflow"), f"unknown workflow; known: {known}", body.workflow)
    require(request, user, "PUT", meta.workflow_id)
    if body.step is not None and body.step != CHAIN_STEP_ID and body.step not in {s.step_id for s in meta.steps}:
        message = f"workflow {meta.workflow_id!r} has no step {body.step!r}"
        raise _body_error("value_error", ("body", "step"), message, body.step)
    now = utc_now()
    starts_at = now if body.starts_at is None else _aware(body.starts_at, meta.timezone, "starts_at")
    ends_at = _aware(body.ends_at, meta.timezone, "ends_at")
    _window(starts_at, ends_at, now, _max_length(conn), "ends_at")
    kinds = sorted({k.value for k in body.kinds}) if body.kinds else None
    silence = store_silences.create(
        conn,
        workflow_id=meta.workflow_id,
        step_id=body.step,
        kinds=kinds,
        alert_id=None,
        starts_at=starts_at,
        ends_at=ends_at,
        comment=body.comment.strip(),
        user=user.get_name(),
        now=now,
    )
    conn.commit()
    return _response(conn, silence, True, f"silence {silence.id} created by {silence.created_by}", now)


@router.get("/silences", response_model=SilencesResponse, responses=AUTH_ERRORS, tags=["silences"])
def list_silences(
    request: Request,
    user: UserDep,
    conn: StoreDep,
    workflow: Annotated[WorkflowParam, Query(description="only this workflow's silences")] = None,
    active: Annotated[bool, Query(description="only those in effect now or yet to come")] = False,
) -> SilencesResponse:
    """Silences of the workflows the caller may read, newest first, with who, when, why and scope."""
    metas = queries.workflows(conn)
    ids = readable(request, user, [m.workflow_id for m in metas])
    if workflow is not None:
        if _meta(metas, workflow) is None:
            bad_parameter("workflow", f"unknown workflow {workflow!r}", workflow)
        require(request, user, "GET", workflow)
        ids = [workflow]
    now = utc_now()
    found = store_silences.listed(conn, ids, active_at=now if active else None)
    trails = store_silences.events(conn, [s.id for s in found if s.id is not None])
    by_id = {m.workflow_id: m for m in metas}
    return SilencesResponse(
        silences=[silence_out(s, by_id.get(s.workflow_id), now, trails.get(s.id or 0, [])) for s in found]
    )


@router.delete(
    "/silences/{silence_id}",
    response_model=SilenceActionResponse,
    responses={**AUTH_ERRORS, **NO_SILENCE},
    tags=["silences"],
)
def end_silence(request: Request, user: UserDep, conn: StoreDep, silence_id: SilenceId) -> SilenceActionResponse:
    """End a silence now. It is kept (with who ended it and when); a held mail goes at the next tick."""
    silence = store_silences.get(conn, silence_id)
    if silence is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence with id {silence_id}")
    require(request, user, "PUT", silence.workflow_id)
    now = utc_now()
    result = store_silences.end(conn, silence_id, user=user.get_name(), comment=None, now=now)
    conn.commit()
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence with id {silence_id}")
    if result.outcome == "ended":
        message = f"silence {silence_id} ended by {user.get_name()}"
    else:
        message = f"silence {silence_id} was already over; nothing changed"
    return _response(conn, result.silence, result.outcome == "ended", message, now)


@router.post(
    "/alerts/{alert_id}/snooze",
    status_code=status.HTTP_201_CREATED,
    response_model=SilenceActionResponse,
    responses={**AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS},
    tags=["silences"],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": SnoozeBody.model_json_schema()}}}
    },
)
async def snooze_alert(
    request: Request,
    user: UserDep,
    _json: JsonOnly,
    conn: StoreDep,
    alert_id: AlertId,
    workflow_id: WritableAlert,
) -> SilenceActionResponse:
    """Silence this one alert until ``until`` (a snooze): nothing about it is mailed meanwhile."""
    body = _parse(await read_body(request), SnoozeBody)
    row = queries.alert_row(conn, alert_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert_id}")
    meta = _meta(queries.workflows(conn), workflow_id)
    now = utc_now()
    until = _aware(body.until, meta.timezone if meta else "UTC", "until")
    _window(now, until, now, _max_length(conn), "until")
    silence = store_silences.create(
        conn,
        workflow_id=workflow_id,
        step_id=row["step_id"],
        kinds=[row["kind"]],
        alert_id=alert_id,
        starts_at=now,
        ends_at=until,
        comment=body.comment.strip(),
        user=user.get_name(),
        now=now,
    )
    conn.commit()
    return _response(
        conn, silence, True, f"alert {alert_id} snoozed by {silence.created_by} (silence {silence.id})", now
    )
