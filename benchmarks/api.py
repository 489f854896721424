"""Part 2 — API latency: the plugin's endpoints next to Airflow's own, in one real api-server.

The store holds 60 days of DPDC and of a 500-step workflow (fixture.py). A real
``airflow api-server`` (2 workers, PostgreSQL metadata database, SimpleAuthManager) serves both
the plugin's API and Airflow's. The load comes from another process (loadgen.py) on 127.0.0.1:
a fixed number of requests per endpoint at each concurrency level, after a few warm-up requests.
Every endpoint is compared with GET /api/v2/dags measured in the same server in the same run.
Before the server starts, the statements behind the endpoints are explained at revision 0001
and at 0002 (explain.py).

    python -m benchmarks.api [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass

import sqlalchemy as sa

from batch_monitor.api import queries
from benchmarks import ROOT, airflow_server, common, explain, fixture
from benchmarks.common import Section

P99_TARGET_S = 0.200
REFERENCE = "GET /api/v2/dags"


@dataclass(frozen=True)
class Load:
    levels: tuple[int, ...]
    requests: int
    warmup: int
    time_limit_s: float


FULL = Load(levels=(1, 4, 8), requests=200, warmup=10, time_limit_s=90)
SMOKE = Load(levels=(1, 2), requests=8, warmup=2, time_limit_s=20)


@dataclass
class Measured:
    name: str
    data: str  # the workflow whose data is read, "both", or "airflow"
    level: int
    latencies: list[float]
    body_bytes: list[int]
    statuses: list[int]

    def pct(self, p: float) -> float:
        return common.percentile(self.latencies, p)


def _alert_with_events(store: sa.Engine, workflow_id: str) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT a.id FROM batch_monitoring_alerts a JOIN batch_alert_events e ON e.alert_id = a.id "
                    "WHERE a.workflow_id = :w GROUP BY a.id ORDER BY count(*) DESC, a.id DESC LIMIT 1"
                ),
                {"w": workflow_id},
            ).scalar_one()
        )


def targets(store: fixture.HistoryStore, engine: sa.Engine) -> list[tuple[str, str, str]]:
    """(name, data, path) of every endpoint measured."""
    api = "/batch-monitor/api/v1"
    out = [
        (REFERENCE, "airflow", "/api/v2/dags"),
        ("GET /api/v2/monitor/health", "airflow", "/api/v2/monitor/health"),
        ("workflows", "both", f"{api}/workflows"),
        ("active-alerts (all workflows, as the page asks)", "both", f"{api}/active-alerts"),
    ]
    for workflow_id in ("dpdc_ami", store.big.workflow_id):
        data = workflow_id
        day = store.today[workflow_id].isoformat()
        query = f"workflow={workflow_id}&date={day}"
        out += [
            ("active-alerts", data, f"{api}/active-alerts?workflow={workflow_id}"),
            ("batch-timeline", data, f"{api}/batch-timeline?{query}"),
            ("batch-health", data, f"{api}/batch-health?{query}"),
            ("batch-logs (first page)", data, f"{api}/batch-logs?workflow={workflow_id}&limit=50"),
            ("alerts/{id}", data, f"{api}/alerts/{_alert_with_events(engine, workflow_id)}"),
        ]
    return out


def api_query_cases(store: fixture.HistoryStore) -> dict[str, explain.Work]:
    """The store reads behind the endpoints, called as the routes call them."""
    now = dt.datetime.now(dt.UTC)
    cases: dict[str, explain.Work] = {}
    for workflow_id in ("dpdc_ami", store.big.workflow_id):
        data = workflow_id
        today = store.today[workflow_id]
        week = today - dt.timedelta(days=6)
        only = queries.LogFilter(workflow_ids=[workflow_id])
        cases[f"batch-logs, {data}"] = lambda c, only=only: queries.batch_logs(c, only, limit=50)  # type: ignore[misc]
        cases[f"batch-health, {data}"] = lambda c, w=workflow_id, t=today, f=week: (  # type: ignore[misc]
            queries.step_health(c, w, f, t),
            queries.health_probe(c, w, f, t, now),
            queries.recent_failures(c, w, f, t),
        )
    return cases


def _run_load(server: airflow_server.AirflowServer, paths: list[tuple[str, str, str]], load: Load) -> list[Measured]:
    plan = {
        "base_url": server.base_url,
        "token": server.token(),
        "targets": [{"name": f"{data}|{name}", "path": path} for name, data, path in paths],
        "levels": list(load.levels),
        "requests": load.requests,
        "warmup": load.warmup,
        "time_limit_s": load.time_limit_s,
    }
    limit = len(paths) * len(load.levels) * (load.time_limit_s + 30)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=limit,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    measured = []
    for result in json.loads(done.stdout)["results"]:
        data, name = result["name"].split("|", 1)
        if result["statuses"] != [200]:
            raise RuntimeError(f"{name} ({result['path']}) answered {result['statuses']}:\n{server.log_tail()}")
        measured.append(Measured(name, data, result["level"], result["latencies"], result["bytes"], result["statuses"]))
    return measured


def _report(section: Section, measured: list[Measured], load: Load) -> None:
    reference = {m.level: m for m in measured if m.name == REFERENCE}
    for level in load.levels:
        table = section.table(
            f"Latency at concurrency {level} ({load.requests} requests per endpoint; ratio = this ÷ {REFERENCE})",
            ["endpoint", "data", "p50", "p95", "p99", "p50 ratio", "p95 ratio", "p99 ratio", "body"],
        )
        ref = reference[level]
        for m in (m for m in measured if m.level == level):
            table.add(
                m.name,
                m.data,
                common.ms(m.pct(50)),
                common.ms(m.pct(95)),
                common.ms(m.pct(99)),
                common.ratio(m.pct(50), ref.pct(50)),
                common.ratio(m.pct(95), ref.pct(95)),
                common.ratio(m.pct(99), ref.pct(99)),
                common.size(common.median([float(b) for b in m.body_bytes])),
            )
    plugin = [m for m in measured if m.data != "airflow"]
    dpdc = [m for m in plugin if m.data == "dpdc_ami"]
    _p95_target(section, "DPDC's endpoints (workflow=dpdc_ami)", dpdc, reference)
    _p95_target(section, "every endpoint (the 500-step workflow's and the all-workflow calls too)", plugin, reference)
    slowest = max(dpdc, key=lambda m: m.pct(99))
    shared = max((m for m in plugin if m.data == "both"), key=lambda m: m.pct(99))
    section.target(
        f"p99 < {P99_TARGET_S * 1000:.0f} ms for the DPDC data (DPDC's endpoints, every concurrency)",
        slowest.pct(99) < P99_TARGET_S,
        f"slowest: {slowest.name} at c={slowest.level}: p99 {common.ms(slowest.pct(99))} "
        f"({common.ratio(slowest.pct(99), P99_TARGET_S)} of the target); the page's all-workflow calls, which carry "
        f"the 500-step workflow too: {shared.name} at c={shared.level}: p99 {common.ms(shared.pct(99))}",
    )


def _p95_target(section: Section, which: str, group: list[Measured], reference: dict[int, Measured]) -> None:
    def ratio(m: Measured) -> float:
        return m.pct(95) / reference[m.level].pct(95)

    worse = sorted((m for m in group if ratio(m) > 1), key=ratio, reverse=True)
    worst = max(group, key=ratio)
    detail = f"worst: {worst.name} ({worst.data}, c={worst.level}) at {ratio(worst):.2f}× of {REFERENCE}'s p95"
    if worse:
        detail = f"{len(worse)} of {len(group)} endpoint × concurrency cases above {REFERENCE}: " + "; ".join(
            f"{m.name} ({m.data}, c={m.level}) {ratio(m):.2f}×" for m in worse
        )
    section.target(f"p95 ≤ {REFERENCE}'s p95 (same server, same run): {which}", not worse, detail)


def run(smoke: bool = False) -> Section:
    load = SMOKE if smoke else FULL
    section = Section("2. API latency")
    started = time.perf_counter()
    store = fixture.shared(smoke)
    engine = sa.create_engine(store.store_url)
    try:
        plans = explain.before_and_after(engine, api_query_cases(store))
        paths = targets(store, engine)
    finally:
        engine.dispose()
    server = fixture.server(smoke)
    measured = _run_load(server, paths, load)
    section.notes.append(
        f"airflow api-server with {server.workers} workers on 127.0.0.1; metadata database on the same PostgreSQL; "
        f"store: {store.history_days} days of dpdc_ami and of {store.big.workflow_id} before today "
        f"(store built in {store.build_s:,.0f} s)"
    )
    _report(section, measured, load)
    explain.add_to(section, "Statements behind batch-logs and batch-health", plans)
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    from benchmarks import report
    from benchmarks.run_all import quiet

    quiet()
    try:
        print(report.section_text(run(smoke=args.smoke)))
    finally:
        fixture.cleanup()


if __name__ == "__main__":
    main()
