"""Alerts: the evaluator's findings diffed against the day's alert rows, and operators' actions.

:func:`sync_alerts` is the heart of alerting. A finding whose identity (step, kind) has no alert
yet opens one; a finding that is still there is *seen* (and may escalate); an alert whose
finding is gone resolves; a resolved alert whose condition comes back reopens. Every change is
an event row, and every mail an outbox row written in the same transaction, so a tick either
happened completely or not at all. Replays are harmless: a tick not newer than the last synced
one for the workflow and day changes nothing, and mail dedupe keys are unique per opening.

A manually resolved alert stays resolved while its condition keeps holding without a break; it
reopens only when the condition clears and later comes back.

Mails go per incident (:mod:`batch_monitor.incidents`): each alert records the alert that caused
it (``incident_id``). A cause is mailed when it opens, reopens or escalates, with what it puts at
risk; its consequences (deadlines missed because of it) are recorded but never mailed on their
own; one recovery mail goes out when the whole incident has cleared.

:func:`remind` mails an unacknowledged CRITICAL cause again every ``remind_every`` and, after
``escalate_after``, to ``escalate_to`` as well, judged as of the tick (see its docstring).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.dialects.postgresql import insert as pg_insert

from batch_monitor import incidents
from batch_monitor import silences as silencing
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import CHAIN_STEP_ID, PAGE_PATH, FindingKind, Severity
from batch_monitor.models import AlertContext, AtRisk, EmailContent, Evaluation, Finding
from batch_monitor.silences import Silence
from batch_monitor.store import outbox
from batch_monitor.store import silences as stored_silences
from batch_monitor.store.repository import load_evaluation, recordset, utc
from batch_monitor.store.schema import alert_events, alerts, evaluations

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ACTIVE_STATES = (OPEN, ACKNOWLEDGED)
MONITOR = "monitor"
# kinds the evaluator never finds: raise_condition/clear_condition manage them, sync_alerts leaves them be
OUTSIDE_EVALUATION = frozenset({FindingKind.SOURCE_UNAVAILABLE.value})
MAX_MISSED_TICKS = 96  # a day of 15-minute ticks
_NEWEST = 2**62  # the grouping's order of alerts not inserted yet: after every stored one

# columns the diff writes back to an existing alert (one UPDATE ... FROM for all of them)
_UPDATE_COLUMNS = (
    "state",
    "severity",
    "batch_cd",
    "title",
    "expected",
    "actual",
    "action",
    "error_text",
    "run_key",
    "details",
    "since",
    "last_seen_at",
    "seen_count",
    "acknowledged_at",
    "acknowledged_by",
    "ack_comment",
    "resolved_at",
    "resolved_by",
    "resolution",
    "open_count",
    "email_queued",
    "condition_holds",
    "held_mail",
    "updated_at",
)
_INSERT_COLUMNS = (
    "workflow_id",
    "business_date",
    "step_id",
    "kind",
    "state",
    "severity",
    "batch_cd",
    "title",
    "expected",
    "actual",
    "action",
    "error_text",
    "run_key",
    "details",
    "since",
    "first_seen_at",
    "last_seen_at",
    "seen_count",
    "open_count",
    "email_queued",
    "condition_holds",
    "held_mail",
    "resolved_at",
    "resolved_by",
    "resolution",
    "created_at",
    "updated_at",
)
_EVENT_COLUMNS = ("alert_id", "event", "at", "as_of", "actor", "comment", "details")


@dataclass
class SyncResult:
    """What one :func:`sync_alerts` call did."""

    opened: int = 0
    seen: int = 0
    reopened: int = 0
    resolved: int = 0
    escalated: int = 0
    mails_queued: int = 0
    reminders: int = 0  # reminders queued (see :func:`remind`)
    escalations: int = 0  # incidents whose mails began to go to escalate_to
    skipped: bool = False  # the tick was not newer than the last one synced: nothing changed
    reason: str = ""


@dataclass
class _Change:
    """One alert's new values, the events to record and the mail to queue (if any)."""

    row: dict[str, Any]  # the alert's full row after the change
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    mail: Literal["alert", "recovery"] | None = None
    mail_tag: str = ""  # dedupe key = f"alert:{id}:{mail_tag}"; unique per opening of the alert
    mail_details: dict[str, Any] = field(default_factory=dict)  # the event details that tell of it

    @property
    def fresh(self) -> bool:
        """The alert opened or reopened in this tick (its incident is worked out afresh)."""
        return any(name in ("opened", "reopened") for name, _ in self.events)

    @property
    def cleared(self) -> bool:
        """An active alert whose condition cleared in this tick (not one recorded already over)."""
        names = [name for name, _ in self.events]
        return "resolved" in names and "opened" not in names


@dataclass
class _Mail:
    """One mail to queue: about an incident's cause, noted in the event ``details``."""

    kind: Literal["alert", "recovery"]
    alert: dict[str, Any]  # the cause's row: the mail's alert id and dedupe key
    tag: str
    details: dict[str, Any]
    at_risk: list[AtRisk] = field(default_factory=list)  # alert mails: what the cause puts at risk
    members: list[dict[str, Any]] = field(default_factory=list)  # recovery mails: the incident's alerts
    consequences: list[list[str]] = field(default_factory=list)  # alert mails: [step_id, kind] that hold


class AlertEvent(BaseModel):
    """One entry of an alert's history."""

    model_config = ConfigDict(frozen=True)

    id: int
    alert_id: int
    event: str
    at: dt.datetime
    as_of: dt.datetime | None
    actor: str
    comment: str | None
    details: dict[str, Any]


class AlertRecord(BaseModel):
    """An alert row as stored, with its events when loaded through :func:`get_alert`."""

    model_config = ConfigDict(frozen=True)

    id: int
    workflow_id: str
    business_date: dt.date
    step_id: str
    batch_cd: str
    kind: FindingKind
    severity: Severity
    state: str
    title: str
    expected: str
    actual: str
    action: str
    error_text: str | None
    run_key: str | None
    details: dict[str, Any]
    since: dt.datetime | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    seen_count: int
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution: str | None
    open_count: int
    email_queued: bool
    condition_holds: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    incident_id: int | None = None
    reminders: int = 0
    escalated_at: dt.datetime | None = None
    held_mail: str | None = None  # the problem mail a silence held back (mailed when it ends)
    events: list[AlertEvent] = []


