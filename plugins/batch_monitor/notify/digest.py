"""The daily digest: what a workflow's business day did, in one message. Pure.

Sent once per workflow and business day (the outbox's dedupe key ``digest:{workflow}:{date}``,
one row per channel), at the workflow's ``digest_at`` in its local time, or when the chain
completes if that is earlier. It holds each step's status, start, end, duration against the
typical one (the step's learned baseline when there is one, else its ``expected_duration``) and
records; the day's alerts and how each ended; the chain's finish against its deadline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from batch_monitor import business_day as bd
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import CHAIN_STEP_ID, StepStatus
from batch_monitor.models import Evaluation, StepBaseline
from batch_monitor.text import format_duration


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DigestAlert(_Frozen):
    """One of the day's alerts, as the store has it now."""

    step_id: str
    batch_code: str = ""
    kind: str
    severity: str
    title: str
    state: str  # open | acknowledged | resolved
    resolution: str | None = None  # cleared | manual
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None


class DigestStep(_Frozen):
    """One line of the step table, ready to show."""

    name: str
    batch_code: str
    status: str
    start: str
    end: str
    duration: str
    typical: str  # "50m (expected)", "48m (learned)", "—"
    versus: str  # "+30%", "-5%", ""
    records: str


class Digest(_Frozen):
    """The digest of one workflow's business day, every value ready to show."""

    workflow_id: str
    workflow_name: str
    business_date: dt.date
    timezone: str
    as_of: str
    chain_status: str
    chain: str  # the chain's finish against its deadline, in words
    late: bool  # the chain missed its deadline (or is past it unfinished)
    steps: list[DigestStep]
    alerts: list[str]


def due_at(workflow: WorkflowConfig, business_date: dt.date) -> dt.datetime | None:
    """When the day's digest is due at the latest (UTC); None: the workflow has no digest."""
    if workflow.digest_at is None:
        return None
    return bd.at_clock(business_date, workflow.digest_at, workflow.timezone, workflow.business_day_start)


class Judged(Protocol):
    """What the digest's due time depends on, of a day's evaluation (an Evaluation has it, and so
    has the store's head of one, read without the whole evaluation)."""

    @property
    def business_date(self) -> dt.date: ...

    @property
    def chain_status(self) -> StepStatus: ...

    @property
    def as_of(self) -> dt.datetime: ...


def is_due(workflow: WorkflowConfig, ev: Judged, as_of: dt.datetime) -> bool:
    """Is the digest of ``ev``'s day due as of ``as_of`` (the tick)? At ``digest_at``, or once the
    evaluation (made no later than the tick) saw the chain complete."""
    deadline = due_at(workflow, ev.business_date)
    if deadline is None:
        return False
    return as_of >= deadline or (ev.chain_status == StepStatus.COMPLETE and ev.as_of <= as_of)


def _clock(moment: dt.datetime | None, timezone: str, business_date: dt.date) -> str:
    """'14:30' in the workflow's zone; '01:10 (+1d)' on a later calendar day; '—' when unknown."""
    if moment is None:
        return "—"
    local = bd.to_utc(moment).in_timezone(bd.zone(timezone))
    later = (dt.date(local.year, local.month, local.day) - business_date).days
    return f"{local:%H:%M}" + (f" (+{later}d)" if later > 0 else "")


def _typical(step_id: str, workflow: WorkflowConfig, baselines: Mapping[str, StepBaseline]) -> tuple[float | None, str]:
    learned = baselines.get(step_id)
    if learned is not None and learned.duration_p50_s is not None:
        return learned.duration_p50_s, "learned"
    try:
        expected = workflow.step(step_id).expected_duration
    except KeyError:  # a step removed from the YAML during the day
        return None, ""
    return (expected.total_seconds(), "expected") if expected is not None else (None, "")


def _versus(duration: float | None, typical: float | None) -> str:
    if duration is None or not typical:
        return ""
    return f"{(duration - typical) / typical * 100:+.0f}%"


