"""Turning store rows into API responses: pure functions, no database, no Airflow, no clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pendulum

from batch_monitor.api.queries import StepMeta, WorkflowMeta
from batch_monitor.api.schemas import (
    ActiveAlertsResponse,
    AlertOut,
    LogOut,
    StepInfo,
    TimelineResponse,
    TimelineStep,
)
from batch_monitor.constants import CHAIN_STEP_ID, FindingKind, RunStatus, Severity, StepStatus
from batch_monitor.models import Evaluation, StepState

LATE_KINDS = (FindingKind.LATE_START, FindingKind.MISSED_DEADLINE)


def step_info(step: StepMeta) -> StepInfo:
    return StepInfo.model_validate(step, from_attributes=True)


def alert_out(row: Mapping[str, Any], metas: Mapping[str, WorkflowMeta]) -> AlertOut:
    """An alert row with its step's name and its workflow's time zone."""
    meta = metas.get(row["workflow_id"])
    extra = {
        "step_name": meta.step_name(row["step_id"]) if meta else row["step_id"],
        "timezone": meta.timezone if meta else "UTC",
        "details": row.get("details") or {},
        "caused_by": row.get("incident_id") if row.get("incident_id") not in (None, row["id"]) else None,
    }
    return AlertOut.model_validate({**row, **extra})


def active_alerts(rows: Sequence[Mapping[str, Any]], metas: Mapping[str, WorkflowMeta]) -> ActiveAlertsResponse:
    """Open and acknowledged alerts, most severe first and newest first within a severity, with counts.

    ``rows`` come newest first; the sort keeps that order within a severity, so a root cause
    (the CRITICAL failure) stays on top of the warnings it set off later.
    """
    rows = sorted(rows, key=lambda r: -Severity(r["severity"]).rank)
    by_severity = Counter({s.value: 0 for s in sorted(Severity, key=lambda s: -s.rank)})
    by_kind = Counter({k.value: 0 for k in FindingKind})
    for row in rows:
        by_severity[row["severity"]] += 1
        by_kind[row["kind"]] += 1
    acknowledged = sum(1 for r in rows if r["state"] == "acknowledged")
    return ActiveAlertsResponse(
        total=len(rows),
        unacknowledged=len(rows) - acknowledged,
        acknowledged=acknowledged,
        by_severity=dict(by_severity),
        by_kind=dict(by_kind),
        alerts=[alert_out(r, metas) for r in rows],
    )


def _unjudged_steps(meta: WorkflowMeta) -> list[StepState]:
    """The configured steps of a day the monitor never judged (nothing known: pending)."""
    return [
        StepState(
            step_id=s.step_id,
            batch_code=s.batch_code,
            name=s.name,
            position=s.position,
            depends_on=s.depends_on,
            status=StepStatus.SKIPPED if not s.enabled else StepStatus.PENDING,
        )
        for s in meta.steps
    ]


def _after_rerun(state: StepState, as_of: dt.datetime | None) -> dict[str, Any]:
    """A step whose failed runs a later run made good is judged by that later run.

    Its duration is the good run's (from the first run after the last failure), and the whole
    span, failed runs and the gap included, is ``total_duration_s``. Other steps: nothing changes.
    """
    failed = [i for i, run in enumerate(state.runs) if run.status == RunStatus.ERROR]
    if state.status == StepStatus.FAILED or not failed or failed[-1] == len(state.runs) - 1:
        return {}
    good_start = state.runs[failed[-1] + 1].start
    stop = state.end or as_of
    if good_start is None or stop is None:
        return {}
    return {"duration_s": (stop - good_start).total_seconds(), "total_duration_s": state.duration_s}


def _with_warnings(alerts: list[AlertOut]) -> list[AlertOut]:
    """Link each MISSED_DEADLINE the forecast warned of to that AT_RISK alert: one story on the page."""
    at_risk = {a.step_id: a.id for a in alerts if a.kind == FindingKind.AT_RISK}
    return [
        a.model_copy(update={"warned_by": at_risk[a.step_id]})
        if a.kind == FindingKind.MISSED_DEADLINE and a.details.get("was_at_risk_since") and a.step_id in at_risk
        else a
        for a in alerts
    ]


def timeline(
    meta: WorkflowMeta,
    business_date: dt.date,
    ev: Evaluation | None,
    day_alerts: Iterable[Mapping[str, Any]],
) -> TimelineResponse:
    """The business day's steps in order with their runs, times and alerts."""
    metas = {meta.workflow_id: meta}
    alerts = _with_warnings([alert_out(r, metas) for r in day_alerts])
    states = sorted(ev.steps, key=lambda s: s.position) if ev is not None else _unjudged_steps(meta)
    step_ids = {s.step_id for s in states}
    late = {f.step_id for f in (ev.findings if ev else []) if f.kind in LATE_KINDS}
    steps = [
        TimelineStep.model_validate(
            {
                **s.model_dump(),
                **_after_rerun(s, ev.as_of if ev else None),
                "late": s.step_id in late,
                "alerts": [a for a in alerts if a.step_id == s.step_id],
            }
        )
        for s in states
    ]
    start, end = meta.window(business_date)
    return TimelineResponse(
        workflow_id=meta.workflow_id,
        workflow_name=meta.name,
        timezone=ev.timezone if ev is not None else meta.timezone,
        business_date=business_date,
        window_start=start,
        window_end=end,
        evaluated=ev is not None,
        as_of=ev.as_of if ev else None,
        chain_status=ev.chain_status if ev else None,
        predicted_chain_end=ev.predicted_chain_end if ev else None,
        predicted_finish=ev.predicted_chain_end if ev else None,
        critical_path=list(ev.critical_path) if ev else [],
        chain_finish_by=ev.chain_finish_by if ev else None,
        steps=steps,
        chain_alerts=[a for a in alerts if a.step_id == CHAIN_STEP_ID or a.step_id not in step_ids],
        findings=list(ev.findings) if ev else [],
    )