@dataclass(frozen=True)
class AckResult:
    """The outcome of an acknowledgement: who holds the alert now and whether this call won."""

    alert_id: int
    outcome: Literal["acknowledged", "already_acknowledged", "resolved"]
    state: str
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    ack_comment: str | None

    @property
    def ok(self) -> bool:
        return self.outcome == "acknowledged"


@dataclass(frozen=True)
class ResolveResult:
    """The outcome of a manual resolve."""

    alert_id: int
    outcome: Literal["resolved", "already_resolved"]
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution: str | None

    @property
    def ok(self) -> bool:
        return self.outcome == "resolved"


# --------------------------------------------------------------------------- sync


def _claim_tick(conn: sa.Connection, ev: Evaluation, as_of: dt.datetime) -> bool:
    """Mark ``as_of`` as the day's latest synced tick; False if it is not newer than the stored one.

    The row stays locked until the caller's transaction ends, so two ticks of one day never
    diff the alerts at the same time.
    """
    t = evaluations
    same_day = (t.c.workflow_id == ev.workflow_id, t.c.business_date == ev.business_date)
    newer = sa.or_(t.c.alerts_synced_as_of.is_(None), t.c.alerts_synced_as_of < as_of)
    for _attempt in range(2):
        claimed = conn.execute(
            sa.update(t).where(*same_day, newer).values(alerts_synced_as_of=as_of).returning(t.c.as_of)
        ).first()
        if claimed is not None:
            return True
        # no row yet (sync before save_evaluation), or a row that is already as new
        inserted = conn.execute(
            pg_insert(t)
            .values(
                workflow_id=ev.workflow_id,
                business_date=ev.business_date,
                as_of=as_of,
                chain_status=ev.chain_status.value,
                payload=ev.model_dump(mode="json"),
                alerts_synced_as_of=as_of,
            )
            .on_conflict_do_nothing(index_elements=[t.c.workflow_id, t.c.business_date])
            .returning(t.c.as_of)
        ).first()
        if inserted is not None:
            return True
        # a row exists: either newer (skip) or just inserted by another transaction (retry once)
        stored = conn.execute(sa.select(t.c.alerts_synced_as_of).where(*same_day)).scalar_one_or_none()
        if stored is not None and stored >= as_of:
            return False
    return False


def _utc_values(row: sa.Row[Any]) -> dict[str, Any]:
    """A row as a dict with its times in UTC (whatever the session's TimeZone)."""
    return {k: v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for k, v in row._mapping.items()}


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(dt.UTC)


def _finding_values(f: Finding) -> dict[str, Any]:
    return {
        "severity": f.severity.value,
        "batch_cd": f.batch_code,
        "title": f.title,
        "expected": f.expected,
        "actual": f.actual,
        "action": f.action,
        "error_text": f.error_text,
        "run_key": f.run_key,
        "details": f.details,
        "since": f.since,
    }


def _unique(findings: Iterable[Finding]) -> dict[tuple[str, str], Finding]:
    """One finding per identity; should the evaluator give two, the more severe one counts."""
    chosen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        held = chosen.get(f.identity)
        if held is None or f.severity.rank > held.severity.rank:
            chosen[f.identity] = f
    return chosen


def _rank(severity: str) -> int:
    return Severity(severity).rank


