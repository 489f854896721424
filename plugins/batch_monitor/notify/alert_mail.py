"""The content of an alert's messages: what alerting decided to send, rendered. Pure.

:func:`render_message` turns an :class:`alerting.Message` (an alert, recovery, reminder or
escalation notice about an incident's cause) into the mail and the chat channels' notice. The
pipeline hands :func:`renderer` to the store, which queues the content in the same transaction as
the change that calls for it; the store itself never renders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from batch_monitor.alerting import RESOLVED, Message, Render
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import CHAIN_STEP_ID, PAGE_PATH, FindingKind, Severity
from batch_monitor.models import AlertContext, EmailContent
from batch_monitor.notify.render import render_alert, render_recovery, render_reminder


def page_url(page_url_base: str, workflow_id: str, business_date: dt.date, alert_id: int | None = None) -> str:
    """Link to the plugin page showing a workflow's day (and one alert)."""
    query: dict[str, Any] = {"workflow": workflow_id, "date": business_date.isoformat()}
    if alert_id is not None:
        query["alert"] = alert_id
    return f"{page_url_base.rstrip('/')}{PAGE_PATH}?{urlencode(query)}"


def _step_name(workflow: WorkflowConfig, step_id: str) -> str:
    if step_id == CHAIN_STEP_ID:
        return workflow.name
    try:
        return workflow.step(step_id).name
    except KeyError:  # a step removed from the YAML during the day
        return step_id


def alert_context(row: dict[str, Any], workflow: WorkflowConfig, page_url_base: str) -> AlertContext:
    """What a mail about this alert row says."""
    return AlertContext(
        alert_id=row["id"],
        workflow_id=row["workflow_id"],
        workflow_name=workflow.name,
        timezone=workflow.timezone,
        business_date=row["business_date"],
        step_id=row["step_id"],
        step_name=_step_name(workflow, row["step_id"]),
        batch_code=row["batch_cd"],
        kind=FindingKind(row["kind"]),
        severity=Severity(row["severity"]),
        title=row["title"],
        since=row["since"],
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        resolved_at=row["resolved_at"] if row["state"] == RESOLVED else None,
        expected=row["expected"],
        actual=row["actual"],
        error_text=row["error_text"],
        action=row["action"],
        run_key=row["run_key"],
        page_url=page_url(page_url_base, row["workflow_id"], row["business_date"], row["id"]),
        details=row["details"] or {},
    )


def _recovery(ctx: AlertContext, message: Message) -> EmailContent:
    """The recovery mail of an incident: when its last alert cleared, how many it held, what it cost."""
    group = message.members or [message.alert]
    ends = [row["resolved_at"] for row in group if row["resolved_at"] is not None]
    summary = {
        "resolved_at": max([*ends, *([ctx.resolved_at] if ctx.resolved_at else [])]) if ends else ctx.resolved_at,
        "incident_alerts": len(group),
        "incident_cost": [row["title"] for row in group if row["kind"] == FindingKind.MISSED_DEADLINE.value],
    }
    return render_recovery(ctx.model_copy(update=summary))


def render_message(message: Message, workflow: WorkflowConfig, page_url_base: str) -> EmailContent:
    """The mail (and chat notice) of one message about an alert of ``workflow``."""
    ctx = alert_context(message.alert, workflow, page_url_base)
    if message.kind == "recovery":
        return _recovery(ctx, message)
    ctx = ctx.model_copy(update={"at_risk": message.at_risk})
    if message.kind == "alert":
        return render_alert(ctx)
    return render_reminder(
        ctx,
        number=message.number,
        changed=message.changed,
        escalated_to=message.escalated_to,
        unacknowledged=message.unacknowledged,
    )


def renderer(page_url_base: str) -> Render:
    """What the store renders alert messages with: :func:`render_message`, linking to ``page_url_base``."""

    def render(message: Message, workflow: WorkflowConfig) -> EmailContent:
        return render_message(message, workflow, page_url_base)

    return render
