"""``GET /batch-monitor/metrics``: the store in Prometheus / OpenMetrics text, for scrapers.

Everything comes from the store (the api-server never reads CC&B): the latest judged business day
of each workflow (its evaluation, as the timeline shows it), each step's last finished run, the
active alerts, the ticks that ran to their end and the unsent outbox. A fresh CollectorRegistry
is built per request around one collector holding what was read, so nothing is cached between
scrapes and several api-server workers answer alike.

Access: an Airflow token (the caller sees the workflows whose DAGs it may read, like every other
endpoint), or the read-only scraper token kept in the Airflow Variable ``batch_monitor_metrics_token``
(``Authorization: Bearer <token>``; it sees every workflow). Neither → 401.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import sqlalchemy as sa
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from batch_monitor import deadman
from batch_monitor.alerting import ACTIVE_STATES
from batch_monitor.api import queries
from batch_monitor.api.access import readable
from batch_monitor.api.db import StoreDep
from batch_monitor.api.queries import WorkflowMeta
from batch_monitor.constants import StepStatus
from batch_monitor.models import Evaluation
from batch_monitor.settings import METRICS_TOKEN
from batch_monitor.store.schema import alerts, email_outbox, execution_logs
from batch_monitor.store.ticks import durations, last_finished

router = APIRouter()

# seconds; a tick usually takes seconds, a slow CC&B read or a catch-up after an outage minutes
TICK_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
DEFAULT_CHANNEL = "email"
_bearer = HTTPBearer(auto_error=False)


# --------------------------------------------------------------------------- access


@dataclass(frozen=True)
class MetricsCaller:
    """Who scrapes: the scraper token (every workflow) or an Airflow user (``user`` set)."""

    user: BaseUser | None = None


def scraper_token() -> str | None:
    """The Airflow Variable ``batch_monitor_metrics_token`` (None or empty: no scraper token)."""
    from batch_monitor.airflow_io import metrics_token

    return metrics_token()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def metrics_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> MetricsCaller:
    """The scraper token (compared in constant time), else an Airflow token (header or UI cookie), else 401.

    Airflow answers a malformed JWT with 403; here every refused credential is 401, like a missing one.
    """
    presented = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    expected = scraper_token()
    if presented and expected and hmac.compare_digest(presented.encode(), expected.encode()):
        return MetricsCaller()
    try:
        user = await get_user(request, None, credentials)
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise _unauthorized(
                "send an Airflow token or the scraper token (Airflow Variable "
                f"{METRICS_TOKEN.name!r}) as 'Authorization: Bearer <token>'"
            ) from exc
        raise
    return MetricsCaller(user=user)


CallerDep = Annotated[MetricsCaller, Depends(metrics_caller)]


# --------------------------------------------------------------------------- what is read


@dataclass(frozen=True)
class LastRun:
    duration_s: float | None
    records: int


@dataclass
class MetricsData:
    """Everything one scrape exports, read from the store beforehand (the collector does no I/O)."""

    now: dt.datetime
    workflows: list[WorkflowMeta]
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    last_runs: dict[tuple[str, str], LastRun] = field(default_factory=dict)
    open_alerts: list[tuple[str, str, str, str, int]] = field(default_factory=list)  # wf, severity, kind, state, n
    last_ticks: dict[str, dt.datetime] = field(default_factory=dict)
    tick_durations: dict[str, list[float]] = field(default_factory=dict)
    outbox_pending: dict[str, int] = field(default_factory=dict)


def _last_runs(conn: sa.Connection, workflow_ids: Sequence[str]) -> dict[tuple[str, str], LastRun]:
    """Each step's latest finished run (completed or failed), over every kept business day."""
    t = execution_logs
    query = (
        sa.select(t.c.workflow_id, t.c.step_id, t.c.duration_s, t.c.records)
        .where(t.c.workflow_id.in_(list(workflow_ids)), t.c.status.in_(queries.FINISHED))
        .distinct(t.c.workflow_id, t.c.step_id)
        .order_by(
            t.c.workflow_id,
            t.c.step_id,
            sa.func.coalesce(t.c.end_time, t.c.start_time).desc().nulls_last(),
            t.c.id.desc(),
        )
    )
    return {(r.workflow_id, r.step_id): LastRun(r.duration_s, int(r.records)) for r in conn.execute(query)}