class _Planner:
    """Works out, in memory, what the tick changes; :func:`sync_alerts` writes it in a few statements."""

    def __init__(
        self,
        workflow: WorkflowConfig,
        business_date: dt.date,
        as_of: dt.datetime,
        now: dt.datetime,
        to: list[str],
        ev: Evaluation | None = None,
        silences: list[Silence] | None = None,
    ) -> None:
        self.workflow = workflow
        self.silences = silences or []
        self.business_date = business_date
        self.as_of = as_of
        self.now = now
        self.to = to
        self.ev = ev
        self.graph = incidents.dependency_graph(workflow)
        self.order = incidents.chain_order(self.graph)
        self.result = SyncResult()

    def _mail(self, change: _Change, kind: Literal["alert", "recovery"], tag: str) -> None:
        """Plan a mail about the change's latest event (or note why none can go)."""
        details = change.events[-1][1]
        if not self.to and list(self.workflow.channels) == ["email"]:  # other channels need no addresses
            details["email"] = {"queued": False, "reason": "no recipients configured"}
            return
        change.mail, change.mail_tag, change.mail_details = kind, tag, details
        if kind == "alert":
            change.row["email_queued"] = True
            change.row["held_mail"] = None

    def silenced(self, row: dict[str, Any]) -> Silence | None:
        """The silence or maintenance window covering the alert as of the tick, if any."""
        return silencing.covering(self.silences, row["step_id"], row["kind"], row.get("id"), self.as_of)

    def silence_note(self, silence: Silence) -> dict[str, Any]:
        """What an event says of a mail a silence held back: 'silenced until 11:00 by op1: ...'."""
        return {
            "queued": False,
            "reason": silencing.describe(silence, self.workflow.timezone, self.as_of),
            "silence": {"id": silence.id, "source": silence.source, "until": silence.end.isoformat()},
        }

    def hold(self, change: _Change) -> None:
        """A problem mail a silence covers is held: recorded, not queued; :func:`remind` mails it
        once the silence has ended, if the alert still holds."""
        silence = self.silenced(change.row) if change.mail == "alert" else None
        if silence is None:
            return
        change.mail = None
        change.row["email_queued"] = False
        change.row["held_mail"] = change.mail_tag
        change.mail_details["email"] = self.silence_note(silence)

    def _mailed(self, severity: str) -> bool:
        return _rank(severity) >= self.workflow.email_min_severity.rank

    def new(self, f: Finding) -> _Change:
        self.result.opened += 1
        row = {
            "workflow_id": self.workflow.workflow_id,
            "business_date": self.business_date,
            "step_id": f.step_id,
            "kind": f.kind.value,
            "state": OPEN,
            **_finding_values(f),
            "first_seen_at": self.as_of,
            "last_seen_at": self.as_of,
            "seen_count": 1,
            "open_count": 1,
            "email_queued": False,
            "condition_holds": True,
            "held_mail": None,
            "resolved_at": None,
            "resolved_by": None,
            "resolution": None,
            "created_at": self.now,
            "updated_at": self.now,
        }
        change = _Change(row=row, events=[("opened", {"severity": f.severity.value})])
        # a data-quality alert explains the pages around it: mailed when it first opens in the day,
        # whatever email_min_severity says (not when it reopens: once a day)
        if self._mailed(f.severity.value) or f.kind == FindingKind.DATA_QUALITY:
            self._mail(change, "alert", "opened:1")
        if f.closed:  # a breach already over (between two ticks): recorded and resolved at once
            self.result.resolved += 1
            row.update(self._resolved(), condition_holds=False)
            change.events.append(("resolved", self._closed_details(f)))
        return change

    def _resolved(self) -> dict[str, Any]:
        return {"state": RESOLVED, "resolved_at": self.as_of, "resolved_by": MONITOR, "resolution": "cleared"}

    @staticmethod
    def _closed_details(f: Finding) -> dict[str, Any]:
        assert f.ended_at is not None
        return {"resolution": "cleared", "ended_at": f.ended_at.isoformat()}

    def closed(self, old: dict[str, Any], f: Finding) -> _Change | None:
        """A breach that is over: an alert still active for it resolves with the finding's words;
        one already resolved stays as it is (judging the day again changes nothing)."""
        change = self.gone(old)
        if change is not None and old["state"] != RESOLVED:
            change.row.update({**_finding_values(f), "since": f.since or old["since"], "last_seen_at": self.as_of})
            change.events[-1][1].update(self._closed_details(f))
        return change

    def still_there(self, old: dict[str, Any], f: Finding) -> _Change:
        row = {
            **old,
            **_finding_values(f),
            "since": f.since or old["since"],
            "last_seen_at": self.as_of,
            "seen_count": old["seen_count"] + 1,
            "condition_holds": True,
            "updated_at": self.now,
        }
        change = _Change(row=row)
        if old["state"] == RESOLVED and not (old["resolution"] == "manual" and old["condition_holds"]):
            return self._reopen(change, old, f)
        self.result.seen += 1
        if old["state"] == RESOLVED:  # resolved by hand while it held: it stays resolved
            return change
        if f.severity.rank > _rank(old["severity"]):
            self.result.escalated += 1
            change.events.append(("escalated", {"from": old["severity"], "to": f.severity.value}))
            if self._mailed(f.severity.value):
                self._mail(change, "alert", f"escalated:{old['open_count']}:{f.severity.value}")
        return change

    def _reopen(self, change: _Change, old: dict[str, Any], f: Finding) -> _Change:
        self.result.reopened += 1
        openings = old["open_count"] + 1
        change.row.update(
            state=OPEN,
            since=f.since or self.as_of,  # this opening's start, not the first one's
            open_count=openings,
            email_queued=False,
            held_mail=None,
            resolved_at=None,
            resolved_by=None,
            resolution=None,
            acknowledged_at=None,
            acknowledged_by=None,
            ack_comment=None,
        )
        change.events.append(("reopened", {"severity": f.severity.value, "after": old["resolution"]}))
        if self._mailed(f.severity.value):
            self._mail(change, "alert", f"opened:{openings}")
        return change

    def gone(self, old: dict[str, Any]) -> _Change | None:
        if old["state"] == RESOLVED:
            if not old["condition_holds"]:
                return None
            # resolved by hand earlier; now the condition cleared too, so it may reopen later
            return _Change(row={**old, "condition_holds": False, "updated_at": self.now})
        self.result.resolved += 1
        row = {**old, **self._resolved(), "condition_holds": False, "held_mail": None, "updated_at": self.now}
        change = _Change(row=row, events=[("resolved", {"resolution": "cleared"})])
        if old["email_queued"]:
            self._mail(change, "recovery", f"recovery:{old['open_count']}")
        return change


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


def _render(mail: _Mail, workflow: WorkflowConfig, page_url_base: str) -> EmailContent:
    from batch_monitor.notify.render import render_alert, render_recovery

    ctx = alert_context(mail.alert, workflow, page_url_base)
    if mail.kind == "alert":
        return render_alert(ctx.model_copy(update={"at_risk": mail.at_risk}))
    group = mail.members or [mail.alert]
    ends = [row["resolved_at"] for row in group if row["resolved_at"] is not None]
    summary = {
        "resolved_at": max([*ends, *([ctx.resolved_at] if ctx.resolved_at else [])]) if ends else ctx.resolved_at,
        "incident_alerts": len(group),
        "incident_cost": [row["title"] for row in group if row["kind"] == FindingKind.MISSED_DEADLINE.value],
    }
    return render_recovery(ctx.model_copy(update=summary))


def _load_day(conn: sa.Connection, ev: Evaluation) -> dict[tuple[str, str], dict[str, Any]]:
    """The day's alerts, locked until the transaction ends (an acknowledgement waits for the tick)."""
    t = alerts
    rows = conn.execute(
        sa.select(t)
        .where(t.c.workflow_id == ev.workflow_id, t.c.business_date == ev.business_date)
        .order_by(t.c.id)
        .with_for_update()
    )
    return {(r.step_id, r.kind): _utc_values(r) for r in rows}


def _insert_new(conn: sa.Connection, changes: list[_Change], on_conflict: Literal["raise", "skip"] = "raise") -> None:
    if not changes:
        return
    t = alerts
    source = recordset([c.row for c in changes], [t.c[n] for n in _INSERT_COLUMNS])
    stmt = (
        pg_insert(t)
        .from_select(list(_INSERT_COLUMNS), sa.select(*source.c))
        .on_conflict_do_nothing(constraint="uq_alerts_identity")
        .returning(t.c.id, t.c.step_id, t.c.kind)
    )
    ids = {(r.step_id, r.kind): r.id for r in conn.execute(stmt)}
    for change in changes:
        identity = (change.row["step_id"], change.row["kind"])
        if identity not in ids and on_conflict == "skip":
            continue
        if identity not in ids:  # only possible if the tick lock was bypassed
            raise RuntimeError(f"alert {identity} of {change.row['workflow_id']} was opened concurrently")
        change.row["id"] = ids[identity]


