"""Part 1 — tick cost: extract + evaluate + persist + notify (+ summarize/purge) per tick.

Every figure is one real :func:`batch_monitor.pipeline.run_tick` against real PostgreSQL
databases: CC&B is the simulator's OUAF tables (with 60 days of CC&B history besides the
judged day), the store holds 60 days of history of the same workflow (see history.py), mails
go through the SMTP provider's hook to a real SMTP server on 127.0.0.1. Statements are counted
on both engines with a ``before_cursor_execute`` listener; the time of each task of the tick
is taken by wrapping the pipeline's task functions (run_tick calls them in turn, as the DAG's
tasks do).

    python -m benchmarks.tick [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from tests.support.workflows import load_test_workflow

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.channels import EmailChannel
from batch_monitor.simulator.ddl import ci_batch_run, ci_batch_thd
from batch_monitor.simulator.scenario import batch_number_base
from benchmarks import common, history, synthetic
from benchmarks.common import Section

TODAY = dt.date(2026, 11, 24)  # the judged business day (a Tuesday); history is the 60 days before
PHASES = ("extract", "evaluate_snapshots", "persist", "queue_digests", "notify", "housekeeping")
DPDC_TARGET_S = 2.0
SYNTHETIC_TARGET_S = 10.0  # 500 steps, 20,000 thread rows
SCALE_TARGET_S = 2.0  # issue 14: the 5,000-step workflow (4 threads a run)


@dataclass(frozen=True)
class Plan:
    """How big a run is."""

    history_days: int  # days of history in the store and in CC&B before the judged day
    dpdc_every: dt.timedelta  # DPDC: ticks of the judged day (all measured)
    template_every: dt.timedelta  # synthetic: ticks of the played template day
    synthetic_ticks: int  # synthetic: measured ticks, 15 minutes apart from 13:00
    sizes: tuple[synthetic.Size, ...]
    steps_series: tuple[synthetic.Size, ...]  # sizes whose growth exponent is reported (same threads per run)
    threads_pair: tuple[synthetic.Size, synthetic.Size]  # same steps, more threads
    target_size: synthetic.Size  # the per-tick target is judged on it (500 steps / 20,000 thread rows in full)
    scale_size: synthetic.Size  # SCALE_TARGET_S is judged on it (5,000 steps × 4 threads in full)


FULL = Plan(
    history_days=60,
    dpdc_every=dt.timedelta(minutes=15),
    template_every=dt.timedelta(hours=2),
    synthetic_ticks=4,
    sizes=(synthetic.Size(50, 4), synthetic.Size(500, 4), synthetic.Size(5000, 4), synthetic.Size(500, 40)),
    steps_series=(synthetic.Size(50, 4), synthetic.Size(500, 4), synthetic.Size(5000, 4)),
    threads_pair=(synthetic.Size(500, 4), synthetic.Size(500, 40)),
    target_size=synthetic.Size(500, 40),
    scale_size=synthetic.Size(5000, 4),
)
SMOKE = Plan(
    history_days=3,
    dpdc_every=dt.timedelta(hours=4),
    template_every=dt.timedelta(hours=8),
    synthetic_ticks=2,
    sizes=(synthetic.Size(10, 2), synthetic.Size(40, 2), synthetic.Size(40, 6)),
    steps_series=(synthetic.Size(10, 2), synthetic.Size(40, 2)),
    threads_pair=(synthetic.Size(40, 2), synthetic.Size(40, 6)),
    target_size=synthetic.Size(40, 6),
    scale_size=synthetic.Size(40, 2),
)


@dataclass
class TickStats:
    """The measured ticks of one workflow."""

    label: str
    steps: int
    runs: int  # CC&B runs of the judged day
    thread_rows: int  # CI_BATCH_THD rows of the judged day
    seconds: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    mails: int = 0
    setup_s: float = 0.0
    slowest: list[tuple[str, int, float]] = field(default_factory=list)  # (statement, runs, seconds)
    baselines: int = 0  # learned baselines (step × segment) the measured ticks judge with

    @property
    def median_s(self) -> float:
        return common.median(self.seconds)

    @property
    def median_queries(self) -> float:
        return common.median([float(q) for q in self.queries])


@contextmanager
def phase_timer(into: dict[str, list[float]]) -> Iterator[None]:
    """Time each task function of the pipeline while run_tick calls it."""
    originals: dict[str, Callable[..., Any]] = {name: getattr(pipeline, name) for name in PHASES}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                into[name].append(time.perf_counter() - started)

        return wrapper

    for name, function in originals.items():
        setattr(pipeline, name, timed(name, function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(pipeline, name, function)


def measure(
    stats: TickStats,
    source: sa.Engine,
    store: sa.Engine,
    workflow: WorkflowConfig,
    moments: list[dt.datetime],
    mail: EmailChannel,
    sink: history.MailSink,
    before: history.TickHook | None = None,
) -> None:
    """Run and measure one real tick at each moment (``before`` is not measured)."""
    received = sink.received
    with common.QueryCounter(source, store) as counter, phase_timer(stats.phases):
        for as_of in moments:
            if before is not None:
                with counter.paused():
                    before(as_of)  # CC&B moves on (neither timed nor counted)
            counter.reset()
            started = time.perf_counter()
            pipeline.run_tick(source, store, workflow, as_of, channel=mail)
            stats.seconds.append(time.perf_counter() - started)
            stats.queries.append(counter.count)
    stats.mails = sink.received - received
    stats.slowest = counter.slowest(6)


def _day_counts(source: sa.Engine, workflow: WorkflowConfig, date: dt.date) -> tuple[int, int]:
    """(runs, thread rows) CC&B holds for the workflow's business day."""
    low = batch_number_base(date)
    codes = sorted({s.batch_code for s in workflow.steps})
    counts = []
    with source.connect() as conn:
        for table in (ci_batch_run, ci_batch_thd):
            query = (
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.batch_nbr.between(low, low + 99), sa.func.rtrim(table.c.batch_cd).in_(codes))
            )
            counts.append(int(conn.execute(query).scalar_one()))
    return counts[0], counts[1]


