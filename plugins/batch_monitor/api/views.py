"""Turning store rows into API responses: pure functions, no database, no Airflow, no clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pendulum

from batch_monitor import silences as silencing
from batch_monitor.api.queries import StepMeta, WorkflowMeta
from batch_monitor.api.schemas import (
    ActiveAlertsResponse,
    AlertOut,
    BaselineOut,
    LogOut,
    MaintenanceOut,
    StepInfo,
    TimelineResponse,
    TimelineStep,
)
from batch_monitor.baselines import select_baselines, typical_start
from batch_monitor.constants import CHAIN_STEP_ID, FindingKind, Severity, StepStatus
from batch_monitor.models import Evaluation, StepBaseline, StepState
from batch_monitor.silences import Silence

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
        "mail_held": row.get("held_mail") is not None and row["state"] != "resolved",
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
    """A step whose failed runs a later run made good is judged by that later run (StepState.rerun_span)."""
    span = state.rerun_span(as_of)
    return {} if span is None else {"duration_s": span[0], "total_duration_s": span[1]}


def baseline_out(meta: WorkflowMeta, business_date: dt.date, baseline: StepBaseline | None) -> BaselineOut | None:
    """A step's learned baseline as the timeline shows it: its median start as a local time and a moment."""
    if baseline is None:
        return None
    start = typical_start(baseline, business_date, meta.timezone, meta.day_start)
    local = pendulum.instance(start).in_timezone(meta.timezone).format("HH:mm") if start is not None else None
    return BaselineOut.model_validate({**baseline.model_dump(), "start_p50": local, "start_p50_at": start})


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
    baselines: Iterable[StepBaseline] = (),
) -> TimelineResponse:
    """The business day's steps in order with their runs, times, alerts and learned baselines."""
    typical = select_baselines(baselines, business_date, meta.weekend_days)
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
                "baseline": baseline_out(meta, business_date, typical.get(s.step_id)),
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
        run_expected=ev.run_expected if ev else True,
        no_run_reason=ev.no_run_reason if ev else None,
        steps=steps,
        chain_alerts=[a for a in alerts if a.step_id == CHAIN_STEP_ID or a.step_id not in step_ids],
        findings=list(ev.findings) if ev else [],
        maintenance=maintenance_of_day(meta, start, end),
    )


@dataclass(frozen=True)
class SilenceMark:
    """What a silence in effect adds to one alert (AlertOut's silenced, silenced_until, silence_id)."""

    alert_id: int
    text: str
    until: dt.datetime
    silence_id: int | None


def silence_marks(
    alerts: Iterable[AlertOut], in_effect: Sequence[Silence], now: dt.datetime
) -> tuple[SilenceMark, ...]:
    """The marks of the active alerts a silence covers at ``now``, in the alerts' order."""
    marks = []
    for alert in alerts:
        if alert.state == "resolved":
            continue
        mine = [s for s in in_effect if s.workflow_id == alert.workflow_id]
        silence = silencing.covering(mine, alert.step_id, alert.kind.value, alert.id, now)
        if silence is not None:
            text = silencing.describe(silence, alert.timezone, now)
            marks.append(SilenceMark(alert.id, text, silence.end, silence.id))
    return tuple(marks)


def mark_silenced(alerts: Iterable[AlertOut], marks: Iterable[SilenceMark]) -> None:
    """Set the marks on the alerts they name: 'silenced until 11:00 by op1: planned rerun'."""
    by_alert = {m.alert_id: m for m in marks}
    for alert in alerts:
        mark = by_alert.get(alert.id)
        if mark is not None:
            alert.silenced, alert.silenced_until, alert.silence_id = mark.text, mark.until, mark.silence_id


def annotate_silenced(alerts: Iterable[AlertOut], in_effect: Sequence[Silence], now: dt.datetime) -> None:
    """Mark the active alerts a silence covers: 'silenced until 11:00 by op1: planned rerun'."""
    alerts = list(alerts)
    mark_silenced(alerts, silence_marks(alerts, in_effect, now))


def shown_alerts(response: TimelineResponse) -> list[AlertOut]:
    """Every alert a timeline shows: its steps' and the chain's."""
    return [a for step in response.steps for a in step.alerts] + response.chain_alerts


def maintenance_of_day(meta: WorkflowMeta, start: dt.datetime, end: dt.datetime) -> list[MaintenanceOut]:
    """The workflow's maintenance windows overlapping the day's window, for the timeline."""
    return [
        MaintenanceOut(starts_at=begins, ends_at=ends, steps=list(w.steps), comment=w.comment)
        for w in meta.maintenance
        for begins, ends in silencing.window_occurrences(w, meta.timezone, start, end)
    ]


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


def cell_text(text: str | None) -> str:
    """Text a spreadsheet will not run as a formula."""
    if not text:
        return ""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _EscapingWriter:
    """A CSV writer that escapes every text cell: ids, codes and status codes come from CC&B too."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([cell_text(value) if isinstance(value, str) else value for value in row])


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
