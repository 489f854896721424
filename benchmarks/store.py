"""Part 4 — store size per business day, and the time of the purge.

For each workflow (the DPDC chain, and a 500-step workflow with 20,000 thread rows a day) a
fresh store gets one business day played through the real pipeline at the real cadence (a tick
every 15 minutes: 97 ticks), then 60 more days copied from it (history.py): 61 days, the 60 the
retention keeps and the one that falls out (snapshots for the days the monitor keeps them:
history.snapshot_horizon). Sizes are ``pg_total_relation_size`` (heap, TOAST, indexes) after
VACUUM ANALYZE. The daily purge is the real housekeeping of the next business day's first tick
(the oldest day goes); then every remaining day is purged at once with ``repository.purge``.
Their statements are explained at revision 0001 and 0002.

    python -m benchmarks.store [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from tests.support.workflows import load_test_workflow

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.store import repository, schema
from batch_monitor.store.schema import metadata
from benchmarks import common, explain, history, synthetic
from benchmarks.common import Section

DAY = dt.date(2026, 11, 23)  # the played day; the copies are the 60 days before it
PER_DAY_TABLES = [t for t in metadata.tables if t not in ("batch_workflow_config", "batch_monitoring_config")]


@dataclass
class Measured:
    label: str
    ticks: int
    one_day: dict[str, int]  # bytes the played day added, per table
    total: dict[str, int]  # bytes of the 61-day store, per table (minus the empty store)
    rows: dict[str, int]  # rows of the 61-day store, per table
    days: int
    daily_purge_s: float
    daily_purged: dict[str, int]
    full_purge_s: float
    full_purged: dict[str, int]
    plans: dict[str, tuple[list[explain.Plan], list[explain.Plan]]]


def _rows(store: sa.Engine) -> dict[str, int]:
    with store.connect() as conn:
        return {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in PER_DAY_TABLES}


def _vacuum(store: sa.Engine) -> None:
    with store.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))


SourceSetup = Callable[[sa.Engine], history.TickHook | None]


def _keep_days(store: sa.Engine, days: int) -> None:
    """Set the store's retention (``retention_days``, an operator's setting) to ``days``."""
    with store.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE batch_monitoring_config SET value = CAST(:days AS jsonb) "
                "WHERE scope = 'global' AND key = 'retention_days'"
            ),
            {"days": str(days)},
        )


def measure(label: str, workflow: WorkflowConfig, days: int, every: dt.timedelta, setup: SourceSetup) -> Measured:
    """Play DAY, copy it to the ``days`` days before, measure, explain and time the purges."""
    with common.database("bench_store_ccb") as source_url, common.database("bench_store") as store_url:
        source, store = sa.create_engine(source_url), sa.create_engine(store_url)
        try:
            simulator.create_schema(source)
            fill_source = setup(source)
            pipeline.prepare_store(store, workflow, bd.window(DAY, workflow.timezone, workflow.business_day_start)[0])
            _keep_days(store, days)
            _vacuum(store)
            empty = history.store_bytes(store)
            moments = history.ticks(workflow, DAY, every)
            with history.mail_sink():
                history.play_ticks(source, store, workflow, moments, mail=history.channel(), before=fill_source)
            _vacuum(store)
            played = history.store_bytes(store)
            past = [DAY - dt.timedelta(days=k) for k in range(days, 0, -1)]
            history.clone_days(store, workflow.workflow_id, DAY, past, history.snapshot_horizon(store, DAY))
            full = history.store_bytes(store)
            rows = _rows(store)
            # the first tick of the next business day: its housekeeping drops the oldest day, exactly
            # as the DAG's task does (the EXPLAIN below is of the purge call it makes)
            next_day = DAY + dt.timedelta(days=1)
            first_tick = bd.window(next_day, workflow.timezone, workflow.business_day_start)[0]
            oldest_kept = next_day - dt.timedelta(days=days)
            plans = explain.before_and_after(
                store,
                {
                    "daily purge": lambda c: repository.purge(c, workflow_id=workflow.workflow_id, before=oldest_kept),
                    "60-day purge": lambda c: repository.purge(c, workflow_id=workflow.workflow_id, before=next_day),
                },
            )
            # the past days were cloned in after the played day's last housekeeping had purged (with the
            # next day's cutoffs, at the day's last tick): a store that lived them would not have its
            # cutoffs noted yet, so the measured housekeeping purges as the day's first one does
            with store.begin() as conn:
                c = schema.monitoring_config
                conn.execute(sa.delete(c).where(c.c.scope == workflow.workflow_id, c.c.key == repository.PURGED_BEFORE))
            started = time.perf_counter()
            housekeeping = pipeline.housekeeping(store, workflow, first_tick, first_tick)
            daily_s = time.perf_counter() - started
            started = time.perf_counter()
            with store.begin() as conn:
                everything = repository.purge(conn, workflow_id=workflow.workflow_id, before=next_day)
            full_s = time.perf_counter() - started
        finally:
            source.dispose()
            store.dispose()
    return Measured(
        label=label,
        ticks=len(moments),
        one_day={t: played[t] - empty[t] for t in PER_DAY_TABLES},
        total={t: full[t] - empty[t] for t in PER_DAY_TABLES},
        rows=rows,
        days=days + 1,
        daily_purge_s=daily_s,
        daily_purged=dict(housekeeping["purged"]),
        full_purge_s=full_s,
        full_purged=everything,
        plans=plans,
    )


def run(smoke: bool = False) -> Section:
    section = Section("4. Store size and purge")
    started = time.perf_counter()
    days = 3 if smoke else 60
    every = dt.timedelta(hours=4) if smoke else dt.timedelta(minutes=15)
    size = synthetic.Size(20, 4) if smoke else synthetic.Size(500, 40)
    dpdc = load_test_workflow("dpdc_ami")  # the tests' copy: a site's SLA edits do not move the figures

    def failure_day(source: sa.Engine) -> history.TickHook:
        return history.dpdc_player(source, dpdc, "failure", DAY)

    def synthetic_day(source: sa.Engine) -> None:
        synthetic.load_days(source, size, [DAY])

    results = [
        measure("DPDC AMI", dpdc, days, every, failure_day),
        measure(size.label, synthetic.workflow(size), days, every, synthetic_day),
    ]
    _report(section, results)
    section.seconds = time.perf_counter() - started
    return section


def _report(section: Section, results: list[Measured]) -> None:
    days = results[0].days
    columns = ["table"]
    for m in results:
        columns += [f"{m.label}: one played day", f"{m.label}: the {days}-day store", f"{m.label}: per business day"]
    size_table = section.table("Store size (bytes on disk: heap + TOAST + indexes)", columns)
    for name in [*PER_DAY_TABLES, "all tables"]:
        cells = []
        for m in results:
            one = sum(m.one_day.values()) if name == "all tables" else m.one_day[name]
            total = sum(m.total.values()) if name == "all tables" else m.total[name]
            cells += [common.size(one), common.size(total), common.size(total / m.days)]
        size_table.add(f"**{name}**" if name == "all tables" else name, *cells)
    size_table.notes.append(
        "one played day: what the ticks of one business day left in each table, counted before autovacuum "
        "reuses the dead versions that each tick's updates of the day's runs and evaluation leave; the store: "
        f"{days} business days as the monitor keeps them (snapshots included), so per business day = "
        "the store ÷ the days it spans"
    )
    for m in results:
        size_table.notes.append(
            f"{m.label}: {m.ticks} ticks played; the store holds {m.rows['batch_execution_logs']:,} runs, "
            f"{m.rows['batch_monitoring_alerts']:,} alerts, {m.rows['batch_source_snapshots']:,} snapshots"
        )
    purge = section.table(
        "Purge (at revision 0002)",
        [
            "workflow",
            f"daily: housekeeping at the next day's first tick (1 day of {days})",
            "rows deleted",
            f"all {days - 1} days left at once (repository.purge)",
            "rows deleted",
        ],
    )
    for m in results:
        purge.add(
            m.label,
            common.ms(m.daily_purge_s),
            f"{sum(m.daily_purged.values()):,}",
            common.ms(m.full_purge_s),
            f"{sum(m.full_purged.values()):,}",
        )
    for m in results:
        explain.add_to(section, f"Purge statements, {m.label}", m.plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    from benchmarks import report
    from benchmarks.run_all import quiet

    quiet()
    print(report.section_text(run(smoke=args.smoke)))


if __name__ == "__main__":
    main()