def _update_existing(conn: sa.Connection, changes: list[_Change]) -> None:
    if not changes:
        return
    t = alerts
    source = recordset(
        [{n: c.row[n] for n in ("id", *_UPDATE_COLUMNS)} for c in changes],
        [t.c.id, *(t.c[n] for n in _UPDATE_COLUMNS)],
    )
    conn.execute(sa.update(t).where(t.c.id == source.c.id).values({n: source.c[n] for n in _UPDATE_COLUMNS}))


def _insert_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    t = alert_events
    source = recordset(rows, [t.c[n] for n in _EVENT_COLUMNS])
    conn.execute(sa.insert(t).from_select(list(_EVENT_COLUMNS), sa.select(*source.c)))


def sync_alerts(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    ev: Evaluation,
    *,
    recipients: list[str],
    page_url_base: str,
    now: dt.datetime,
) -> SyncResult:
    """Bring the day's alerts in line with the findings of ``ev``; queue the mails that entails.

    Alerts of severity >= ``workflow.email_min_severity`` are mailed to ``recipients`` when they
    open, reopen or escalate, and get a recovery mail when they resolve. A closed finding (a breach
    already over, e.g. a step that completed after its deadline between two ticks) resolves its
    active alert, or opens one resolved at once (mailed once by the same rule, no recovery mail);
    judging the day again changes nothing. A tick whose ``as_of``
    is not newer than the last synced one for the workflow and day changes nothing
    (``skipped=True``). A handful of statements whatever the number of findings, plus one
    per mail.
    """
    if ev.workflow_id != workflow.workflow_id:
        raise ValueError(f"sync_alerts: evaluation of {ev.workflow_id!r} given with workflow {workflow.workflow_id!r}")
    as_of = utc(ev.as_of, "Evaluation.as_of")
    now = utc(now, "now")
    if not _claim_tick(conn, ev, as_of):
        return SyncResult(skipped=True, reason=f"a tick as new as {as_of.isoformat()} was already synced")
    in_effect = stored_silences.in_effect(conn, workflow, as_of)
    plan = _Planner(workflow, ev.business_date, as_of, now, _addresses(recipients), ev, in_effect)
    day = _load_day(conn, ev)
    # conditions the evaluator does not judge (the source being down) are raised and cleared elsewhere
    existing = {key: old for key, old in day.items() if key[1] not in OUTSIDE_EVALUATION}
    findings = _unique(ev.findings)
    new = [plan.new(f) for identity, f in findings.items() if identity not in existing]
    holding = {key: f for key, f in findings.items() if not f.closed}
    over = {key: f for key, f in findings.items() if f.closed}
    updated = [plan.still_there(old, holding[key]) for key, old in existing.items() if key in holding]
    updated += [change for key, old in existing.items() if key in over if (change := plan.closed(old, over[key]))]
    updated += [change for key, old in existing.items() if key not in findings if (change := plan.gone(old))]
    grouping = _group(plan, day, new + updated)  # before the insert: a consequence is never marked as mailed
    _insert_new(conn, new)
    mails, assigned = _incident_mails(plan, grouping)
    _write(conn, plan, new, updated, page_url_base, mails, assigned)
    return plan.result


@dataclass
class _Grouping:
    """The day's alerts (after the tick's changes) and the cause each is grouped under."""

    rows: dict[tuple[str, str], dict[str, Any]]
    placed: dict[tuple[str, str], tuple[str, str]]
    changed: dict[tuple[str, str], _Change]


def _kept(row: dict[str, Any], change: _Change | None, by_id: dict[int, tuple[str, str]]) -> tuple[str, str] | None:
    """The cause an alert stays under, or None to place it afresh (see :func:`incidents.group`)."""
    if change is not None and change.fresh:
        return None
    if row.get("incident_id") is None:  # recorded before incidents: place it if it holds, else leave it alone
        return None if row["condition_holds"] else (row["step_id"], row["kind"])
    return by_id.get(row["incident_id"])


def _group(plan: _Planner, day: dict[tuple[str, str], dict[str, Any]], changes: list[_Change]) -> _Grouping:
    """Group the day's alerts into incidents and drop the alert mails of consequences (their
    cause's mail tells of them); alerts opened in this tick have no id yet."""
    changed = {(c.row["step_id"], c.row["kind"]): c for c in changes}
    rows = {**day, **{key: c.row for key, c in changed.items()}}
    by_id = {row["id"]: key for key, row in rows.items() if "id" in row}
    conditions = [
        incidents.Condition(
            step_id=key[0],
            kind=key[1],
            holds=bool(row["condition_holds"]),
            order=row.get("id", _NEWEST + index),
            kept=_kept(row, changed.get(key), by_id),
        )
        for index, (key, row) in enumerate(rows.items())
    ]
    placed = incidents.group(conditions, plan.graph)
    for key, change in changed.items():
        if change.mail == "alert" and placed[key] != key:
            change.mail = None
            change.row["email_queued"] = False
            cause = rows[placed[key]]
            reason = f"part of the incident of {cause['step_id']} {cause['kind']}: mailed with its cause"
            change.mail_details["email"] = {"queued": False, "reason": reason}
        plan.hold(change)
    return _Grouping(rows, placed, changed)


def _incident_mails(plan: _Planner, grouping: _Grouping) -> tuple[list[_Mail], dict[int, int]]:
    """Once every alert has its id: the mails to queue and the alerts whose incident changed
    ({alert id: cause id}). Recovery mails go once an incident's every alert has cleared and one of
    them cleared in this tick."""
    rows, placed = grouping.rows, grouping.placed
    assigned: dict[int, int] = {}
    for key, row in rows.items():
        cause_id = rows[placed[key]]["id"]
        if row.get("incident_id") != cause_id:
            row["incident_id"] = assigned[row["id"]] = cause_id
    mails: list[_Mail] = []
    for key, change in grouping.changed.items():
        if change.fresh:
            change.events[0][1]["incident_id"] = rows[placed[key]]["id"]
        if change.mail == "alert":
            at_risk = []
            if plan.ev is not None and key[1] in incidents.CAUSE_KINDS:
                at_risk = incidents.at_risk(plan.ev, plan.graph, key[0], plan.order)
            held = [[k[0], k[1]] for k in incidents.members(placed, key)[1:] if rows[k]["condition_holds"]]
            mails.append(_Mail("alert", change.row, change.mail_tag, change.mail_details, at_risk, consequences=held))
    mails += _recoveries(plan, rows, placed, grouping.changed)
    return mails, assigned


