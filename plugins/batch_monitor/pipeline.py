"""One monitoring tick: extract → evaluate → persist → notify (and the daily digest) → summarize/purge.

The DAG's tasks call these functions one by one (each may run on a different worker; what
passes between them is a few snapshot ids, everything else lives in the store). Tests, the
demo and the benchmarks call :func:`run_tick`, which runs the same functions in sequence.
No Airflow imports: the DAG edge hands in SQLAlchemy engines, recipients and the page URL.

Playing a simulated day into a store (what the tests and the demo do)::

    from batch_monitor import pipeline, simulator
    for as_of in ticks:                      # e.g. every 15 minutes of the business day
        simulator.play(source_engine, scenario, workflow, business_date, as_of)
        pipeline.run_tick(source_engine, store_engine, workflow, as_of, channel=channel)
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sqlalchemy as sa

from batch_monitor import business_day as bd
from batch_monitor.alerting import SyncResult
from batch_monitor.baselines import compute_baselines, segments_of, select_baselines
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import CHAIN_STEP_ID, FindingKind, Severity, StepStatus
from batch_monitor.evaluate import evaluate
from batch_monitor.exceptions import SourceUnavailableError
from batch_monitor.models import Evaluation, Finding, RiskMemory, StepBaseline
from batch_monitor.notify import alert_mail, digest
from batch_monitor.notify.render import render_digest
from batch_monitor.notify.sender import Channels, send_pending
from batch_monitor.settings import BASE_URL, RETENTION_DAYS, SNAPSHOT_RETENTION_DAYS, sql_dir
from batch_monitor.source import SourceReader
from batch_monitor.store import alerts, outbox, repository, ticks
from batch_monitor.store import silences as stored_silences
from batch_monitor.store.schema import alerts as alerts_table
from batch_monitor.store.schema import ticks as ticks_table
from batch_monitor.text import mask_credentials

log = logging.getLogger(__name__)

MAX_LOGGED_ANOMALIES = 20  # per snapshot; all of them are in the DATA_QUALITY alert


@dataclass
class TickResult:
    """What one tick did, in numbers (also what the DAG's tasks log)."""

    as_of: dt.datetime
    snapshot_ids: list[int] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    persisted: dict[str, Any] = field(default_factory=dict)
    sent: int = 0
    send_failures: int = 0
    digests: int = 0
    housekeeping: dict[str, Any] = field(default_factory=dict)


def dates_to_judge(store: sa.Connection, workflow: WorkflowConfig, as_of: dt.datetime) -> list[dt.date]:
    """The business day containing ``as_of``, and the day before while it was left unfinished.

    Yesterday is judged again only if the monitor saw it and its chain had not completed when it
    last looked: a chain still running past 05:00 is followed to its end, and its open alerts can
    resolve; a day the monitor never saw raises nothing.
    """
    current = bd.business_date(as_of, workflow.timezone, workflow.business_day_start)
    previous = current - dt.timedelta(days=1)
    head = repository.evaluation_head(store, workflow.workflow_id, previous)  # not the whole evaluation
    if head is not None and head.chain_status != StepStatus.COMPLETE:
        return [previous, current]
    return [current]


def prepare_store(store: sa.Engine, workflow: WorkflowConfig, now: dt.datetime) -> None:
    """Create/upgrade the schema and record the workflow's configuration (idempotent)."""
    from batch_monitor.store.migrate import migrate

    migrate(store)
    with store.begin() as conn:
        repository.ensure_default_settings(conn)
        # as judged: the steps without stuck_after get the store's stuck_threshold_minutes
        repository.save_workflow_config(conn, repository.with_stored_defaults(conn, workflow), now)


def extract(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    as_of: dt.datetime,
    reader: SourceReader | None = None,
    read_at: dt.datetime | None = None,
) -> list[int]:
    """Read CC&B as of ``as_of`` and keep each judged day's observations as a snapshot.

    ``read_at`` (default ``as_of``): the moment of the read, against which rows stamped in the
    future show a CC&B clock that is ahead (a DATA_QUALITY finding; see SourceReader.read).

    Ticks missed while CC&B was unavailable (the open SOURCE_UNAVAILABLE alert lists them) are
    read too, oldest first, so what happened meanwhile is judged and alerted once. Raises
    :class:`SourceUnavailableError` (credentials masked) when CC&B cannot be read.
    """
    reader = reader or SourceReader(sql_dir())
    as_of = bd.to_utc(as_of)
    with store.connect() as conn:
        missed = alerts.missed_ticks(conn, workflow.workflow_id, FindingKind.SOURCE_UNAVAILABLE, before=as_of)
        plan = [(moment, date) for moment in [*missed, as_of] for date in dates_to_judge(conn, workflow, moment)]
    if missed:
        log.info(
            "catching up %d tick(s) missed while CC&B was unavailable (%s to %s)",
            len(missed),
            missed[0].isoformat(),
            missed[-1].isoformat(),
        )
    try:
        with source.connect() as src, collector_paused():  # as evaluating: ~60,000 rows decoded at 5,000 steps
            observations = [reader.read(src, workflow, date, moment, read_at or as_of) for moment, date in plan]
    except sa.exc.DBAPIError as exc:
        raise SourceUnavailableError(f"CC&B cannot be read: {describe_error(exc)}") from exc
    snapshot_ids = []
    with store.begin() as conn:
        for obs in observations:
            snapshot_ids.append(repository.save_snapshot(conn, obs))
    for obs, sid in zip(observations, snapshot_ids, strict=True):
        log.info(
            "snapshot %s: %s business day %s as of %s: %d runs, %d anomalies",
            sid,
            workflow.workflow_id,
            obs.business_date,
            obs.as_of.isoformat(),
            len(obs.runs),
            len(obs.anomalies),
        )
        for anomaly in obs.anomalies[:MAX_LOGGED_ANOMALIES]:
            log.warning("snapshot %s: source row not usable as it is: %s", sid, anomaly)
    return snapshot_ids


def describe_error(exc: BaseException) -> str:
    """'Type: first line of the message', credentials masked (for logs, alerts and mails)."""
    detail = getattr(exc, "orig", None) or exc
    lines = str(detail).strip().splitlines()
    return mask_credentials(f"{type(detail).__name__}: {lines[0] if lines else ''}".strip())


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, back as it was after it.

    A tick's evaluation allocates hundreds of thousands of objects that live until its end (the
    snapshot, the forecast's inputs and outputs): each allocation burst sets off collections that
    walk the whole heap again (at 5,000 steps most of the pure evaluation's time). Reading CC&B
    (the rows, then the observations) and persisting (the evaluation unpacked, its runs' rows) are
    the same. Nothing they hold is a cycle to reclaim early; the collector resumes, and finds what
    is garbage, after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def evaluate_snapshots(store: sa.Engine, workflow: WorkflowConfig, snapshot_ids: list[int]) -> list[dict[str, Any]]:
    """Judge each snapshot against the workflow (and its learned baselines) and keep the evaluation beside it."""
    summaries = []
    learned: list[StepBaseline] = []
    covered: set[str] = set()  # the segments loaded
    risk: dict[dt.date, dict[str, RiskMemory]] = {}  # AT_RISK memory, handed from tick to tick
    for sid in snapshot_ids:
        with store.begin() as conn, collector_paused():
            obs = repository.load_snapshot(conn, sid)
            # the segments of the day and the days beside it (yesterday is judged beside today while it
            # is unfinished), once a tick, not every step's every segment
            wanted = None
            if not covered.issuperset(segments_of(obs.business_date, workflow.weekend_days)):
                wanted = tick_segments(workflow, obs.business_date)
            # one query: ticks caught up after an outage each start from the progress last stored (counts
            # read as of an earlier moment are today's: they cannot be rewound, so passing them from one
            # caught-up tick to the next would make a finished run look stuck)
            day = repository.load_day_memory(conn, workflow.workflow_id, obs.business_date, wanted)
            judged = workflow.with_stuck_after(day.stuck_threshold)  # as repository.with_stored_defaults
            if wanted is not None and day.baselines is not None:
                covered, learned = wanted, day.baselines
            baselines = select_baselines(learned, obs.business_date, workflow.weekend_days)
            # the AT_RISK memory is a judgement as of a tick, not a count: each caught-up tick
            # takes the one before it (the first, the day's latest stored evaluation)
            if obs.business_date not in risk:
                risk[obs.business_date] = day.risk
            ev = evaluate(
                judged,
                obs,
                obs.as_of,
                day.progress,
                day.completed,
                risk=risk[obs.business_date],
                baselines=baselines,
            )
            risk[obs.business_date] = ev.risk
            repository.save_tick_evaluation(conn, sid, ev)
        summary = {
            "snapshot_id": sid,
            "business_date": ev.business_date.isoformat(),
            "chain_status": ev.chain_status.value,
            "findings": sorted(f"{f.kind.value}:{f.step_id}" for f in ev.findings),
        }
        log.info("evaluation %s", summary)
        summaries.append(summary)
    return summaries


def tick_segments(workflow: WorkflowConfig, business_date: dt.date) -> set[str]:
    """The baseline segments of ``business_date`` and of the days before and after it."""
    days = (business_date + dt.timedelta(days=n) for n in (-1, 0, 1))
    return {segment for day in days for segment in segments_of(day, workflow.weekend_days)}


def _tick_evaluation(conn: sa.Connection, snapshot_id: int) -> tuple[Evaluation, bytes]:
    """The snapshot's evaluation, and as it is packed (the day's evaluation is saved as it is)."""
    kept = repository.load_tick_evaluation(conn, snapshot_id)
    if kept is None:
        raise LookupError(f"snapshot {snapshot_id} has no evaluation: run the evaluate task first")
    return kept


_SYNC_COUNTS = ("opened", "seen", "reopened", "resolved", "escalated", "mails_queued", "reminders", "escalations")


def persist(
    store: sa.Engine,
    workflow: WorkflowConfig,
    snapshot_ids: list[int],
    *,
    recipients: list[str],
    page_url_base: str,
    now: dt.datetime,
    escalate_to: list[str] | None = None,
) -> dict[str, Any]:
    """In ONE transaction: upsert the runs, sync the alerts (and their mails), keep the evaluation,
    then remind (and escalate) the unacknowledged CRITICAL incidents as of each tick.

    CC&B answered for this tick, so an open SOURCE_UNAVAILABLE alert last seen before it resolves.
    ``escalate_to``: who escalated mails also go to (default: the workflow's ``escalate_to``).
    """
    escalation = list(workflow.escalate_to) if escalate_to is None else escalate_to
    render = alert_mail.renderer(page_url_base)
    totals: dict[str, Any] = {"runs": 0, "skipped_days": []}
    latest: dt.datetime | None = None
    with store.begin() as conn, collector_paused():  # the evaluation unpacked, its runs' rows built
        for sid in snapshot_ids:
            ev, packed = _tick_evaluation(conn, sid)
            latest = ev.as_of if latest is None else max(latest, ev.as_of)
            totals["runs"] += repository.upsert_runs(conn, workflow.workflow_id, ev)
            # the silences as of the tick, read once for the alerts' sync and the reminders
            in_effect = stored_silences.in_effect(conn, workflow, ev.as_of)
            result = alerts.sync_alerts(
                conn, workflow, ev, recipients=recipients, render=render, now=now, in_effect=in_effect
            )
            if result.skipped:  # an older tick than one already synced: it changes nothing
                totals["skipped_days"].append(ev.business_date.isoformat())
            for key in _SYNC_COUNTS:
                totals[key] = totals.get(key, 0) + getattr(result, key)
            repository.save_evaluation(conn, ev, packed)
            reminded = alerts.remind(
                conn,
                workflow,
                as_of=ev.as_of,
                recipients=recipients,
                escalate_to=escalation,
                render=render,
                now=now,
                in_effect=in_effect,
            )
            for key in ("reminders", "escalations", "mails_queued"):
                totals[key] = totals.get(key, 0) + getattr(reminded, key)
        if latest is not None:
            cleared = alerts.clear_condition(
                conn,
                workflow,
                FindingKind.SOURCE_UNAVAILABLE,
                as_of=latest,
                recipients=recipients,
                render=render,
                now=now,
            )
            totals["source_recovered"] = cleared.resolved
            totals["mails_queued"] = totals.get("mails_queued", 0) + cleared.mails_queued
    log.info("persisted %s", totals)
    return totals


def record_source_unavailable(
    store: sa.Engine,
    workflow: WorkflowConfig,
    as_of: dt.datetime,
    error: str,
    *,
    recipients: list[str],
    page_url_base: str,
    now: dt.datetime,
    source_name: str = "CC&B",
    escalate_to: list[str] | None = None,
) -> SyncResult:
    """The tick at ``as_of`` could not read CC&B: open (or keep) the day's SOURCE_UNAVAILABLE alert.

    One alert per outage and business day, mailed once through the outbox (CRITICAL); it
    resolves, with a recovery mail, on the first tick that reads CC&B again, and that tick
    judges the ticks missed meanwhile. ``error`` is masked before it is stored.
    """
    as_of = bd.to_utc(as_of)
    problem = mask_credentials(error.strip()) or "no error text"
    first_line = problem.splitlines()[0]
    finding = Finding(
        kind=FindingKind.SOURCE_UNAVAILABLE,
        severity=Severity.CRITICAL,
        step_id=CHAIN_STEP_ID,
        title=f"{source_name} cannot be read — {first_line}"[:500],
        since=as_of,
        expected=f"{source_name} answers the monitor's queries at every tick",
        actual=f"the tick as of {as_of:%Y-%m-%d %H:%M} UTC could not read {source_name}",
        error_text=problem[:2000],
        action=(
            f"Check that {source_name} is up and reachable from the Airflow workers and that the monitor's "
            "connection (host, port, login) is valid. Nothing is lost meanwhile: the first tick that reads "
            f"{source_name} again judges the ticks missed and raises what happened, once."
        ),
    )
    business_date = bd.business_date(as_of, workflow.timezone, workflow.business_day_start)
    render = alert_mail.renderer(page_url_base)
    with store.begin() as conn:
        result = alerts.raise_condition(
            conn,
            workflow,
            finding,
            business_date=business_date,
            as_of=as_of,
            recipients=recipients,
            render=render,
            now=now,
        )
        reminded = alerts.remind(
            conn,
            workflow,
            as_of=as_of,
            recipients=recipients,
            escalate_to=list(workflow.escalate_to) if escalate_to is None else escalate_to,
            render=render,
            now=now,
        )
        result.reminders, result.escalations = reminded.reminders, reminded.escalations
        result.mails_queued += reminded.mails_queued
    log.warning("%s unavailable as of %s: %s (%s)", source_name, as_of.isoformat(), first_line, vars(result))
    return result


def notify(
    store: sa.Engine,
    channel: Channels,
    now: dt.datetime,
    worker: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> tuple[int, int]:
    """Send what the outbox holds; returns (sent, failed). Failed messages stay queued.

    ``channel``: an EmailChannel (mail only) or ``{"email": ..., "slack": ..., "apprise": ...}``.
    ``clock``: when each outcome happened (a sent time, a 429's Retry-After counted from it); the
    wall clock unless given.
    """
    report = send_pending(store, channel, worker=worker or f"{socket.gethostname()}", now=now, clock=clock)
    for error in report.errors:
        log.warning("mail not sent (stays queued): %s", error)
    return report.sent, report.failed


def _day_alerts(conn: sa.Connection, workflow_id: str, business_date: dt.date) -> list[digest.DigestAlert]:
    t = alerts_table
    rows = conn.execute(
        sa.select(t).where(t.c.workflow_id == workflow_id, t.c.business_date == business_date).order_by(t.c.id)
    ).all()
    return [
        digest.DigestAlert(
            step_id=r.step_id,
            batch_code=r.batch_cd,
            kind=r.kind,
            severity=r.severity,
            title=r.title,
            state=r.state,
            resolution=r.resolution,
            resolved_at=r.resolved_at,
            resolved_by=r.resolved_by,
            acknowledged_at=r.acknowledged_at,
            acknowledged_by=r.acknowledged_by,
        )
        for r in rows
    ]


def queue_digests(
    store: sa.Engine,
    workflow: WorkflowConfig,
    as_of: dt.datetime,
    *,
    recipients: list[str],
    page_url_base: str,
    now: dt.datetime,
) -> int:
    """Queue the daily digest of each business day it is due for as of ``as_of`` (the tick): today's
    and yesterday's, once each (dedupe key ``digest:{workflow}:{date}``, one row per channel), on
    the workflow's channels. Returns how many digests were queued now."""
    as_of = bd.to_utc(as_of)
    current = bd.business_date(as_of, workflow.timezone, workflow.business_day_start)
    targets = [c for c in workflow.channels if c != outbox.EMAIL or recipients]
    if workflow.digest_at is None or not targets:
        return 0
    queued = 0
    for date in (current - dt.timedelta(days=1), current):
        key = f"digest:{workflow.workflow_id}:{date.isoformat()}"
        with store.begin() as conn:
            if outbox.queued(conn, key, targets):
                continue
            head = repository.evaluation_head(conn, workflow.workflow_id, date)  # not the whole evaluation
            if head is None or not digest.is_due(workflow, head, as_of):
                continue
            ev = repository.load_evaluation(conn, workflow.workflow_id, date)
            if ev is None:  # deleted since its head was read (a purge running meanwhile)
                continue
            day = digest.build(workflow, ev, _day_alerts(conn, workflow.workflow_id, date), as_of)
            content = render_digest(day, alert_mail.page_url(page_url_base, workflow.workflow_id, date))
            kept = outbox.enqueue(
                conn,
                dedupe_key=key,
                alert_id=None,
                kind="digest",
                recipients=recipients,
                content=content,
                now=now,
                channels=targets,
            )
            queued += int(kept)
            log.info("daily digest of %s %s queued on %s", workflow.workflow_id, date.isoformat(), ", ".join(targets))
    return queued


def bootstrap_history(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    business_date: dt.date,
    as_of: dt.datetime,
    reader: SourceReader | None = None,
) -> int:
    """Fill the store's run history from CC&B's own: the ``baseline_days`` business days before
    ``business_date``, each read once (as of ``as_of``) through the same reader and SQL as a tick,
    and its runs written to batch_execution_logs as a tick would. Returns how many runs were written.

    Raises :class:`SourceUnavailableError` when CC&B cannot be read.
    """
    reader = reader or SourceReader(sql_dir())
    as_of = bd.to_utc(as_of)
    dates = [business_date - dt.timedelta(days=n) for n in range(workflow.baseline_days, 0, -1)]
    try:
        with source.connect() as src:
            days = [reader.read(src, workflow, date, as_of) for date in dates]
    except sa.exc.DBAPIError as exc:
        raise SourceUnavailableError(f"CC&B cannot be read: {describe_error(exc)}") from exc
    written = 0
    with store.begin() as conn:
        for obs in days:
            if obs.runs:
                written += repository.upsert_runs(conn, workflow.workflow_id, evaluate(workflow, obs, as_of))
    log.info(
        "bootstrapped %s's run history from CC&B: %d run(s) of %s to %s",
        workflow.workflow_id,
        written,
        dates[0].isoformat(),
        dates[-1].isoformat(),
    )
    return written


def recompute_baselines(
    store: sa.Engine,
    workflow: WorkflowConfig,
    business_date: dt.date,
    as_of: dt.datetime,
    now: dt.datetime,
    *,
    source: sa.Engine | None = None,
    reader: SourceReader | None = None,
) -> dict[str, Any]:
    """Learn the workflow's baselines for ``business_date`` from the ``baseline_days`` days before it.

    Once per business day: nothing is done when they were already learned for it. The history is
    the store's batch_execution_logs (one query); when it holds no run from before the day and
    ``source`` is given, it is first bootstrapped from CC&B's own history (:func:`bootstrap_history`;
    CC&B not answering then is logged, and the store's history is used as it is).
    """
    with store.connect() as conn:
        if repository.baselines_computed_for(conn, workflow.workflow_id) == business_date:
            return _already_learned(business_date)
        empty = not repository.has_runs_before(conn, workflow.workflow_id, business_date)
    result: dict[str, Any] = {"for": business_date.isoformat()}
    if empty and source is not None:
        try:
            result["bootstrapped_runs"] = bootstrap_history(source, store, workflow, business_date, as_of, reader)
        except SourceUnavailableError as exc:
            log.warning("baselines: CC&B's history could not be read (%s); learning from the store alone", exc)
            result["bootstrap_error"] = str(exc)
    with store.begin() as conn:
        history = repository.load_history(conn, workflow, business_date)
        learned = compute_baselines(workflow, history)
        result["baselines"] = repository.replace_baselines(conn, workflow.workflow_id, learned, business_date, now)
    result["history_runs"] = len(history)
    log.info("baselines %s", result)
    return result


def _already_learned(business_date: dt.date) -> dict[str, Any]:
    return {"baselines": "already learned", "for": business_date.isoformat()}


def housekeeping(
    store: sa.Engine,
    workflow: WorkflowConfig,
    as_of: dt.datetime,
    now: dt.datetime,
    *,
    source: sa.Engine | None = None,
    reader: SourceReader | None = None,
) -> dict[str, Any]:
    """Recompute the judged days' performance summary; purge what is older than the retention (and the
    ticks the dead man's switch no longer needs) once per business day, when the cutoffs move; learn
    the baselines once per business day (``source``: CC&B, to bootstrap the history from)."""
    with store.connect() as conn:
        dates = dates_to_judge(conn, workflow, as_of)
    glob = repository.GLOBAL_SCOPE
    learned_for = (workflow.workflow_id, repository.BASELINES_COMPUTED_FOR)
    purged_for = (workflow.workflow_id, repository.PURGED_BEFORE)
    with store.begin() as conn:
        summarized = sum(repository.summarize_day(conn, workflow.workflow_id, date, now) for date in dates)
        # one query: the retentions, the cutoffs last purged with and the date the baselines were learned for
        stored = repository.get_settings(
            conn, [(glob, RETENTION_DAYS.name), (glob, SNAPSHOT_RETENTION_DAYS.name), learned_for, purged_for]
        )
        retention = repository.setting_value(RETENTION_DAYS, stored.get((glob, RETENTION_DAYS.name)))
        before = dates[-1] - dt.timedelta(days=retention)
        snapshot_days = repository.setting_value(
            SNAPSHOT_RETENTION_DAYS, stored.get((glob, SNAPSHOT_RETENTION_DAYS.name))
        )
        cutoffs = {"before": before, "snapshots_before": dates[0] - dt.timedelta(days=snapshot_days)}
        purged: dict[str, int] | str = "already purged"
        if stored.get(purged_for) != {k: v.isoformat() for k, v in cutoffs.items()}:
            purged = repository.purge(conn, workflow_id=workflow.workflow_id, **cutoffs)
            # the ticks finished before the retention: the dead man's switch reads the latest only
            purged[ticks_table.name] = ticks.purge_ticks(
                conn, workflow.workflow_id, before=bd.to_utc(as_of) - dt.timedelta(days=retention)
            )
            repository.note_purged(conn, workflow.workflow_id, cutoffs, now)
    result = {"summarized": summarized, "purged_before": before.isoformat(), "purged": purged}
    if stored.get(learned_for) == dates[-1].isoformat():  # learned once a business day
        result["baselines"] = _already_learned(dates[-1])
    else:
        result["baselines"] = recompute_baselines(store, workflow, dates[-1], as_of, now, source=source, reader=reader)
    log.info("housekeeping %s", result)
    return result


def finish_tick(
    store: sa.Engine, workflow: WorkflowConfig, as_of: dt.datetime, *, finished_at: dt.datetime, duration_s: float
) -> None:
    """Record that the tick as of ``as_of`` ran to its end (the API's dead man's switch reads it;
    :func:`housekeeping` forgets the ticks older than the retention, once a business day)."""
    with store.begin() as conn:
        ticks.record_tick(
            conn, workflow.workflow_id, as_of=bd.to_utc(as_of), finished_at=finished_at, duration_s=duration_s
        )


def _since(now: dt.datetime, started: float) -> dt.datetime:
    """``now`` plus the time since ``started`` (a perf_counter reading)."""
    return now + dt.timedelta(seconds=time.perf_counter() - started)


def run_tick(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    as_of: dt.datetime,
    *,
    channel: Channels | None = None,
    recipients: list[str] | None = None,
    page_url_base: str = BASE_URL.default,
    now: dt.datetime | None = None,
    reader: SourceReader | None = None,
    escalate_to: list[str] | None = None,
) -> TickResult:
    """Run every task of one tick in order, as the DAG does. ``now`` defaults to ``as_of``.

    ``channel``: where the outbox is sent (None: it stays queued; the daily digest is queued all the same).
    """
    as_of = bd.to_utc(as_of)
    now = now or as_of
    started = time.perf_counter()  # how long the tick took (a duration, not a moment it judges by)
    result = TickResult(as_of=as_of)
    result.snapshot_ids = extract(source, store, workflow, as_of, reader, read_at=now)
    result.evaluations = evaluate_snapshots(store, workflow, result.snapshot_ids)
    to = recipients if recipients is not None else list(workflow.on_call)
    result.persisted = persist(
        store,
        workflow,
        result.snapshot_ids,
        recipients=to,
        page_url_base=page_url_base,
        now=now,
        escalate_to=escalate_to,
    )
    result.digests = queue_digests(store, workflow, as_of, recipients=to, page_url_base=page_url_base, now=now)
    if channel is not None:
        # outcomes on the tick's own clock: a replayed tick's Retry-After counts from its moment
        result.sent, result.send_failures = notify(store, channel, now, clock=partial(_since, now, started))
    result.housekeeping = housekeeping(store, workflow, as_of, now, source=source, reader=reader)
    finish_tick(store, workflow, as_of, finished_at=now, duration_s=time.perf_counter() - started)
    return result