def dpdc(plan: Plan, mail: EmailChannel, sink: history.MailSink) -> TickStats:
    """The DPDC chain's failure day, every tick measured, over 60 days of history."""
    workflow = load_test_workflow("dpdc_ami")  # the tests' copy: a site's SLA edits do not move the figures
    template = TODAY - dt.timedelta(days=1)
    past = [TODAY - dt.timedelta(days=k) for k in range(plan.history_days, 1, -1)]
    started = time.perf_counter()
    with common.database("bench_tick_ccb") as source_url, common.database("bench_tick_store") as store_url:
        source, store = sa.create_engine(source_url), sa.create_engine(store_url)
        try:
            simulator.create_schema(source)
            pipeline.prepare_store(
                store, workflow, bd.window(past[0], workflow.timezone, workflow.business_day_start)[0]
            )
            history.play_ticks(
                source,
                store,
                workflow,
                history.ticks(workflow, template, dt.timedelta(minutes=15)),
                mail=mail,
                before=history.dpdc_player(source, workflow, "failure", template),
            )
            history.clone_days(store, workflow.workflow_id, template, past, history.snapshot_horizon(store, TODAY))
            # CC&B keeps its history too: each past day as it ended. Played only now: had CC&B held it
            # when the template day's first tick ran, that tick would have bootstrapped the store's
            # history from it (pipeline.bootstrap_history) and the clone above would collide with it.
            for date in past:
                end = bd.window(date, workflow.timezone, workflow.business_day_start)[1]
                history.dpdc_player(source, workflow, "normal", date)(end)
            start = bd.window(TODAY, workflow.timezone, workflow.business_day_start)[0]
            learned = history.learn_baselines(store, workflow, TODAY, start)
            player = history.dpdc_player(source, workflow, "failure", TODAY)
            moments = history.ticks(workflow, TODAY, plan.dpdc_every)
            player(moments[-1])
            runs, threads = _day_counts(source, workflow, TODAY)
            stats = TickStats("DPDC AMI (failure day)", len(workflow.steps), runs, threads, baselines=learned)
            stats.setup_s = time.perf_counter() - started
            measure(stats, source, store, workflow, moments, mail, sink, before=player)
        finally:
            source.dispose()
            store.dispose()
    return stats