def _recoveries(
    plan: _Planner,
    rows: dict[tuple[str, str], dict[str, Any]],
    placed: dict[tuple[str, str], tuple[str, str]],
    changed: dict[tuple[str, str], _Change],
) -> list[_Mail]:
    """One recovery mail for each mailed incident whose last alert cleared in this tick."""
    cleared = {key: c for key, c in changed.items() if c.cleared}
    mails: list[_Mail] = []
    for cause_key in dict.fromkeys(placed[key] for key in cleared):
        cause = rows[cause_key]
        group = [rows[key] for key in incidents.members(placed, cause_key)]
        holding = sum(bool(row["condition_holds"]) for row in group)
        if holding and cause_key in cleared and cause["email_queued"]:
            reason = f"{holding} alert(s) of this incident still hold: the recovery mail waits for them"
            cleared[cause_key].events[-1][1]["email"] = {"queued": False, "reason": reason}
        if not plan.to or not cause["email_queued"] or holding:
            continue
        teller = next(cleared[key] for key in incidents.members(placed, cause_key) if key in cleared)
        silence = plan.silenced(cause)
        if silence is not None:  # a silence holds back every mail of the incident, its recovery too
            teller.events[-1][1]["email"] = plan.silence_note(silence)
            continue
        mails.append(_Mail("recovery", cause, f"recovery:{cause['open_count']}", teller.events[-1][1], members=group))
    return mails


def _addresses(recipients: list[str]) -> list[str]:
    return [r.strip() for r in recipients if r and r.strip()]


def _mails_of(changes: list[_Change]) -> list[_Mail]:
    """The mails the changes call for, each about its own alert (a condition that is its own cause)."""
    return [_Mail(c.mail, c.row, c.mail_tag, c.mail_details) for c in changes if c.mail is not None]


def _set_incidents(conn: sa.Connection, assigned: dict[int, int]) -> None:
    if not assigned:
        return
    t = alerts
    source = recordset(
        [{"id": alert_id, "incident_id": cause_id} for alert_id, cause_id in assigned.items()],
        [t.c.id, t.c.incident_id],
    )
    conn.execute(sa.update(t).where(t.c.id == source.c.id).values(incident_id=source.c.incident_id))


def _write(
    conn: sa.Connection,
    plan: _Planner,
    new: list[_Change],
    updated: list[_Change],
    page_url_base: str,
    mails: list[_Mail] | None = None,
    assigned: dict[int, int] | None = None,
) -> None:
    """Write the planned changes of alerts already inserted or existing: rows, incidents, mails, events."""
    _update_existing(conn, updated)
    if assigned is None:  # a condition outside evaluation: always its own cause
        assigned = {c.row["id"]: c.row["id"] for c in new + updated if c.row.get("incident_id") is None}
    _set_incidents(conn, assigned)
    mailed: list[_Mail] = []
    for mail in _mails_of(new + updated) if mails is None else mails:
        dedupe_key = f"alert:{mail.alert['id']}:{mail.tag}"
        queued = outbox.enqueue(
            conn,
            dedupe_key=dedupe_key,
            alert_id=mail.alert["id"],
            kind=mail.kind,
            recipients=plan.to,
            content=_render(mail, plan.workflow, page_url_base),
            now=plan.now,
            channels=plan.workflow.channels,
        )
        plan.result.mails_queued += int(queued)
        mail.details["email"] = {"queued": queued, "dedupe_key": dedupe_key, "to": plan.to}
        if queued and mail.kind == "alert":
            mailed.append(mail)
    _note_mailed(conn, mailed, plan.as_of)
    _insert_events(
        conn,
        [
            {
                "alert_id": c.row["id"],
                "event": name,
                "at": plan.now,
                "as_of": plan.as_of,
                "actor": MONITOR,
                "details": details,
            }
            for c in new + updated
            for name, details in c.events
        ],
    )


def _consequences(conn: sa.Connection, cause_id: int) -> list[list[str]]:
    """The incident's consequences that hold, as [step_id, kind] pairs (what its mails tell of)."""
    t = alerts
    rows = conn.execute(
        sa.select(t.c.step_id, t.c.kind)
        .where(t.c.incident_id == cause_id, t.c.id != cause_id, t.c.condition_holds.is_(True))
        .order_by(t.c.id)
    )
    return [[r.step_id, r.kind] for r in rows]


def _note_mailed(conn: sa.Connection, mailed: list[_Mail], as_of: dt.datetime) -> None:
    """Problem mails went out as of ``as_of``: their reminder clocks start again, in one statement
    (an opening also starts the escalation clock and the reminder count afresh; a severity
    escalation of an alert already open keeps them)."""
    if not mailed:
        return
    t = alerts
    opening: sa.Column[bool] = sa.Column("opening", sa.Boolean())
    source = recordset(
        [
            {
                "id": m.alert["id"],
                "last_mailed_at": as_of,
                "mailed_consequences": m.consequences,
                "opening": m.tag.startswith("opened:"),
            }
            for m in mailed
        ],
        [t.c.id, t.c.last_mailed_at, t.c.mailed_consequences, opening],
    )
    fresh = source.c.opening.is_(True)
    conn.execute(
        sa.update(t)
        .where(t.c.id == source.c.id)
        .values(
            last_mailed_at=source.c.last_mailed_at,
            mailed_consequences=source.c.mailed_consequences,
            mailed_at=sa.case((fresh, source.c.last_mailed_at), else_=sa.func.coalesce(t.c.mailed_at, as_of)),
            reminders=sa.case((fresh, 0), else_=t.c.reminders),
            escalated_at=sa.case((fresh, sa.null()), else_=t.c.escalated_at),
        )
    )


# --------------------------------------------------------------------------- reminders and escalation


