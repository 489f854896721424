"""Alerting: the evaluator's findings diffed against the day's alerts, and the messages that calls for. Pure.

A finding whose identity (step, kind) has no alert yet opens one; a finding that is still there is
*seen* (and may escalate); an alert whose finding is gone resolves; a resolved alert whose
condition comes back reopens. A manually resolved alert stays resolved while its condition keeps
holding without a break; it reopens only when the condition clears and later comes back.

Messages go per incident (:mod:`batch_monitor.incidents`): each alert records the alert that
caused it (``incident_id``). A cause is mailed when it opens, reopens or escalates, with what it
puts at risk; its consequences are recorded but never mailed on their own; one recovery mail goes
out when the whole incident has cleared. A silence holds a problem mail back (recorded, not
queued) until it ends. :func:`plan_reminder` works out the reminder or escalation notice an
unacknowledged CRITICAL cause is due, judged as of the tick.

No Airflow, no database: the store (``store/alerts.py``) loads the alert rows as dicts, hands them
in, and writes back what comes out: rows, events and messages (``Message``), which it renders
with the renderer the pipeline gives it and queues in the same transaction. An alert opened in
this tick has no id until the store inserts it, so the messages and incident assignments are
worked out in a second step (:meth:`Planner.messages`), once it has one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from batch_monitor import incidents
from batch_monitor import silences as silencing
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import FindingKind, Severity
from batch_monitor.models import AtRisk, EmailContent, Evaluation, Finding
from batch_monitor.silences import Silence

# an alert's states; ACTIVE_STATES are the ones the page lists and counts
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ACTIVE_STATES = (OPEN, ACKNOWLEDGED)
MONITOR = "monitor"  # the actor of the events the monitor itself records
# kinds the evaluator never finds: raise_condition/clear_condition manage them, the diff leaves them be
OUTSIDE_EVALUATION = frozenset({FindingKind.SOURCE_UNAVAILABLE.value})
MAX_MISSED_TICKS = 96  # a day of 15-minute ticks
_NEWEST = 2**62  # the grouping's order of alerts not inserted yet: after every stored one

Row = dict[str, Any]  # an alert row as the store loads it (times in UTC)
Identity = incidents.Identity
MessageKind = Literal["alert", "recovery", "reminder", "escalation"]


@dataclass
class SyncResult:
    """What one tick's alerting did."""

    opened: int = 0
    seen: int = 0
    reopened: int = 0
    resolved: int = 0
    escalated: int = 0
    mails_queued: int = 0
    reminders: int = 0  # reminders queued (see :func:`plan_reminder`)
    escalations: int = 0  # incidents whose mails began to go to escalate_to
    skipped: bool = False  # the tick was not newer than the last one synced: nothing changed
    reason: str = ""


@dataclass
class Change:
    """One alert's new values, the events to record and the mail to queue (if any)."""

    row: Row  # the alert's full row after the change
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
class Message:
    """One message to queue about an incident's cause; its outcome is noted in the event ``details``.

    The store renders it (with the renderer the pipeline hands in) and queues it on the
    workflow's channels under :func:`dedupe_key`.
    """

    kind: MessageKind
    alert: Row  # the cause's row: the message's alert id and dedupe key
    tag: str
    details: dict[str, Any]
    to: list[str]  # the mail's recipients
    at_risk: list[AtRisk] = field(default_factory=list)  # alert mails: what the cause puts at risk
    members: list[Row] = field(default_factory=list)  # recovery mails: the incident's alerts
    consequences: list[list[str]] = field(default_factory=list)  # [step_id, kind] that hold
    # reminders and escalation notices
    number: int = 0  # the reminder's number (0: an escalation notice)
    changed: str = ""  # what changed in the incident since its last mail
    escalated_to: list[str] = field(default_factory=list)
    unacknowledged: dt.timedelta = dt.timedelta(0)  # since the problem mail

    @property
    def dedupe_key(self) -> str:
        return dedupe_key(self.alert["id"], self.tag)


Render = Callable[[Message, WorkflowConfig], EmailContent]  # the message's content (notify/alert_mail.py)