CSV_COLUMNS = (
    "workflow_id",
    "business_date",
    "step_id",
    "batch_cd",
    "batch_nbr",
    "rerun_nbr",
    "status",
    "status_code",
    "start_time",
    "end_time",
    "timezone",
    "duration_s",
    "records",
    "errors",
    "rps",
    "threads_total",
    "threads_done",
    "error_text",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _local(moment: dt.datetime | None, timezone: str) -> str:
    return "" if moment is None else pendulum.instance(moment).in_timezone(timezone).isoformat()


def _cell_text(text: str | None) -> str:
    """Text a spreadsheet will not run as a formula."""
    if not text:
        return ""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _EscapingWriter:
    """A CSV writer that escapes every text cell: ids, codes and status codes come from CC&B too."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([_cell_text(value) if isinstance(value, str) else value for value in row])


def logs_csv(items: Iterable[LogOut], metas: Mapping[str, WorkflowMeta]) -> str:
    """The run history as CSV; times in each workflow's zone (ISO 8601 with offset), zone named."""
    out = io.StringIO()
    writer = _EscapingWriter(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        zone = metas[item.workflow_id].timezone if item.workflow_id in metas else "UTC"
        writer.writerow(
            [
                item.workflow_id,
                item.business_date.isoformat(),
                item.step_id,
                item.batch_cd,
                item.batch_nbr,
                item.rerun_nbr,
                item.status.value,
                item.status_code,
                _local(item.start_time, zone),
                _local(item.end_time, zone),
                zone,
                "" if item.duration_s is None else round(item.duration_s, 1),
                item.records,
                item.errors,
                "" if item.rps is None else round(item.rps, 2),
                item.threads_total,
                item.threads_done,
                item.error_text,
            ]
        )
    return out.getvalue()