def remind(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    *,
    as_of: dt.datetime,
    recipients: list[str],
    escalate_to: list[str],
    page_url_base: str,
    now: dt.datetime,
) -> SyncResult:
    """Mail again the unacknowledged CRITICAL incidents of ``workflow`` (any business day), as of ``as_of``.

    An open (not acknowledged), still holding, mailed CRITICAL cause is reminded once
    ``workflow.remind_every`` has passed since its latest mail (0: never); once
    ``workflow.escalate_after`` has passed since its problem mail, its mails (an escalation notice,
    then the reminders) also go to ``escalate_to``. Judged from ``as_of`` (the tick), never the
    wall clock: a replayed or older tick finds nothing due, and each reminder's dedupe key
    (``alert:{id}:reminder:{opening}:{n}``) is unique, so nothing is ever mailed twice.

    While a silence (or maintenance window) covers a cause, it is neither reminded nor escalated.
    A problem mail a silence held back goes out at the first tick after the silence ends, once
    (same dedupe key as it would have had), if the alert is still open and its condition holds.
    """
    as_of, now = utc(as_of, "as_of"), utc(now, "now")
    result = SyncResult()
    to = _addresses(recipients)
    if not to and list(workflow.channels) == ["email"]:  # other channels need no addresses
        return result
    in_effect = stored_silences.in_effect(conn, workflow, as_of)
    _release_held(conn, workflow, in_effect, as_of, now, to, page_url_base, result)
    extra = [a for a in _addresses(escalate_to) if a not in to]
    if not workflow.remind_every and not extra:
        return result
    t = alerts
    rows = conn.execute(
        sa.select(t)
        .where(
            t.c.workflow_id == workflow.workflow_id,
            t.c.state == OPEN,
            t.c.severity == Severity.CRITICAL.value,
            t.c.condition_holds.is_(True),
            t.c.email_queued.is_(True),
            t.c.mailed_at <= as_of,
            sa.or_(t.c.incident_id.is_(None), t.c.incident_id == t.c.id),
        )
        .order_by(t.c.id)
        .with_for_update()
    ).all()
    for row in rows:
        values = _utc_values(row)
        if silencing.covering(in_effect, values["step_id"], values["kind"], values["id"], as_of) is None:
            _remind_one(conn, workflow, values, as_of, now, to, extra, page_url_base, result)
    return result


def _release_held(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    in_effect: list[Silence],
    as_of: dt.datetime,
    now: dt.datetime,
    to: list[str],
    page_url_base: str,
    result: SyncResult,
) -> None:
    """Mail the problem mails silences held back, of open causes that still hold and that no
    silence covers any more as of ``as_of``; each once (its dedupe key is the one it was held with)."""
    t = alerts
    rows = conn.execute(
        sa.select(t)
        .where(
            t.c.workflow_id == workflow.workflow_id,
            t.c.held_mail.is_not(None),
            t.c.state == OPEN,
            t.c.condition_holds.is_(True),
            t.c.first_seen_at <= as_of,
            sa.or_(t.c.incident_id.is_(None), t.c.incident_id == t.c.id),
        )
        .order_by(t.c.id)
        .with_for_update()
    ).all()
    for found in rows:
        row = _utc_values(found)
        if silencing.covering(in_effect, row["step_id"], row["kind"], row["id"], as_of) is not None:
            continue
        at_risk: list[AtRisk] = []
        ev = load_evaluation(conn, row["workflow_id"], row["business_date"])
        if ev is not None and row["kind"] in incidents.CAUSE_KINDS:
            at_risk = incidents.at_risk(ev, incidents.dependency_graph(workflow), row["step_id"])
        details: dict[str, Any] = {"after": "silence ended"}
        mail = _Mail("alert", row, row["held_mail"], details, at_risk, consequences=_consequences(conn, row["id"]))
        dedupe_key = f"alert:{row['id']}:{mail.tag}"
        queued = outbox.enqueue(
            conn,
            dedupe_key=dedupe_key,
            alert_id=row["id"],
            kind="alert",
            recipients=to,
            content=_render(mail, workflow, page_url_base),
            now=now,
            channels=workflow.channels,
        )
        details["email"] = {"queued": queued, "dedupe_key": dedupe_key, "to": to}
        conn.execute(sa.update(t).where(t.c.id == row["id"]).values(held_mail=None, email_queued=True, updated_at=now))
        _note_mailed(conn, [mail], as_of)
        event = {"alert_id": row["id"], "event": "released", "at": now, "as_of": as_of, "actor": MONITOR}
        _insert_events(conn, [{**event, "details": details}])
        result.mails_queued += int(queued)


def _remind_one(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    row: dict[str, Any],
    as_of: dt.datetime,
    now: dt.datetime,
    to: list[str],
    extra: list[str],
    page_url_base: str,
    result: SyncResult,
) -> None:
    """Queue the reminder or escalation notice of one cause, if one is due as of ``as_of``."""
    every = workflow.remind_every
    reminder = bool(every) and as_of - (row["last_mailed_at"] or row["mailed_at"]) >= every
    escalation = bool(extra) and row["escalated_at"] is None and as_of - row["mailed_at"] >= workflow.escalate_after
    if not (reminder or escalation):
        return
    escalated = escalation or row["escalated_at"] is not None
    mail_to = to + extra if escalated else to
    consequences = _consequences(conn, row["id"])
    changed = incidents.what_changed(row["mailed_consequences"] or [], consequences)
    number = row["reminders"] + 1 if reminder else 0
    tag = f"reminder:{row['open_count']}:{number}" if reminder else f"escalation:{row['open_count']}"
    dedupe_key = f"alert:{row['id']}:{tag}"
    content = _render_reminder(conn, workflow, row, page_url_base, as_of, number, changed, extra if escalated else [])
    queued = outbox.enqueue(
        conn,
        dedupe_key=dedupe_key,
        alert_id=row["id"],
        kind="reminder" if reminder else "escalation",
        recipients=mail_to,
        content=content,
        now=now,
        channels=workflow.channels,
    )
    values: dict[str, Any] = {"mailed_consequences": consequences, "updated_at": now}
    if reminder:
        values.update(last_mailed_at=as_of, reminders=number)
    if escalation:
        values["escalated_at"] = as_of
    t = alerts
    conn.execute(sa.update(t).where(t.c.id == row["id"]).values(values))
    details: dict[str, Any] = {"changed": changed, "email": {"queued": queued, "dedupe_key": dedupe_key, "to": mail_to}}
    if reminder:
        details["number"] = number
    if escalation:
        details["escalate_to"] = extra
    event = "reminded" if reminder else "escalation"  # a reminder that escalates says so in its details
    _insert_events(
        conn, [{"alert_id": row["id"], "event": event, "at": now, "as_of": as_of, "actor": MONITOR, "details": details}]
    )
    result.reminders += int(reminder and queued)
    result.escalations += int(escalation)
    result.mails_queued += int(queued)


