"""The store that parts 2-4 share: 60 days of DPDC and of a 500-step workflow, and today so far.

Built once per run (it takes a minute or two at full size) and dropped at the end, with the
api-server that parts 2 and 3 share (:func:`server`):

- dpdc_ami: yesterday is include/scenarios/failure.yaml played every 15 minutes through the real
  pipeline; the 59 days before are copies of it (history.py); today is the failure day again,
  played every 15 minutes up to the wall-clock time (the page shows the current business day).
- synth_500_40 (500 steps, 40 threads per run: 20,000 thread rows a day): yesterday played
  through the real pipeline every ``template_every``, the 59 days before copied, today played
  up to the wall-clock time. CC&B holds the same days.

The bytes each played day added to each table are kept for part 4 (store size per day).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from tests.support.workflows import load_test_workflow

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.channels import EmailChannel
from benchmarks import airflow_server, common, history, synthetic

BIG = synthetic.Size(500, 40)
SMOKE_BIG = synthetic.Size(20, 4)


@dataclass
class Played:
    """What playing one workflow's template day through the real pipeline added to the store."""

    workflow: WorkflowConfig
    ticks: int
    bytes_by_table: dict[str, int]
    snapshots: int


@dataclass
class HistoryStore:
    source_url: str
    store_url: str
    history_days: int
    today: dict[str, dt.date]  # workflow id → the business date the page shows by default
    played: dict[str, Played] = field(default_factory=dict)
    build_s: float = 0.0

    @property
    def dpdc(self) -> WorkflowConfig:
        return self.played["dpdc_ami"].workflow

    @property
    def big(self) -> WorkflowConfig:
        return next(p.workflow for w, p in self.played.items() if w != "dpdc_ami")


_shared: HistoryStore | None = None
_server: airflow_server.AirflowServer | None = None
_databases = contextlib.ExitStack()  # the shared store's databases, and the api-server over them


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after}


def _snapshot_count(store: sa.Engine, workflow_id: str, date: dt.date) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM batch_source_snapshots WHERE workflow_id = :w AND business_date = :d"),
                {"w": workflow_id, "d": date},
            ).scalar_one()
        )


def _play_template(
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    date: dt.date,
    every: dt.timedelta,
    mail: EmailChannel,
    before: history.TickHook | None,
) -> Played:
    moments = history.ticks(workflow, date, every)
    sizes = history.store_bytes(store)
    history.play_ticks(source, store, workflow, moments, mail=mail, before=before)
    return Played(
        workflow,
        len(moments),
        _delta(sizes, history.store_bytes(store)),
        _snapshot_count(store, workflow.workflow_id, date),
    )


def _today_moments(
    workflow: WorkflowConfig, today: dt.date, every: dt.timedelta, now: dt.datetime
) -> list[dt.datetime]:
    return [m for m in history.ticks(workflow, today, every) if m <= now]


def build(smoke: bool) -> HistoryStore:
    """Make the shared store (see the module docstring); dropped by :func:`cleanup`."""
    started = time.perf_counter()
    days = 3 if smoke else 60
    size = SMOKE_BIG if smoke else BIG
    big_every = dt.timedelta(hours=6 if smoke else 1)
    quarter = dt.timedelta(minutes=15)
    now = dt.datetime.now(dt.UTC)
    dpdc = load_test_workflow("dpdc_ami")  # the tests' copy: a site's SLA edits do not move the figures
    big = synthetic.workflow(size)
    source_url = _databases.enter_context(common.database("bench_hist_ccb"))
    store_url = _databases.enter_context(common.database("bench_hist_store"))
    source, store = sa.create_engine(source_url), sa.create_engine(store_url)
    today = {w.workflow_id: bd.business_date(now, w.timezone, w.business_day_start) for w in (dpdc, big)}
    result = HistoryStore(source_url, store_url, days, today)
    with history.mail_sink():
        mail = history.channel()
        simulator.create_schema(source)
        for workflow in (dpdc, big):
            first = today[workflow.workflow_id] - dt.timedelta(days=days)
            pipeline.prepare_store(store, workflow, bd.window(first, workflow.timezone, workflow.business_day_start)[0])
        # dpdc_ami: CC&B's past days as they ended, yesterday played, the days before copied, today so far
        t = today["dpdc_ami"]
        past = [t - dt.timedelta(days=k) for k in range(days, 1, -1)]
        yesterday = t - dt.timedelta(days=1)
        player = history.dpdc_player(source, dpdc, "failure", yesterday)
        result.played["dpdc_ami"] = _play_template(source, store, dpdc, yesterday, quarter, mail, player)
        history.clone_days(store, "dpdc_ami", yesterday, past, history.snapshot_horizon(store, t))
        # CC&B's past days only now: had CC&B held them at the template day's first tick, that tick
        # would have bootstrapped the store's history from them (pipeline.bootstrap_history) and the
        # clone above would collide with it (as in tick.py)
        for date in past:
            history.dpdc_player(source, dpdc, "normal", date)(
                bd.window(date, dpdc.timezone, dpdc.business_day_start)[1]
            )
        player = history.dpdc_player(source, dpdc, "failure", t)
        history.play_ticks(source, store, dpdc, _today_moments(dpdc, t, quarter, now), mail=mail, before=player)
        # the 500-step workflow: the same, CC&B's rows written by the generator
        t = today[big.workflow_id]
        past = [t - dt.timedelta(days=k) for k in range(days, 1, -1)]
        yesterday = t - dt.timedelta(days=1)
        synthetic.load_days(source, size, [yesterday], first=len(past))  # the past days after it (see dpdc)
        result.played[big.workflow_id] = _play_template(source, store, big, yesterday, big_every, mail, None)
        history.clone_days(store, big.workflow_id, yesterday, past, history.snapshot_horizon(store, t))
        synthetic.load_days(source, size, past)
        synthetic.load_days(source, size, [t], first=len(past) + 1)
        history.play_ticks(source, store, big, _today_moments(big, t, big_every, now), mail=mail)
    with store.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("VACUUM ANALYZE"))
    source.dispose()
    store.dispose()
    result.build_s = time.perf_counter() - started
    return result


def shared(smoke: bool) -> HistoryStore:
    """The run's shared store, built on first use."""
    global _shared
    if _shared is None:
        _shared = build(smoke)
    return _shared


def server(smoke: bool) -> airflow_server.AirflowServer:
    """The run's api-server over the shared store (parts 2 and 3), started on first use."""
    global _server
    if _server is None:
        _server = _databases.enter_context(airflow_server.running(shared(smoke).store_url))
    return _server


def cleanup() -> None:
    """Stop the api-server and drop the shared store's databases."""
    global _shared, _server
    _databases.close()
    _shared, _server = None, None
