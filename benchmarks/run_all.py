"""Run every benchmark, print each figure and ratio, write benchmarks/RESULTS.md.

    make bench                                  # the full run (tens of minutes on 2 cores)
    python benchmarks/run_all.py --smoke        # tiny sizes, seconds long (what CI runs)
    python benchmarks/run_all.py --only tick,store --output /tmp/results.md

PostgreSQL: BATCH_MONITOR_BENCH_PG (else BATCH_MONITOR_TEST_PG, else postgres@127.0.0.1:5432,
else an embedded server). Everything runs in throw-away databases and processes on this machine;
the load generator talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import ROOT  # puts plugins/ on sys.path

PARTS = ("tick", "api", "page", "store", "baselines")
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def quiet() -> None:
    """An Airflow home of our own, and no per-tick info logging (it would cost time and drown the figures)."""
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="bm-bench-airflow-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    for name in ("batch_monitor", "alembic", "airflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Batch Monitor benchmarks")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the scripts run, seconds long")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the report (default: benchmarks/RESULTS.md; with --smoke, nowhere)",
    )
    args = parser.parse_args(argv)
    quiet()
    from benchmarks import common, fixture, report

    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    started = time.perf_counter()
    machine = common.machine()
    print("Batch Monitor benchmarks" + (" (smoke)" if args.smoke else ""))
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print(flush=True)
    sections = []
    try:
        for part in parts:
            module = __import__(f"benchmarks.{part}", fromlist=["run"])
            load_before = os.getloadavg()[0]
            section = module.run(smoke=args.smoke)
            section.notes.append(
                f"machine load average (1 min) when this part started / ended: {load_before:.2f} / "
                f"{os.getloadavg()[0]:.2f} (2 cores; anything else running on the machine shows here)"
            )
            sections.append(section)
            print(report.section_text(section), flush=True)
    finally:
        fixture.cleanup()
    total = time.perf_counter() - started
    print(f"all benchmarks took {total:,.0f} s")
    output = args.output or (None if args.smoke else RESULTS)
    if output is not None:
        from benchmarks.time_to_alert import kept_row, write_row

        measured_apart = kept_row(output)  # `make time-to-alert` measures in a run of its own: keep its row
        output.write_text(report.markdown(machine, sections, smoke=args.smoke, total_s=total), encoding="utf-8")
        if measured_apart:
            write_row(measured_apart, output)
        print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