def dedupe_key(alert_id: int, tag: str) -> str:
    """The outbox's dedupe key of an alert's message: unique per opening (and reminder)."""
    return f"alert:{alert_id}:{tag}"


def addresses(recipients: Iterable[str]) -> list[str]:
    return [r.strip() for r in recipients if r and r.strip()]


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


def unique(findings: Iterable[Finding]) -> dict[Identity, Finding]:
    """One finding per identity; should the evaluator give two, the more severe one counts."""
    chosen: dict[Identity, Finding] = {}
    for f in findings:
        held = chosen.get(f.identity)
        if held is None or f.severity.rank > held.severity.rank:
            chosen[f.identity] = f
    return chosen


def _rank(severity: str) -> int:
    return Severity(severity).rank


@dataclass
class Grouping:
    """The day's alerts (after the tick's changes) and the cause each is grouped under."""

    rows: dict[Identity, Row]
    placed: dict[Identity, Identity]
    changed: dict[Identity, Change]


@dataclass
class Transitions:
    """What a tick changes in the day's alerts: alerts to insert, alerts to update, their incidents."""

    new: list[Change]  # no id until the store inserts them
    updated: list[Change]
    grouping: Grouping


class Planner:
    """Works out, in memory, what a tick changes in one workflow's alerts of one business day."""

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

    # ----------------------------------------------------------------------- one alert

    def _mail(self, change: Change, kind: Literal["alert", "recovery"], tag: str) -> None:
        """Plan a mail about the change's latest event (or note why none can go)."""
        details = change.events[-1][1]
        if not self.to and list(self.workflow.channels) == ["email"]:  # other channels need no addresses
            details["email"] = {"queued": False, "reason": "no recipients configured"}
            return
        change.mail, change.mail_tag, change.mail_details = kind, tag, details
        if kind == "alert":
            change.row["email_queued"] = True
            change.row["held_mail"] = None

    def silenced(self, row: Row) -> Silence | None:
        """The silence or maintenance window covering the alert as of the tick, if any."""
        return silencing.covering(self.silences, row["step_id"], row["kind"], row.get("id"), self.as_of)

    def silence_note(self, silence: Silence) -> dict[str, Any]:
        """What an event says of a mail a silence held back: 'silenced until 11:00 by op1: ...'."""
        return {
            "queued": False,
            "reason": silencing.describe(silence, self.workflow.timezone, self.as_of),
            "silence": {"id": silence.id, "source": silence.source, "until": silence.end.isoformat()},
        }

    def hold(self, change: Change) -> None:
        """A problem mail a silence covers is held: recorded, not queued; :func:`release_held` mails
        it once the silence has ended, if the alert still holds."""
        silence = self.silenced(change.row) if change.mail == "alert" else None
        if silence is None:
            return
        change.mail = None
        change.row["email_queued"] = False
        change.row["held_mail"] = change.mail_tag
        change.mail_details["email"] = self.silence_note(silence)

    def _mailed(self, severity: str) -> bool:
        return _rank(severity) >= self.workflow.email_min_severity.rank

    def new(self, f: Finding) -> Change:
        """A finding no alert of the day has: a new alert (resolved at once if the breach is over)."""
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
        change = Change(row=row, events=[("opened", {"severity": f.severity.value})])
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

    def closed(self, old: Row, f: Finding) -> Change | None:
        """A breach that is over: an alert still active for it resolves with the finding's words;
        one already resolved stays as it is (judging the day again changes nothing)."""
        change = self.gone(old)
        if change is not None and old["state"] != RESOLVED:
            change.row.update({**_finding_values(f), "since": f.since or old["since"], "last_seen_at": self.as_of})
            change.events[-1][1].update(self._closed_details(f))
        return change

    def still_there(self, old: Row, f: Finding) -> Change:
        """A finding its alert already has: seen again; reopened, or escalated (mailed again)."""
        row = {
            **old,
            **_finding_values(f),
            "since": f.since or old["since"],
            "last_seen_at": self.as_of,
            "seen_count": old["seen_count"] + 1,
            "condition_holds": True,
            "updated_at": self.now,
        }
        change = Change(row=row)
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

    def _reopen(self, change: Change, old: Row, f: Finding) -> Change:
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

    def gone(self, old: Row) -> Change | None:
        """An alert whose finding is gone: it resolves (a recovery mail if its problem was mailed)."""
        if old["state"] == RESOLVED:
            if not old["condition_holds"]:
                return None
            # resolved by hand earlier; now the condition cleared too, so it may reopen later
            return Change(row={**old, "condition_holds": False, "updated_at": self.now})
        self.result.resolved += 1
        row = {**old, **self._resolved(), "condition_holds": False, "held_mail": None, "updated_at": self.now}
        change = Change(row=row, events=[("resolved", {"resolution": "cleared"})])
        if old["email_queued"]:
            self._mail(change, "recovery", f"recovery:{old['open_count']}")
        return change

    # ----------------------------------------------------------------------- the day

    def diff(self, day: dict[Identity, Row], findings: Iterable[Finding]) -> Transitions:
        """The day's alerts (``day``, by identity) brought in line with the tick's findings.

        Alerts of a condition outside evaluation (the source down) are left alone. A closed
        finding (a breach already over) resolves its active alert, or opens one resolved at once.
        """
        existing = {key: old for key, old in day.items() if key[1] not in OUTSIDE_EVALUATION}
        chosen = unique(findings)
        new = [self.new(f) for identity, f in chosen.items() if identity not in existing]
        holding = {key: f for key, f in chosen.items() if not f.closed}
        over = {key: f for key, f in chosen.items() if f.closed}
        updated = [self.still_there(old, holding[key]) for key, old in existing.items() if key in holding]
        updated += [change for key, old in existing.items() if key in over if (change := self.closed(old, over[key]))]
        updated += [change for key, old in existing.items() if key not in chosen if (change := self.gone(old))]
        # grouped before the store inserts anything: a consequence is never marked as mailed
        return Transitions(new, updated, self.group(day, new + updated))

    def group(self, day: dict[Identity, Row], changes: list[Change]) -> Grouping:
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
        placed = incidents.group(conditions, self.graph)
        for key, change in changed.items():
            if change.mail == "alert" and placed[key] != key:
                change.mail = None
                change.row["email_queued"] = False
                cause = rows[placed[key]]
                reason = f"part of the incident of {cause['step_id']} {cause['kind']}: mailed with its cause"
                change.mail_details["email"] = {"queued": False, "reason": reason}
            self.hold(change)
        return Grouping(rows, placed, changed)

    def messages(self, transitions: Transitions) -> tuple[list[Message], dict[int, int]]:
        """Once every alert has its id: the messages to queue and the alerts whose incident changed
        ({alert id: cause id}). Recovery mails go once an incident's every alert has cleared and one
        of them cleared in this tick."""
        grouping = transitions.grouping
        rows, placed = grouping.rows, grouping.placed
        assigned: dict[int, int] = {}
        for key, row in rows.items():
            cause_id = rows[placed[key]]["id"]
            if row.get("incident_id") != cause_id:
                row["incident_id"] = assigned[row["id"]] = cause_id
        mails: list[Message] = []
        for key, change in grouping.changed.items():
            if change.fresh:
                change.events[0][1]["incident_id"] = rows[placed[key]]["id"]
            if change.mail == "alert":
                at_risk = []
                if self.ev is not None and key[1] in incidents.CAUSE_KINDS:
                    at_risk = incidents.at_risk(self.ev, self.graph, key[0], self.order)
                held = [[k[0], k[1]] for k in incidents.members(placed, key)[1:] if rows[k]["condition_holds"]]
                mails.append(
                    Message(
                        "alert", change.row, change.mail_tag, change.mail_details, self.to, at_risk, consequences=held
                    )
                )
        mails += self._recoveries(rows, placed, grouping.changed)
        return mails, assigned

    def _recoveries(
        self, rows: dict[Identity, Row], placed: dict[Identity, Identity], changed: dict[Identity, Change]
    ) -> list[Message]:
        """One recovery mail for each mailed incident whose last alert cleared in this tick."""
        cleared = {key: c for key, c in changed.items() if c.cleared}
        mails: list[Message] = []
        for cause_key in dict.fromkeys(placed[key] for key in cleared):
            cause = rows[cause_key]
            group = [rows[key] for key in incidents.members(placed, cause_key)]
            holding = sum(bool(row["condition_holds"]) for row in group)
            if holding and cause_key in cleared and cause["email_queued"]:
                reason = f"{holding} alert(s) of this incident still hold: the recovery mail waits for them"
                cleared[cause_key].events[-1][1]["email"] = {"queued": False, "reason": reason}
            if not self.to or not cause["email_queued"] or holding:
                continue
            teller = next(cleared[key] for key in incidents.members(placed, cause_key) if key in cleared)
            silence = self.silenced(cause)
            if silence is not None:  # a silence holds back every mail of the incident, its recovery too
                teller.events[-1][1]["email"] = self.silence_note(silence)
                continue
            tag = f"recovery:{cause['open_count']}"
            mails.append(Message("recovery", cause, tag, teller.events[-1][1], self.to, members=group))
        return mails

    # ----------------------------------------------------------------------- conditions outside evaluation

    def raised(self, old: Row | None, finding: Finding) -> Change:
        """The one alert of a condition the evaluator cannot see (the source down), as of the tick:
        opened (``old`` None), kept or reopened, like one finding of :meth:`diff`.

        ``details["missed_ticks"]`` collects the as-of time of every tick the condition held in
        (the latest :data:`MAX_MISSED_TICKS`), so the monitor can judge them once it clears.
        """
        if old is None:
            change = self.new(with_missed(finding, [], self.as_of))
        else:
            holding = bool(old["condition_holds"])
            held = old["details"].get("missed_ticks", []) if holding else []  # an earlier outage's ticks were judged
            kept = with_missed(finding, held, self.as_of)
            if holding and old["since"] is not None:
                kept = kept.model_copy(update={"since": min(old["since"], self.as_of)})  # when this outage began
            change = self.still_there(old, kept)
            change.row["last_seen_at"] = max(old["last_seen_at"], self.as_of)  # a late, older tick never moves it back
        self.hold(change)
        return change

    def own_messages(self, changes: list[Change]) -> list[Message]:
        """The mails the changes call for, each about its own alert (a condition that is its own cause)."""
        return [Message(c.mail, c.row, c.mail_tag, c.mail_details, self.to) for c in changes if c.mail is not None]

    def condition_recovery(self, change: Change, others: list[Row]) -> list[Message]:
        """The recovery mail of a cause that cleared (:meth:`gone`), if its incident's ``others``
        have cleared too (else the tick that clears the last of them sends it) and no silence covers it."""
        if change.mail != "recovery":
            return []
        silence = self.silenced(change.row)
        if silence is not None:
            change.mail_details["email"] = self.silence_note(silence)
            return []
        if any(row["condition_holds"] for row in others):
            reason = f"{sum(row['condition_holds'] for row in others)} alert(s) of this incident still hold"
            change.mail_details["email"] = {"queued": False, "reason": f"{reason}: the recovery mail waits for them"}
            return []
        return [
            Message(
                "recovery", change.row, change.mail_tag, change.mail_details, self.to, members=[change.row, *others]
            )
        ]


