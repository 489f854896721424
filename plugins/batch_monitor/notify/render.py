"""Render alert, recovery and monitor-failure e-mails from Jinja2 templates. Pure.

Templates live in ``include/templates`` (``<name>.txt.j2`` and ``<name>.html.j2``, one pair per
mail): ``$BATCH_MONITOR_TEMPLATES_DIR`` if set, else ``templates`` in the include folder
(:func:`batch_monitor.settings.templates_dir`, relative to this package unless overridden). HTML is
autoescaped, so error text with markup arrives as text. Times are shown in the workflow's zone,
with the zone named ("2026-11-24 14:30 +06 (Asia/Dhaka)").
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from batch_monitor import settings
from batch_monitor.constants import CHAIN_STEP_ID, FindingKind
from batch_monitor.models import AlertContext, AtRisk, EmailContent, Notice
from batch_monitor.notify.digest import Digest, table
from batch_monitor.text import format_duration, mask_credentials

# "C1-PPBTR <phrase>" in subjects and headings
KIND_PHRASES: dict[FindingKind, str] = {
    FindingKind.FAILED: "failed",
    FindingKind.STUCK: "is stuck",
    FindingKind.LONG_RUNNING: "is running long",
    FindingKind.LOW_THROUGHPUT: "is running slowly",
    FindingKind.LATE_START: "has not started",
    FindingKind.AT_RISK: "is at risk of missing its deadline",
    FindingKind.MISSED_DEADLINE: "missed its deadline",
    FindingKind.OUT_OF_ORDER: "ran out of order",
    FindingKind.EMPTY_RUN: "processed no records",
    FindingKind.UNUSUAL_VOLUME: "processed an unusual number of records",
    FindingKind.DATA_QUALITY: "has data quality problems",
    FindingKind.SOURCE_UNAVAILABLE: "cannot be read: CC&B source unavailable",
}

# the phrase for a breach that was already over when the monitor recorded it (a closed alert)
CLOSED_PHRASES: dict[FindingKind, str] = {
    FindingKind.LATE_START: "started late",
    FindingKind.MISSED_DEADLINE: "completed late",
}


@lru_cache(maxsize=8)
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def _render_pair(name: str, subject: str, values: dict[str, Any], notice: Notice | None = None) -> EmailContent:
    folder = settings.templates_dir()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"mail templates folder {folder} does not exist; set {settings.TEMPLATES_DIR.name} to the folder "
            "that holds alert.html.j2 and alert.txt.j2"
        )
    env = _environment(str(folder))
    values = {**values, "subject": subject}
    try:
        text = env.get_template(f"{name}.txt.j2").render(values)
        html = env.get_template(f"{name}.html.j2").render(values)
    except jinja2.TemplateNotFound as exc:
        raise FileNotFoundError(f"mail template {exc.name} is missing from {folder}") from exc
    return EmailContent(subject=subject, text=text, html=html, notice=notice)


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Asia/Dhaka'") from exc


def format_local(moment: dt.datetime | None, timezone: str) -> str:
    """'2026-11-24 14:30 +06 (Asia/Dhaka)': the moment in the zone, the zone named."""
    if moment is None:
        return "unknown"
    if moment.tzinfo is None:
        raise ValueError(f"format_local needs an aware datetime, got {moment!r}")
    local = moment.astimezone(_zone(timezone))
    abbreviation = local.tzname() or ""
    named = "" if abbreviation == timezone else f" ({timezone})"
    return f"{local:%Y-%m-%d %H:%M} {abbreviation}{named}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _headline(ctx: AlertContext, closed: bool = False) -> str:
    """Who and what, without the details: "C1-PPBTR failed", "Chain missed its deadline"."""
    if ctx.step_id == CHAIN_STEP_ID:
        who = "Chain" if ctx.kind != FindingKind.SOURCE_UNAVAILABLE else "Workflow"
    else:
        who = ctx.batch_code or ctx.step_name or ctx.step_id
    phrases = CLOSED_PHRASES if closed and ctx.kind in CLOSED_PHRASES else KIND_PHRASES
    what = phrases.get(ctx.kind, ctx.kind.value.lower().replace("_", " "))
    return _one_line(f"{who} {what}")


def _subject_of(ctx: AlertContext, tag: str, closed: bool = False) -> str:
    headline = _headline(ctx, closed)
    return _one_line(f"[{tag}] {headline} — {ctx.workflow_id} business day {ctx.business_date.isoformat()}")


def _alert_values(ctx: AlertContext) -> dict[str, Any]:
    started = ctx.since or ctx.first_seen_at
    return {
        "ctx": ctx,
        # an alert mailed when it is already resolved: a breach over before the monitor saw it
        "closed": ctx.resolved_at is not None,
        "severity": ctx.severity.value,
        "kind": ctx.kind.value,
        "step_label": "whole chain" if ctx.step_id == CHAIN_STEP_ID else f"{ctx.step_name} ({ctx.batch_code})",
        "since_local": format_local(started, ctx.timezone),
        "first_seen_local": format_local(ctx.first_seen_at, ctx.timezone),
        "last_seen_local": format_local(ctx.last_seen_at, ctx.timezone),
        "business_date": ctx.business_date.isoformat(),
        "at_risk": [_risk_line(item, ctx.timezone) for item in ctx.at_risk],
        # a missed deadline the forecast warned of: when that AT_RISK began (one story, not two)
        "was_at_risk_local": _was_at_risk(ctx),
        "note": "",  # a reminder's or escalation's opening line
    }


def _was_at_risk(ctx: AlertContext) -> str:
    since = ctx.details.get("was_at_risk_since")
    if not isinstance(since, str):
        return ""
    try:
        return format_local(dt.datetime.fromisoformat(since), ctx.timezone)
    except ValueError:
        return ""


def _risk_line(item: AtRisk, timezone: str) -> str:
    """'F1-FLUSH (Flush): due 2026-11-24 18:00 +06 (Asia/Dhaka), predicted ...' (the prediction if known)."""
    due = f"due {format_local(item.finish_by, timezone)}" if item.finish_by else "no deadline"
    predicted = f", predicted finish {format_local(item.predicted_end, timezone)}" if item.predicted_end else ""
    return f"{item.label}: {due}{predicted}"


def _notice(ctx: AlertContext, values: dict[str, Any], **fields: Any) -> Notice:
    """The chat channels' version of an alert mail: severity, step, error text, page link."""
    facts = [
        ("Since", values["since_local"]),
        ("Expected", ctx.expected),
        ("Actual", ctx.actual),
        ("What to do", ctx.action),
    ]
    if values["at_risk"]:
        facts.append(("At risk", "\n".join(values["at_risk"])))
    base: dict[str, Any] = {
        "kind": "alert",
        "severity": ctx.severity.value,
        "headline": _headline(ctx, values["closed"]),
        "workflow_id": ctx.workflow_id,
        "business_date": ctx.business_date,
        "step": values["step_label"],
        "error_text": ctx.error_text,
        "page_url": ctx.page_url,
        "facts": facts,
        "alert_id": ctx.alert_id,
    }
    return Notice(**(base | fields))