def _render_reminder(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    row: dict[str, Any],
    page_url_base: str,
    as_of: dt.datetime,
    number: int,
    changed: str,
    escalated_to: list[str],
) -> EmailContent:
    from batch_monitor.notify.render import render_reminder

    ctx = alert_context(row, workflow, page_url_base)
    ev = load_evaluation(conn, row["workflow_id"], row["business_date"])
    if ev is not None and row["kind"] in incidents.CAUSE_KINDS:
        graph = incidents.dependency_graph(workflow)
        ctx = ctx.model_copy(update={"at_risk": incidents.at_risk(ev, graph, row["step_id"])})
    return render_reminder(
        ctx, number=number, changed=changed, escalated_to=escalated_to, unacknowledged=as_of - row["mailed_at"]
    )


# --------------------------------------------------------------------------- conditions outside evaluation


def raise_condition(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    finding: Finding,
    *,
    business_date: dt.date,
    as_of: dt.datetime,
    recipients: list[str],
    page_url_base: str,
    now: dt.datetime,
) -> SyncResult:
    """Open, keep or reopen the one alert of a condition the evaluator cannot see (the source down).

    Works like one finding of :func:`sync_alerts` (same mails, events and dedupe keys), but leaves
    every other alert alone; :func:`clear_condition` resolves it. ``details["missed_ticks"]``
    collects the as-of time of every tick the condition held in (the latest
    :data:`MAX_MISSED_TICKS`), so the monitor can judge them once the condition clears.
    """
    as_of, now = utc(as_of, "as_of"), utc(now, "now")
    in_effect = stored_silences.in_effect(conn, workflow, as_of)
    plan = _Planner(workflow, business_date, as_of, now, _addresses(recipients), silences=in_effect)
    for _attempt in range(2):
        old = _load_condition(conn, workflow.workflow_id, business_date, finding)
        if old is None:
            change = plan.new(_with_missed(finding, [], as_of))
            plan.hold(change)
            _insert_new(conn, [change], on_conflict="skip")
            if "id" not in change.row:  # opened by a concurrent tick a moment ago: keep that one
                plan.result = SyncResult()
                continue
            _write(conn, plan, [change], [], page_url_base)
            return plan.result
        holding = bool(old["condition_holds"])
        held = old["details"].get("missed_ticks", []) if holding else []  # an earlier outage's ticks were judged
        kept = _with_missed(finding, held, as_of)
        if holding and old["since"] is not None:
            kept = kept.model_copy(update={"since": min(old["since"], as_of)})  # when this outage began
        change = plan.still_there(old, kept)
        change.row["last_seen_at"] = max(old["last_seen_at"], as_of)  # a late, older tick never moves it back
        plan.hold(change)
        _write(conn, plan, [], [change], page_url_base)
        return plan.result
    raise RuntimeError(f"alert {finding.identity} of {workflow.workflow_id} could not be opened or found")


def _with_missed(finding: Finding, missed: list[str], as_of: dt.datetime) -> Finding:
    ticks = sorted({*missed, as_of.isoformat()})[-MAX_MISSED_TICKS:]
    return finding.model_copy(update={"details": {**finding.details, "missed_ticks": ticks}})


def _load_condition(
    conn: sa.Connection, workflow_id: str, business_date: dt.date, finding: Finding
) -> dict[str, Any] | None:
    t = alerts
    row = conn.execute(
        sa.select(t)
        .where(
            t.c.workflow_id == workflow_id,
            t.c.business_date == business_date,
            t.c.step_id == finding.step_id,
            t.c.kind == finding.kind.value,
        )
        .with_for_update()
    ).first()
    return None if row is None else _utc_values(row)


def clear_condition(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    kind: FindingKind,
    *,
    as_of: dt.datetime,
    recipients: list[str],
    page_url_base: str,
    now: dt.datetime,
) -> SyncResult:
    """The condition ``kind`` no longer holds as of ``as_of``: resolve its alerts (any business day).

    Only alerts last seen at or before ``as_of`` clear: a late, older tick does not resolve an
    outage seen after it. Recovery mails go out as for :func:`sync_alerts`.
    """
    as_of, now = utc(as_of, "as_of"), utc(now, "now")
    t = alerts
    rows = conn.execute(
        sa.select(t)
        .where(
            t.c.workflow_id == workflow.workflow_id,
            t.c.kind == kind.value,
            t.c.condition_holds.is_(True),
            t.c.last_seen_at <= as_of,
        )
        .order_by(t.c.id)
        .with_for_update()
    ).all()
    result = SyncResult()
    in_effect = stored_silences.in_effect(conn, workflow, as_of) if rows else []
    for row in rows:
        old = _utc_values(row)
        plan = _Planner(workflow, old["business_date"], as_of, now, _addresses(recipients), silences=in_effect)
        change = plan.gone(old)
        if change is not None:
            _write(conn, plan, [], [change], page_url_base, _incident_recovery(conn, plan, change))
        result.resolved += plan.result.resolved
        result.mails_queued += plan.result.mails_queued
    return result