def _kept(row: Row, change: Change | None, by_id: dict[int, Identity]) -> Identity | None:
    """The cause an alert stays under, or None to place it afresh (see :func:`incidents.group`)."""
    if change is not None and change.fresh:
        return None
    if row.get("incident_id") is None:  # recorded before incidents: place it if it holds, else leave it alone
        return None if row["condition_holds"] else (row["step_id"], row["kind"])
    return by_id.get(row["incident_id"])


def with_missed(finding: Finding, missed: list[str], as_of: dt.datetime) -> Finding:
    """The finding with ``as_of`` added to the ticks it held in (the latest :data:`MAX_MISSED_TICKS`)."""
    ticks = sorted({*missed, as_of.isoformat()})[-MAX_MISSED_TICKS:]
    return finding.model_copy(update={"details": {**finding.details, "missed_ticks": ticks}})


def missed_ticks(details: Iterable[dict[str, Any] | None], before: dt.datetime) -> list[dt.datetime]:
    """The ticks the alerts' ``details`` say a condition held in, before ``before``, oldest first
    (the latest :data:`MAX_MISSED_TICKS`: a catch-up after a long outage stays bounded)."""
    moments = {dt.datetime.fromisoformat(m) for d in details for m in (d or {}).get("missed_ticks", [])}
    return sorted(m for m in moments if m < before)[-MAX_MISSED_TICKS:]