def render_alert(ctx: AlertContext) -> EmailContent:
    """The mail sent when an alert opens (or is recorded already over: ``ctx.resolved_at`` set)."""
    closed = ctx.resolved_at is not None
    values = _alert_values(ctx)
    return _render_pair("alert", _subject_of(ctx, ctx.severity.value, closed), values, _notice(ctx, values))


def render_reminder(
    ctx: AlertContext, *, number: int, changed: str, escalated_to: list[str], unacknowledged: dt.timedelta
) -> EmailContent:
    """A reminder (``number`` 1, 2, ...) or escalation notice (``number`` 0) of an unacknowledged
    cause: the alert mail with a subject saying what changed since the last mail."""
    tail = f"— {ctx.workflow_id} business day {ctx.business_date.isoformat()}"
    waited = format_duration(unacknowledged)
    if number:
        subject = f"[REMINDER] {_headline(ctx)}: {changed} {tail}"
        note = f"Reminder {number}: not acknowledged for {waited}. Since the last mail: {changed}."
    else:
        subject = f"[ESCALATED] {_headline(ctx)}: not acknowledged for {waited} {tail}"
        note = f"Escalated: not acknowledged for {waited}. Since the last mail: {changed}."
    if escalated_to:
        note += f" Escalated: this mail also goes to {', '.join(escalated_to)}."
    values = {**_alert_values(ctx), "note": note + " Acknowledge it to stop reminders and escalation."}
    notice = _notice(ctx, values, kind="reminder" if number else "escalation", note=values["note"])
    return _render_pair("alert", _one_line(subject), values, notice)