def _incident_recovery(conn: sa.Connection, plan: _Planner, change: _Change) -> list[_Mail]:
    """The recovery mail of a cause that cleared, if its incident's other alerts have cleared too
    (else the tick that clears the last of them sends it) and no silence covers it."""
    if change.mail != "recovery":
        return []
    silence = plan.silenced(change.row)
    if silence is not None:
        change.mail_details["email"] = plan.silence_note(silence)
        return []
    t = alerts
    others = [
        _utc_values(r)
        for r in conn.execute(
            sa.select(t).where(t.c.incident_id == change.row["id"], t.c.id != change.row["id"]).order_by(t.c.id)
        )
    ]
    if any(row["condition_holds"] for row in others):
        reason = f"{sum(row['condition_holds'] for row in others)} alert(s) of this incident still hold"
        change.mail_details["email"] = {"queued": False, "reason": f"{reason}: the recovery mail waits for them"}
        return []
    return [_Mail("recovery", change.row, change.mail_tag, change.mail_details, members=[change.row, *others])]


def missed_ticks(conn: sa.Connection, workflow_id: str, kind: FindingKind, before: dt.datetime) -> list[dt.datetime]:
    """As-of times of the ticks an active condition ``kind`` held in, before ``before``, oldest first
    (the latest :data:`MAX_MISSED_TICKS` of them: a catch-up after a long outage stays bounded)."""
    t = alerts
    details = conn.execute(
        sa.select(t.c.details).where(t.c.workflow_id == workflow_id, t.c.kind == kind.value, t.c.condition_holds)
    ).scalars()
    before = utc(before, "before")
    moments = {dt.datetime.fromisoformat(m) for d in details for m in (d or {}).get("missed_ticks", [])}
    return sorted(m for m in moments if m < before)[-MAX_MISSED_TICKS:]


# --------------------------------------------------------------------------- operator actions


def _event(
    conn: sa.Connection,
    alert_id: int,
    event: str,
    *,
    actor: str,
    comment: str | None,
    now: dt.datetime,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        sa.insert(alert_events).values(
            alert_id=alert_id, event=event, at=now, actor=actor, comment=comment, details=details or {}
        )
    )


def acknowledge_alert(
    conn: sa.Connection, alert_id: int, *, user: str, comment: str | None, now: dt.datetime
) -> AckResult | None:
    """Acknowledge an open alert. Of two people acknowledging at once exactly one wins.

    The result says who holds it; a repeated or rejected attempt is recorded as an
    ``ack_repeated`` / ``ack_rejected`` event. None when there is no such alert.
    """
    now = utc(now, "now")
    t = alerts
    won = conn.execute(
        sa.update(t)
        .where(t.c.id == alert_id, t.c.state == OPEN)
        .values(state=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user, ack_comment=comment, updated_at=now)
        .returning(t.c.state, t.c.acknowledged_by, t.c.acknowledged_at, t.c.ack_comment)
    ).first()
    if won is not None:
        _event(conn, alert_id, "acknowledged", actor=user, comment=comment, now=now)
        return AckResult(
            alert_id, "acknowledged", won.state, won.acknowledged_by, _utc_or_none(won.acknowledged_at), won.ack_comment
        )
    row = conn.execute(
        sa.select(t.c.state, t.c.acknowledged_by, t.c.acknowledged_at, t.c.ack_comment).where(t.c.id == alert_id)
    ).first()
    if row is None:
        return None
    if row.state == ACKNOWLEDGED:
        event = "ack_repeated" if row.acknowledged_by == user else "ack_rejected"
        details = {"acknowledged_by": row.acknowledged_by, "acknowledged_at": row.acknowledged_at.isoformat()}
        _event(conn, alert_id, event, actor=user, comment=comment, now=now, details=details)
        outcome: Literal["already_acknowledged", "resolved"] = "already_acknowledged"
    else:
        _event(conn, alert_id, "ack_rejected", actor=user, comment=comment, now=now, details={"reason": "resolved"})
        outcome = "resolved"
    return AckResult(
        alert_id, outcome, row.state, row.acknowledged_by, _utc_or_none(row.acknowledged_at), row.ack_comment
    )


def resolve_alert(
    conn: sa.Connection, alert_id: int, *, user: str, comment: str | None, now: dt.datetime
) -> ResolveResult | None:
    """Resolve an open or acknowledged alert by hand (resolution 'manual'). None for an unknown id.

    The alert stays resolved while its condition holds; it reopens if the condition clears and
    comes back. No recovery mail: the condition did not clear.
    """
    now = utc(now, "now")
    t = alerts
    done = conn.execute(
        sa.update(t)
        .where(t.c.id == alert_id, t.c.state.in_(ACTIVE_STATES))
        .values(state=RESOLVED, resolved_at=now, resolved_by=user, resolution="manual", updated_at=now)
        .returning(t.c.resolved_by, t.c.resolved_at, t.c.resolution)
    ).first()
    if done is not None:
        _event(conn, alert_id, "resolved", actor=user, comment=comment, now=now, details={"resolution": "manual"})
        return ResolveResult(alert_id, "resolved", done.resolved_by, _utc_or_none(done.resolved_at), done.resolution)
    row = conn.execute(sa.select(t.c.resolved_by, t.c.resolved_at, t.c.resolution).where(t.c.id == alert_id)).first()
    if row is None:
        return None
    return ResolveResult(alert_id, "already_resolved", row.resolved_by, _utc_or_none(row.resolved_at), row.resolution)


def _record(row: sa.Row[Any], events: list[AlertEvent] | None = None) -> AlertRecord:
    return AlertRecord.model_validate({**_utc_values(row), "events": events or []})


def get_alert(conn: sa.Connection, alert_id: int) -> AlertRecord | None:
    """One alert with its events in the order they were recorded, or None."""
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    if row is None:
        return None
    e = alert_events
    events = [
        AlertEvent.model_validate(_utc_values(r))
        for r in conn.execute(sa.select(e).where(e.c.alert_id == alert_id).order_by(e.c.id))  # as recorded
    ]
    return _record(row, events)


def list_alerts(
    conn: sa.Connection, workflow_id: str, business_date: dt.date, states: Iterable[str] | None = None
) -> list[AlertRecord]:
    """The day's alerts (without events), most severe and oldest first."""
    t = alerts
    query = sa.select(t).where(t.c.workflow_id == workflow_id, t.c.business_date == business_date)
    if states is not None:
        query = query.where(t.c.state.in_(list(states)))
    records = [_record(r) for r in conn.execute(query.order_by(t.c.first_seen_at, t.c.id))]
    return sorted(records, key=lambda a: -a.severity.rank)