def _open_alerts(conn: sa.Connection, workflow_ids: Sequence[str]) -> list[tuple[str, str, str, str, int]]:
    t = alerts
    query = (
        sa.select(t.c.workflow_id, t.c.severity, t.c.kind, t.c.state, sa.func.count())
        .where(t.c.workflow_id.in_(list(workflow_ids)), t.c.state.in_(ACTIVE_STATES))
        .group_by(t.c.workflow_id, t.c.severity, t.c.kind, t.c.state)
        .order_by(t.c.workflow_id, t.c.severity, t.c.kind, t.c.state)
    )
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in conn.execute(query)]


def outbox_pending(conn: sa.Connection) -> dict[str, int]:
    """Unsent messages per channel (one outbox row per message and channel); e-mail always listed."""
    o = email_outbox
    rows = conn.execute(sa.select(o.c.channel, sa.func.count()).where(o.c.sent_at.is_(None)).group_by(o.c.channel))
    return {DEFAULT_CHANNEL: 0} | {str(r[0]): int(r[1]) for r in rows}


def read_metrics(conn: sa.Connection, metas: Sequence[WorkflowMeta], now: dt.datetime) -> MetricsData:
    """What the store says about ``metas`` (the workflows the caller may read) as of ``now``."""
    ids = [m.workflow_id for m in metas]
    latest = queries.latest_business_dates(conn)
    data = MetricsData(now=now, workflows=list(metas))
    for workflow_id in ids:
        if workflow_id in latest:
            ev = queries.evaluation(conn, workflow_id, latest[workflow_id])
            if ev is not None:
                data.evaluations[workflow_id] = ev
    data.last_runs = _last_runs(conn, ids)
    data.open_alerts = _open_alerts(conn, ids)
    data.last_ticks = last_finished(conn, ids)
    data.tick_durations = durations(conn, ids)
    data.outbox_pending = outbox_pending(conn)
    return data


# --------------------------------------------------------------------------- the families


