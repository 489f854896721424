"""Alerts in the store: load the day's alert rows, apply what :mod:`batch_monitor.alerting` decides, in SQL.

:func:`sync_alerts` is one tick's alerting: it claims the tick, loads the day's alerts (locked) and
the silences in effect, has :class:`alerting.Planner` diff them against the evaluation's findings,
and writes the outcome. Every change is an event row, and every message an outbox row written in
the same transaction, so a tick either happened completely or not at all. Replays are harmless: a
tick not newer than the last synced one for the workflow and day changes nothing, and dedupe keys
are unique per opening. The messages' content comes from the ``render`` the caller hands in
(the pipeline gives :func:`batch_monitor.notify.alert_mail.renderer`): the store never renders.

:func:`raise_condition` / :func:`clear_condition` manage a condition the evaluator cannot see
(the source down); :func:`remind` mails unacknowledged CRITICAL causes again and releases the
mails silences held back. Operators' actions live in :mod:`batch_monitor.store.actions`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from batch_monitor import alerting, incidents
from batch_monitor import silences as silencing
from batch_monitor.alerting import MONITOR, OPEN, Change, Message, Planner, Render, SyncResult, addresses
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import FindingKind, Severity
from batch_monitor.models import Evaluation, Finding
from batch_monitor.silences import Silence
from batch_monitor.store import outbox
from batch_monitor.store import silences as stored_silences
from batch_monitor.store.repository import evaluation_values, load_evaluation, recordset, utc
from batch_monitor.store.schema import alert_events, alerts, evaluations

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


# --------------------------------------------------------------------------- rows in and out


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
                alerts_synced_as_of=as_of,
                **evaluation_values(ev),
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


def _insert_new(conn: sa.Connection, changes: list[Change], on_conflict: Literal["raise", "skip"] = "raise") -> None:
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


def _update_existing(conn: sa.Connection, changes: list[Change]) -> None:
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


def _set_incidents(conn: sa.Connection, assigned: dict[int, int]) -> None:
    if not assigned:
        return
    t = alerts
    source = recordset(
        [{"id": alert_id, "incident_id": cause_id} for alert_id, cause_id in assigned.items()],
        [t.c.id, t.c.incident_id],
    )
    conn.execute(sa.update(t).where(t.c.id == source.c.id).values(incident_id=source.c.incident_id))


def _consequences(conn: sa.Connection, cause_id: int) -> list[list[str]]:
    """The incident's consequences that hold, as [step_id, kind] pairs (what its mails tell of)."""
    t = alerts
    rows = conn.execute(
        sa.select(t.c.step_id, t.c.kind)
        .where(t.c.incident_id == cause_id, t.c.id != cause_id, t.c.condition_holds.is_(True))
        .order_by(t.c.id)
    )
    return [[r.step_id, r.kind] for r in rows]


def _note_mailed(conn: sa.Connection, mailed: list[Message], as_of: dt.datetime) -> None:
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


# --------------------------------------------------------------------------- sync


def sync_alerts(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    ev: Evaluation,
    *,
    recipients: list[str],
    render: Render,
    now: dt.datetime,
    in_effect: list[Silence] | None = None,
) -> SyncResult:
    """Bring the day's alerts in line with the findings of ``ev``; queue the mails that entails.

    Alerts of severity >= ``workflow.email_min_severity`` are mailed to ``recipients`` when they
    open, reopen or escalate, and get a recovery mail when they resolve (see
    :class:`alerting.Planner`). A tick whose ``as_of`` is not newer than the last synced one for
    the workflow and day changes nothing (``skipped=True``). A handful of statements whatever the
    number of findings, plus one per mail. ``in_effect``: the silences in effect as of ``ev.as_of``
    when the caller has read them already (None: read here).
    """
    if ev.workflow_id != workflow.workflow_id:
        raise ValueError(f"sync_alerts: evaluation of {ev.workflow_id!r} given with workflow {workflow.workflow_id!r}")
    as_of = utc(ev.as_of, "Evaluation.as_of")
    now = utc(now, "now")
    if not _claim_tick(conn, ev, as_of):
        return SyncResult(skipped=True, reason=f"a tick as new as {as_of.isoformat()} was already synced")
    if in_effect is None:
        in_effect = stored_silences.in_effect(conn, workflow, as_of)
    plan = Planner(workflow, ev.business_date, as_of, now, addresses(recipients), ev, in_effect)
    transitions = plan.diff(_load_day(conn, ev), ev.findings)
    _insert_new(conn, transitions.new)
    mails, assigned = plan.messages(transitions)
    _write(conn, plan, transitions.new, transitions.updated, render, mails, assigned)
    return plan.result