# --------------------------------------------------------------------------- reminders and escalation


def at_risk_of(workflow: WorkflowConfig, row: Row, ev: Evaluation | None) -> list[AtRisk]:
    """What the alert's cause puts at risk as of ``ev`` (nothing for a kind that causes nothing)."""
    if ev is None or row["kind"] not in incidents.CAUSE_KINDS:
        return []
    return incidents.at_risk(ev, incidents.dependency_graph(workflow), row["step_id"])


def release_held(row: Row, to: list[str], consequences: list[list[str]], at_risk: list[AtRisk]) -> Message:
    """The problem mail a silence held back (``row["held_mail"]``, its tag), mailed now the silence
    has ended: the same dedupe key as it would have had, so it goes once."""
    details: dict[str, Any] = {"after": "silence ended"}
    return Message("alert", row, row["held_mail"], details, to, at_risk, consequences=consequences)


def reminder_due(workflow: WorkflowConfig, row: Row, as_of: dt.datetime, extra: list[str]) -> tuple[bool, bool]:
    """(a reminder is due, an escalation is due) of an open, mailed CRITICAL cause as of ``as_of``.

    A reminder once ``workflow.remind_every`` has passed since its latest mail (0: never); an
    escalation, once, when there is someone to escalate to and ``escalate_after`` has passed since
    its problem mail."""
    every = workflow.remind_every
    reminder = bool(every) and as_of - (row["last_mailed_at"] or row["mailed_at"]) >= every
    escalation = bool(extra) and row["escalated_at"] is None and as_of - row["mailed_at"] >= workflow.escalate_after
    return reminder, escalation