def _ts(moment: dt.datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def step_progress(status_: StepStatus, progress: float | None) -> float:
    """0..1: a running step's progress; a complete (or skipped) step 1; one not started or failed its last."""
    if status_ in (StepStatus.COMPLETE, StepStatus.SKIPPED):
        return 1.0
    return float(progress) if progress is not None else 0.0


def predicted_finish(ev: Evaluation) -> dt.datetime | None:
    """The chain's predicted end; once it completed, when it did; else the latest step prediction."""
    if ev.predicted_chain_end is not None:
        return ev.predicted_chain_end
    if ev.chain_status == StepStatus.COMPLETE:
        ends = [s.end for s in ev.steps if s.end is not None]
        return max(ends) if ends else None
    predicted = [s.predicted_end for s in ev.steps if s.predicted_end is not None]
    return max(predicted) if predicted else None


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def step_families(data: MetricsData) -> Iterator[Metric]:
    state = _gauge(
        "batch_monitor_step_state",
        "1 for the step's current state in its workflow's latest judged business day, 0 for the others",
        ["workflow", "step", "state"],
    )
    progress = _gauge(
        "batch_monitor_step_progress_ratio", "share of the step done (0..1) in the latest day", ["workflow", "step"]
    )
    duration = _gauge(
        "batch_monitor_step_duration_seconds", "duration of the step's last finished run", ["workflow", "step"]
    )
    records = _gauge("batch_monitor_step_records", "records of the step's last finished run", ["workflow", "step"])
    for meta in data.workflows:
        ev = data.evaluations.get(meta.workflow_id)
        for step in ev.steps if ev is not None else []:
            for value in StepStatus:
                state.add_metric([meta.workflow_id, step.step_id, value.value], 1.0 if step.status == value else 0.0)
            progress.add_metric([meta.workflow_id, step.step_id], step_progress(step.status, step.progress))
        for step_meta in meta.steps:
            run = data.last_runs.get((meta.workflow_id, step_meta.step_id))
            if run is None:
                continue
            if run.duration_s is not None:
                duration.add_metric([meta.workflow_id, step_meta.step_id], run.duration_s)
            records.add_metric([meta.workflow_id, step_meta.step_id], float(run.records))
    yield from (state, progress, duration, records)


def chain_families(data: MetricsData) -> Iterator[Metric]:
    chain_state = _gauge(
        "batch_monitor_chain_state", "1 for the chain's state in the latest judged business day", ["workflow", "state"]
    )
    finish = _gauge(
        "batch_monitor_chain_predicted_finish_timestamp_seconds",
        "when the chain is predicted to finish (or finished), Unix time",
        ["workflow"],
    )
    deadline = _gauge(
        "batch_monitor_chain_deadline_timestamp_seconds",
        "the chain's deadline, Unix time",
        ["workflow"],
    )
    judged = _gauge(
        "batch_monitor_evaluation_timestamp_seconds", "as-of time of the latest judged tick, Unix time", ["workflow"]
    )
    for meta in data.workflows:
        ev = data.evaluations.get(meta.workflow_id)
        if ev is None:
            continue
        for value in StepStatus:
            chain_state.add_metric([meta.workflow_id, value.value], 1.0 if ev.chain_status == value else 0.0)
        judged.add_metric([meta.workflow_id], ev.as_of.timestamp())
        finish_at, deadline_at = _ts(predicted_finish(ev)), _ts(ev.chain_finish_by)
        if finish_at is not None:
            finish.add_metric([meta.workflow_id], finish_at)
        if deadline_at is not None:
            deadline.add_metric([meta.workflow_id], deadline_at)
    yield from (chain_state, finish, deadline, judged)


def alert_families(data: MetricsData) -> Iterator[Metric]:
    open_alerts = _gauge(
        "batch_monitor_alerts_open",
        "active alerts (open, or acknowledged and not resolved)",
        ["workflow", "severity", "kind", "state"],
    )
    for workflow_id, severity, kind, state, count in data.open_alerts:
        open_alerts.add_metric([workflow_id, severity, kind, state], float(count))
    pending = _gauge("batch_monitor_outbox_pending", "messages queued and not yet sent", ["channel"])
    for channel, count in sorted(data.outbox_pending.items()):
        pending.add_metric([channel], float(count))
    yield from (open_alerts, pending)


def histogram_buckets(values: Iterable[float], bounds: Sequence[float] = TICK_BUCKETS) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs ending with +Inf."""
    ordered = sorted(values)
    buckets = [(repr(float(b)), float(sum(1 for v in ordered if v <= b))) for b in bounds]
    return [*buckets, ("+Inf", float(len(ordered)))]


def tick_families(data: MetricsData) -> Iterator[Metric]:
    last = _gauge(
        "batch_monitor_last_tick_timestamp_seconds",
        "when the last tick ended, Unix time",
        ["workflow"],
    )
    interval = _gauge(
        "batch_monitor_schedule_interval_seconds",
        "the DAG's schedule interval",
        ["workflow"],
    )
    stale = _gauge(
        "batch_monitor_monitor_stale",
        "1 when the last finished tick is older than twice the schedule interval (or there is none)",
        ["workflow"],
    )
    histogram = HistogramMetricFamily(
        "batch_monitor_tick_duration_seconds", "how long the kept ticks took, start to end", labels=["workflow"]
    )
    for meta in data.workflows:
        tick = data.last_ticks.get(meta.workflow_id)
        alive = deadman.pulse(tick, meta.schedule, data.now)
        if tick is not None:
            last.add_metric([meta.workflow_id], tick.timestamp())
        interval.add_metric([meta.workflow_id], alive.interval.total_seconds())
        stale.add_metric([meta.workflow_id], 1.0 if alive.stale else 0.0)
        values = data.tick_durations.get(meta.workflow_id, [])
        histogram.add_metric([meta.workflow_id], histogram_buckets(values), sum_value=float(sum(values)))
    yield from (last, interval, stale, histogram)


class StoreCollector(Collector):
    """The families of one scrape, from what :func:`read_metrics` read."""

    def __init__(self, data: MetricsData) -> None:
        self.data = data

    def collect(self) -> Iterable[Metric]:
        yield from step_families(self.data)
        yield from chain_families(self.data)
        yield from alert_families(self.data)
        yield from tick_families(self.data)


def exposition(data: MetricsData, accept: str) -> tuple[bytes, str]:
    """(body, content type): OpenMetrics when the scraper asks for it, else Prometheus text 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(data))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


# --------------------------------------------------------------------------- the endpoint


def _visible(request: Request, caller: MetricsCaller, metas: Sequence[WorkflowMeta]) -> list[WorkflowMeta]:
    if caller.user is None:  # the scraper token
        return list(metas)
    allowed = set(readable(request, caller.user, [m.workflow_id for m in metas]))
    return [m for m in metas if m.workflow_id in allowed]


@router.get("/metrics", include_in_schema=False)
def get_metrics(request: Request, caller: CallerDep, conn: StoreDep) -> Response:
    """The store's state for Prometheus; the wall clock (for the dead man's switch) is read here."""
    now = dt.datetime.now(dt.UTC)
    metas = _visible(request, caller, queries.workflows(conn))
    body, content_type = exposition(read_metrics(conn, metas, now), request.headers.get("accept", ""))
    return Response(content=body, media_type=content_type, headers={"Cache-Control": "no-store"})