def _steps(workflow: WorkflowConfig, ev: Evaluation, baselines: Mapping[str, StepBaseline]) -> list[DigestStep]:
    rows = []
    for step in sorted(ev.steps, key=lambda s: s.position):
        typical, source = _typical(step.step_id, workflow, baselines)
        duration, shown = step.duration_s, format_duration(step.duration_s)
        span = step.rerun_span(ev.as_of)
        if span is not None:  # judged by the good run, like the page; the whole span beside it
            duration = span[0]
            shown = f"{format_duration(span[0])} ({len(step.runs)} runs, {format_duration(span[1])} in all)"
        rows.append(
            DigestStep(
                name=step.name,
                batch_code=step.batch_code,
                status=step.status.value,
                start=_clock(step.start, ev.timezone, ev.business_date),
                end=_clock(step.end, ev.timezone, ev.business_date),
                duration=shown,
                typical=f"{format_duration(typical)} ({source})" if typical is not None else "—",
                versus=_versus(duration, typical),
                records=f"{step.records:,}",
            )
        )
    return rows


def _chain_end(ev: Evaluation) -> dt.datetime | None:
    if ev.chain_status != StepStatus.COMPLETE:
        return None
    ends = [s.end for s in ev.steps if s.end is not None]
    return max(ends) if ends else None


def chain_verdict(ev: Evaluation, as_of: dt.datetime) -> tuple[str, bool]:
    """The chain's finish against its deadline, in words, and whether it is late."""
    tz, day = ev.timezone, ev.business_date
    end, deadline = _chain_end(ev), ev.chain_finish_by
    due = f"its {_clock(deadline, tz, day)} deadline" if deadline is not None else ""
    if end is not None:
        if deadline is None:
            return f"finished at {_clock(end, tz, day)} (no deadline)", False
        if end <= deadline:
            return f"finished at {_clock(end, tz, day)}, {format_duration(deadline - end)} before {due}", False
        return f"finished at {_clock(end, tz, day)}, {format_duration(end - deadline)} after {due}", True
    status = f"not finished ({ev.chain_status.value}) as of {_clock(as_of, tz, day)}"
    if deadline is None:
        return f"{status} (no deadline)", False
    if as_of > deadline:
        return f"{status}: {format_duration(as_of - deadline)} past {due}", True
    return f"{status}; {due} is in {format_duration(deadline - as_of)}", False


def alert_line(alert: DigestAlert, timezone: str, business_date: dt.date) -> str:
    """'CRITICAL FAILED C1-PPBTR: <title> — cleared at 15:10' (how it ended, or that it is open)."""
    where = "chain" if alert.step_id == CHAIN_STEP_ID else (alert.batch_code or alert.step_id)
    if alert.state == "resolved":
        by = "by itself" if alert.resolution == "cleared" else f"by {alert.resolved_by or 'hand'}"
        ended = f"resolved {by} at {_clock(alert.resolved_at, timezone, business_date)}"
    elif alert.state == "acknowledged":
        who = alert.acknowledged_by or "someone"
        ended = f"still open, acknowledged by {who} at {_clock(alert.acknowledged_at, timezone, business_date)}"
    else:
        ended = "still open, not acknowledged"
    return " ".join(f"{alert.severity} {alert.kind} {where}: {alert.title} — {ended}".split())


def build(
    workflow: WorkflowConfig,
    ev: Evaluation,
    alerts: list[DigestAlert],
    as_of: dt.datetime,
    baselines: Mapping[str, StepBaseline] | None = None,
) -> Digest:
    """The digest of ``ev``'s business day as of ``as_of`` (the tick that sends it)."""
    chain, late = chain_verdict(ev, as_of)
    return Digest(
        workflow_id=workflow.workflow_id,
        workflow_name=workflow.name,
        business_date=ev.business_date,
        timezone=ev.timezone,
        as_of=_clock(as_of, ev.timezone, ev.business_date),
        chain_status=ev.chain_status.value,
        chain=chain,
        late=late,
        steps=_steps(workflow, ev, baselines or {}),
        alerts=[alert_line(a, ev.timezone, ev.business_date) for a in alerts],
    )


def table(digest: Digest) -> str:
    """The step table as fixed-width text (the plain-text mail and the chat channels)."""
    head = ("Step", "Status", "Start", "End", "Duration", "Typical", "vs", "Records")
    rows = [(s.batch_code, s.status, s.start, s.end, s.duration, s.typical, s.versus, s.records) for s in digest.steps]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows])