def synthetic_day(plan: Plan, size: synthetic.Size, mail: EmailChannel, sink: history.MailSink) -> TickStats:
    """A synthetic workflow: ticks from 13:00 of its day, over 60 days of history."""
    started = time.perf_counter()
    workflow = synthetic.workflow(size)
    template = TODAY - dt.timedelta(days=1)
    past = [TODAY - dt.timedelta(days=k) for k in range(plan.history_days, 1, -1)]
    with common.database("bench_tick_ccb") as source_url, common.database("bench_tick_store") as store_url:
        source, store = sa.create_engine(source_url), sa.create_engine(store_url)
        try:
            simulator.create_schema(source)
            # CC&B's other days are loaded after the template day's ticks (see dpdc): its first tick would
            # bootstrap the store's history from the past days (the clone then collides with it), and
            # its last tick would read runs of TODAY as the template's
            pipeline.prepare_store(
                store, workflow, bd.window(past[0], workflow.timezone, workflow.business_day_start)[0]
            )
            history.play_ticks(  # the template day too as CC&B holds it at each of its ticks
                source,
                store,
                workflow,
                history.ticks(workflow, template, plan.template_every),
                mail=mail,
                before=synthetic.day_player(source, size, template, first=len(past)),
            )
            history.clone_days(store, workflow.workflow_id, template, past, history.snapshot_horizon(store, TODAY))
            synthetic.load_days(source, size, past)
            start = bd.window(TODAY, workflow.timezone, workflow.business_day_start)[0]
            learned = history.learn_baselines(store, workflow, TODAY, start)
            first = bd.at_clock(TODAY, dt.time(13), workflow.timezone, workflow.business_day_start)
            moments: list[dt.datetime] = [first + dt.timedelta(minutes=15 * i) for i in range(plan.synthetic_ticks)]
            # the judged day as CC&B holds it at each tick (not its later rows: see synthetic.day_player)
            player = synthetic.day_player(source, size, TODAY, first=len(past) + 1)
            player(moments[-1])
            runs, threads = _day_counts(source, workflow, TODAY)
            stats = TickStats(size.label, size.steps, runs, threads, baselines=learned)
            stats.setup_s = time.perf_counter() - started
            measure(stats, source, store, workflow, moments, mail, sink, before=player)
        finally:
            source.dispose()
            store.dispose()
    return stats


def _phase_cells(stats: TickStats) -> list[str]:
    return [common.ms(common.median(stats.phases[p])) for p in PHASES]