def render_recovery(ctx: AlertContext) -> EmailContent:
    """The mail sent when an alert resolves: when it cleared and how long it lasted."""
    if ctx.resolved_at is None:
        raise ValueError(f"render_recovery: alert {ctx.alert_id} has no resolved_at")
    started = ctx.since or ctx.first_seen_at
    values = _alert_values(ctx)
    values["headline"] = _headline(ctx)  # not the title: the error text was mailed once already
    values["resolved_local"] = format_local(ctx.resolved_at, ctx.timezone)
    values["lasted"] = format_duration(ctx.resolved_at - started)
    facts = [("Cleared at", values["resolved_local"]), ("Lasted", values["lasted"]), ("Began", values["since_local"])]
    if ctx.incident_alerts > 1:
        facts.append(("Incident", f"{ctx.incident_alerts} alerts, all cleared"))
    if ctx.incident_cost:
        facts.append(("What it cost", "\n".join(ctx.incident_cost)))
    notice = _notice(ctx, values, kind="recovery", severity="RESOLVED", error_text=None, facts=facts)
    notice = notice.model_copy(update={"headline": f"Cleared: {values['headline']}"})
    return _render_pair("recovery", _subject_of(ctx, "RESOLVED"), values, notice)


def render_monitor_failure(
    *,
    dag_id: str,
    task_id: str,
    error: str,
    try_number: int | None = None,
    logical_date: dt.datetime | None = None,
    data_interval_end: dt.datetime | None = None,
    log_url: str | None = None,
    timezone: str = "UTC",
) -> EmailContent:
    """The mail sent when one of the monitor's own tasks fails. Credentials in ``error`` are masked."""
    subject = _one_line(f"[MONITOR DOWN] {dag_id}: {task_id} failed")
    values = {
        "dag_id": dag_id,
        "task_id": task_id,
        "try_number": try_number,
        "logical_date_local": format_local(logical_date, timezone) if logical_date else None,
        "data_interval_end_local": format_local(data_interval_end, timezone) if data_interval_end else None,
        "error": mask_credentials(error),
        "log_url": log_url,
    }
    return _render_pair("monitor_failure", subject, values)


def render_digest(digest: Digest, page_url: str = "") -> EmailContent:
    """The daily digest of one workflow's business day (mail, and the chat channels' notice)."""
    chain = f"chain {digest.chain}"
    subject = _one_line(f"[DIGEST] {digest.workflow_id} business day {digest.business_date.isoformat()}: {chain}")
    alerts = f"{len(digest.alerts)} alert(s)" if digest.alerts else "no alerts"
    steps = table(digest)
    body = steps + ("\n\nAlerts:\n" + "\n".join(f"- {line}" for line in digest.alerts) if digest.alerts else "")
    notice = Notice(
        kind="digest",
        severity="WARNING" if digest.late else "INFO",
        headline=f"Daily digest {digest.workflow_id} {digest.business_date.isoformat()}: {chain}",
        workflow_id=digest.workflow_id,
        business_date=digest.business_date,
        page_url=page_url,
        facts=[("Chain", digest.chain), ("Alerts", alerts), ("As of", f"{digest.as_of} ({digest.timezone})")],
        body=body,
    )
    return _render_pair("digest", subject, {"d": digest, "table": steps, "page_url": page_url}, notice)