def _write(
    conn: sa.Connection,
    plan: Planner,
    new: list[Change],
    updated: list[Change],
    render: Render,
    mails: list[Message] | None = None,
    assigned: dict[int, int] | None = None,
) -> None:
    """Write the planned changes of alerts already inserted or existing: rows, incidents, mails, events."""
    _update_existing(conn, updated)
    if assigned is None:  # a condition outside evaluation: always its own cause
        assigned = {c.row["id"]: c.row["id"] for c in new + updated if c.row.get("incident_id") is None}
    _set_incidents(conn, assigned)
    mailed: list[Message] = []
    for mail in plan.own_messages(new + updated) if mails is None else mails:
        queued = _enqueue(conn, plan.workflow, mail, render, plan.now)
        plan.result.mails_queued += int(queued)
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


def _enqueue(conn: sa.Connection, workflow: WorkflowConfig, mail: Message, render: Render, now: dt.datetime) -> bool:
    """Queue one message on the workflow's channels; its event details say whether it was."""
    queued = outbox.enqueue(
        conn,
        dedupe_key=mail.dedupe_key,
        alert_id=mail.alert["id"],
        kind=mail.kind,
        recipients=mail.to,
        content=render(mail, workflow),
        now=now,
        channels=workflow.channels,
    )
    mail.details["email"] = {"queued": queued, "dedupe_key": mail.dedupe_key, "to": mail.to}
    return queued


# --------------------------------------------------------------------------- conditions outside evaluation


def raise_condition(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    finding: Finding,
    *,
    business_date: dt.date,
    as_of: dt.datetime,
    recipients: list[str],
    render: Render,
    now: dt.datetime,
) -> SyncResult:
    """Open, keep or reopen the one alert of a condition the evaluator cannot see (the source down).

    Works like one finding of :func:`sync_alerts` (same mails, events and dedupe keys), but leaves
    every other alert alone; :func:`clear_condition` resolves it (see :meth:`alerting.Planner.raised`).
    """
    as_of, now = utc(as_of, "as_of"), utc(now, "now")
    in_effect = stored_silences.in_effect(conn, workflow, as_of)
    plan = Planner(workflow, business_date, as_of, now, addresses(recipients), silences=in_effect)
    for _attempt in range(2):
        old = _load_condition(conn, workflow.workflow_id, business_date, finding)
        change = plan.raised(old, finding)
        if old is not None:
            _write(conn, plan, [], [change], render)
            return plan.result
        _insert_new(conn, [change], on_conflict="skip")
        if "id" not in change.row:  # opened by a concurrent tick a moment ago: keep that one
            plan.result = SyncResult()
            continue
        _write(conn, plan, [change], [], render)
        return plan.result
    raise RuntimeError(f"alert {finding.identity} of {workflow.workflow_id} could not be opened or found")