def run(smoke: bool = False) -> Section:
    """Measure every workflow of the plan; the section of the report."""
    plan = SMOKE if smoke else FULL
    section = Section("1. Tick cost")
    started = time.perf_counter()
    with history.mail_sink() as sink:
        mail = history.channel()
        results = [dpdc(plan, mail, sink)]
        by_size: dict[synthetic.Size, TickStats] = {}
        for size in plan.sizes:
            by_size[size] = synthetic_day(plan, size, mail, sink)
            results.append(by_size[size])
    table = section.table(
        "Time and statements per tick (median of the measured ticks; max in brackets)",
        ["workflow", "steps", "runs", "thread rows", "ticks", "time per tick", "statements per tick", "mails sent"],
    )
    for stats in results:
        table.add(
            stats.label,
            f"{stats.steps:,}",
            f"{stats.runs:,}",
            f"{stats.thread_rows:,}",
            len(stats.seconds),
            f"{common.ms(stats.median_s)} (max {common.ms(max(stats.seconds))})",
            f"{stats.median_queries:.0f} (max {max(stats.queries)})",
            stats.mails,
        )
    table.notes.append(
        f"history: {plan.history_days} business days in the store and in CC&B before the judged day; "
        "statements counted on both engines (CC&B and store)"
    )
    table.notes.append(
        "learned baselines (step × segment) the measured ticks judge with, learned from that history before "
        "them (once a day, as the day's first tick does; its cost is part 5): "
        + ", ".join(f"{s.label} {s.baselines:,}" for s in results)
    )
    phases = section.table("Where a tick's time goes (median per task)", ["workflow", *PHASES, "setup (not measured)"])
    for stats in results:
        phases.add(stats.label, *_phase_cells(stats), common.secs(stats.setup_s))
    for stats in results[-2:]:
        slow = section.table(
            f"Slowest statements of {stats.label} (all {len(stats.seconds)} measured ticks)",
            ["statement (first words)", "runs per tick", "time per tick"],
        )
        for label, runs, seconds in stats.slowest:
            slow.add(f"`{label}`", f"{runs / len(stats.seconds):.0f}", common.ms(seconds / len(stats.seconds)))
    growth = section.table(
        "Growth between sizes (exponent k in time ∝ size^k; 1 = linear)",
        ["from", "to", "size ratio", "time ratio", "exponent (time)", "exponent (statements)"],
    )
    pairs = [*zip(plan.steps_series, plan.steps_series[1:], strict=False), plan.threads_pair]
    for a, b in pairs:
        sa_, sb = by_size[a], by_size[b]
        n_a, n_b = (a.steps, b.steps) if a.threads == b.threads else (sa_.thread_rows, sb.thread_rows)
        growth.add(
            a.label,
            b.label,
            f"{n_b / n_a:.0f}× {'steps' if a.threads == b.threads else 'thread rows'}",
            common.ratio(sb.median_s, sa_.median_s),
            f"{common.growth_exponent(n_a, sa_.median_s, n_b, sb.median_s):.2f}",
            f"{common.growth_exponent(n_a, sa_.median_queries, n_b, sb.median_queries):.2f}",
        )
    dpdc_stats = results[0]
    section.target(
        f"DPDC day ≤ {DPDC_TARGET_S:.0f} s per tick",
        max(dpdc_stats.seconds) <= DPDC_TARGET_S,
        f"median {common.ms(dpdc_stats.median_s)}, max {common.ms(max(dpdc_stats.seconds))} "
        f"({common.ratio(max(dpdc_stats.seconds), DPDC_TARGET_S)} of the target)",
    )
    big = by_size[plan.target_size]
    section.target(
        f"{plan.target_size.steps} steps / {big.thread_rows:,} thread rows ≤ {SYNTHETIC_TARGET_S:.0f} s per tick",
        max(big.seconds) <= SYNTHETIC_TARGET_S,
        f"median {common.secs(big.median_s)}, max {common.secs(max(big.seconds))} "
        f"({common.ratio(max(big.seconds), SYNTHETIC_TARGET_S)} of the target)",
    )
    scale = by_size[plan.scale_size]
    section.target(
        f"{plan.scale_size.label} ≤ {SCALE_TARGET_S:.0f} s per tick (issue 14)",
        max(scale.seconds) <= SCALE_TARGET_S,
        f"median {common.secs(scale.median_s)}, max {common.secs(max(scale.seconds))} "
        f"({common.ratio(max(scale.seconds), SCALE_TARGET_S)} of the target); where it goes: "
        + ", ".join(f"{p} {common.ms(common.median(scale.phases[p]))}" for p in PHASES[:3]),
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds long")
    args = parser.parse_args()
    from benchmarks.run_all import quiet

    quiet()
    section = run(smoke=args.smoke)
    for table in section.tables:
        print(table.text(), end="\n\n")
    for what, met, detail in section.targets:
        print(f"target {what}: {common.verdict(met)} — {detail}")


if __name__ == "__main__":
    main()