@dataclass
class Reminder:
    """A reminder or escalation notice due for one cause: the message, the alert's new values and its event."""

    message: Message
    values: dict[str, Any]  # the alert row's columns to set
    event: Literal["reminded", "escalation"]  # a reminder that escalates says so in its details
    reminded: bool
    escalated: bool


def plan_reminder(
    row: Row,
    due: tuple[bool, bool],
    *,
    as_of: dt.datetime,
    now: dt.datetime,
    to: list[str],
    extra: list[str],
    consequences: list[list[str]],
    at_risk: list[AtRisk],
) -> Reminder:
    """The reminder or escalation notice of a cause ``due`` one (:func:`reminder_due`), as of ``as_of``.

    Once escalated, its mails also go to ``extra``. Its dedupe key
    (``alert:{id}:reminder:{opening}:{n}`` or ``alert:{id}:escalation:{opening}``) is unique, so
    nothing is ever mailed twice. ``consequences``: the incident's that hold now; the message says
    what changed since its last mail.
    """
    reminder, escalation = due
    escalated = escalation or row["escalated_at"] is not None
    changed = incidents.what_changed(row["mailed_consequences"] or [], consequences)
    number = row["reminders"] + 1 if reminder else 0
    tag = f"reminder:{row['open_count']}:{number}" if reminder else f"escalation:{row['open_count']}"
    details: dict[str, Any] = {"changed": changed}
    if reminder:
        details["number"] = number
    if escalation:
        details["escalate_to"] = extra
    message = Message(
        "reminder" if reminder else "escalation",
        row,
        tag,
        details,
        to + extra if escalated else to,
        at_risk,
        consequences=consequences,
        number=number,
        changed=changed,
        escalated_to=extra if escalated else [],
        unacknowledged=as_of - row["mailed_at"],
    )
    values: dict[str, Any] = {"mailed_consequences": consequences, "updated_at": now}
    if reminder:
        values.update(last_mailed_at=as_of, reminders=number)
    if escalation:
        values["escalated_at"] = as_of
    return Reminder(message, values, "reminded" if reminder else "escalation", reminder, escalation)