def clear_condition(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    kind: FindingKind,
    *,
    as_of: dt.datetime,
    recipients: list[str],
    render: Render,
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
        plan = Planner(workflow, old["business_date"], as_of, now, addresses(recipients), silences=in_effect)
        change = plan.gone(old)
        if change is not None:
            others = _incident_others(conn, change.row["id"]) if change.mail == "recovery" else []
            _write(conn, plan, [], [change], render, plan.condition_recovery(change, others))
        result.resolved += plan.result.resolved
        result.mails_queued += plan.result.mails_queued
    return result


def _incident_others(conn: sa.Connection, cause_id: int) -> list[dict[str, Any]]:
    """The other alerts of the incident ``cause_id`` causes."""
    t = alerts
    query = sa.select(t).where(t.c.incident_id == cause_id, t.c.id != cause_id).order_by(t.c.id)
    return [_utc_values(r) for r in conn.execute(query)]


def missed_ticks(conn: sa.Connection, workflow_id: str, kind: FindingKind, before: dt.datetime) -> list[dt.datetime]:
    """As-of times of the ticks an active condition ``kind`` held in, before ``before``, oldest first
    (the latest :data:`alerting.MAX_MISSED_TICKS` of them: a catch-up after a long outage stays bounded)."""
    t = alerts
    details = conn.execute(
        sa.select(t.c.details).where(t.c.workflow_id == workflow_id, t.c.kind == kind.value, t.c.condition_holds)
    ).scalars()
    return alerting.missed_ticks(details, utc(before, "before"))


# --------------------------------------------------------------------------- reminders and escalation


def remind(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    *,
    as_of: dt.datetime,
    recipients: list[str],
    escalate_to: list[str],
    render: Render,
    now: dt.datetime,
    in_effect: list[Silence] | None = None,
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
    ``in_effect``: the silences in effect as of ``as_of`` when the caller has read them (None: read here).
    """
    as_of, now = utc(as_of, "as_of"), utc(now, "now")
    result = SyncResult()
    to = addresses(recipients)
    if not to and list(workflow.channels) == ["email"]:  # other channels need no addresses
        return result
    if in_effect is None:
        in_effect = stored_silences.in_effect(conn, workflow, as_of)
    _release_held(conn, workflow, in_effect, as_of, now, to, render, result)
    extra = [a for a in addresses(escalate_to) if a not in to]
    if not workflow.remind_every and not extra:
        return result
    t = alerts
    rows = _open_causes(
        conn,
        workflow.workflow_id,
        t.c.severity == Severity.CRITICAL.value,
        t.c.email_queued.is_(True),
        t.c.mailed_at <= as_of,
    )
    for found in rows:
        row = _utc_values(found)
        due = alerting.reminder_due(workflow, row, as_of, extra)
        if any(due) and silencing.covering(in_effect, row["step_id"], row["kind"], row["id"], as_of) is None:
            _remind_one(conn, workflow, row, due, as_of, now, to, extra, render, result)
    return result


def _open_causes(conn: sa.Connection, workflow_id: str, *where: sa.ColumnElement[bool]) -> list[sa.Row[Any]]:
    """The workflow's open alerts whose condition holds and that head their incident (or have none),
    matching ``where`` too, locked for this transaction, oldest first."""
    t = alerts
    return list(
        conn.execute(
            sa.select(t)
            .where(
                t.c.workflow_id == workflow_id,
                t.c.state == OPEN,
                t.c.condition_holds.is_(True),
                sa.or_(t.c.incident_id.is_(None), t.c.incident_id == t.c.id),
                *where,
            )
            .order_by(t.c.id)
            .with_for_update()
        ).all()
    )


def _release_held(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    in_effect: list[Silence],
    as_of: dt.datetime,
    now: dt.datetime,
    to: list[str],
    render: Render,
    result: SyncResult,
) -> None:
    """Mail the problem mails silences held back, of open causes that still hold and that no
    silence covers any more as of ``as_of``; each once (its dedupe key is the one it was held with)."""
    t = alerts
    rows = _open_causes(conn, workflow.workflow_id, t.c.held_mail.is_not(None), t.c.first_seen_at <= as_of)
    for found in rows:
        row = _utc_values(found)
        if silencing.covering(in_effect, row["step_id"], row["kind"], row["id"], as_of) is not None:
            continue
        at_risk = alerting.at_risk_of(workflow, row, _evaluation_of(conn, row))
        mail = alerting.release_held(row, to, _consequences(conn, row["id"]), at_risk)
        queued = _enqueue(conn, workflow, mail, render, now)
        conn.execute(sa.update(t).where(t.c.id == row["id"]).values(held_mail=None, email_queued=True, updated_at=now))
        _note_mailed(conn, [mail], as_of)
        event = {"alert_id": row["id"], "event": "released", "at": now, "as_of": as_of, "actor": MONITOR}
        _insert_events(conn, [{**event, "details": mail.details}])
        result.mails_queued += int(queued)


def _evaluation_of(conn: sa.Connection, row: dict[str, Any]) -> Evaluation | None:
    """The stored evaluation of the alert's day, if its kind is a cause (what it puts at risk)."""
    if row["kind"] not in incidents.CAUSE_KINDS:
        return None
    return load_evaluation(conn, row["workflow_id"], row["business_date"])


def _remind_one(
    conn: sa.Connection,
    workflow: WorkflowConfig,
    row: dict[str, Any],
    due: tuple[bool, bool],
    as_of: dt.datetime,
    now: dt.datetime,
    to: list[str],
    extra: list[str],
    render: Render,
    result: SyncResult,
) -> None:
    """Queue the reminder or escalation notice ``due`` of one cause, and note it on the alert."""
    at_risk = alerting.at_risk_of(workflow, row, _evaluation_of(conn, row))
    reminder = alerting.plan_reminder(
        row, due, as_of=as_of, now=now, to=to, extra=extra, consequences=_consequences(conn, row["id"]), at_risk=at_risk
    )
    queued = _enqueue(conn, workflow, reminder.message, render, now)
    t = alerts
    conn.execute(sa.update(t).where(t.c.id == row["id"]).values(reminder.values))
    event = {"alert_id": row["id"], "event": reminder.event, "at": now, "as_of": as_of, "actor": MONITOR}
    _insert_events(conn, [{**event, "details": reminder.message.details}])
    result.reminders += int(reminder.reminded and queued)
    result.escalations += int(reminder.escalated)
    result.mails_queued += int(queued)
