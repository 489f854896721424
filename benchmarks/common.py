"""What every benchmark shares: databases on a real PostgreSQL, query counting, timing, the report.

PostgreSQL is the server named by ``BATCH_MONITOR_BENCH_PG`` (else ``BATCH_MONITOR_TEST_PG``,
else postgres@127.0.0.1:5432), or an embedded one from ``pgserver`` where none answers, as in
the tests. Every benchmark works in databases of its own, dropped when it ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
_embedded: Any = None


def _reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def admin_url() -> str:
    """URL of a maintenance database on the PostgreSQL server the benchmarks use."""
    global _embedded
    url = os.environ.get("BATCH_MONITOR_BENCH_PG") or os.environ.get("BATCH_MONITOR_TEST_PG") or DEFAULT_ADMIN_URL
    if _reachable(url):
        return url
    if _embedded is None:
        import pgserver  # embedded PostgreSQL, only where no server answers

        data = Path(tempfile.mkdtemp(prefix="bm-bench-pgdata-"))
        _embedded = pgserver.get_server(data, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(_embedded.get_uri()).replace("postgresql://", "postgresql+psycopg2://", 1)


@contextlib.contextmanager
def database(prefix: str, keep: bool = False) -> Iterator[str]:
    """A new, empty database for the block; dropped afterwards unless ``keep``."""
    admin = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if not keep:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


class QueryCounter:
    """Counts (and times) the statements sent on some engines (``before/after_cursor_execute``)."""

    def __init__(self, *engines: sa.Engine) -> None:
        self.engines = engines
        self.count = 0
        self.seconds: dict[str, list[float]] = {}  # first line of the statement → durations
        self.counting = True

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not self.counting:
            return
        self.count += 1
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "bench_started" not in conn.info:
            return  # sent while paused
        elapsed = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        self.seconds.setdefault(statement_label(statement), []).append(elapsed)

    def __enter__(self) -> QueryCounter:
        for engine in self.engines:
            sa.event.listen(engine, "before_cursor_execute", self._before)
            sa.event.listen(engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self._before)
            sa.event.remove(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Statements sent inside are neither counted nor timed (the benchmark's own setup)."""
        self.counting = False
        try:
            yield
        finally:
            self.counting = True

    def slowest(self, n: int) -> list[tuple[str, int, float]]:
        """(statement, times run, total seconds) of the ``n`` statements that took longest in all."""
        totals = [(label, len(times), sum(times)) for label, times in self.seconds.items()]
        return sorted(totals, key=lambda item: -item[2])[:n]


def statement_label(statement: str) -> str:
    """A statement's first meaningful words: the SQL file's comment line, or the verb and table."""
    lines = [line.strip() for line in statement.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("--"):
        return lines[0][2:].strip()[:70]
    words = " ".join(lines[0].split()[:4])
    return words[:70]


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` holds the seconds the block took."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def growth_exponent(n1: float, t1: float, n2: float, t2: float) -> float:
    """k in t ∝ n^k between two sizes: log(t2/t1) / log(n2/n1) (1 = linear)."""
    if min(n1, n2, t1, t2) <= 0 or n1 == n2:
        return math.nan
    return math.log(t2 / t1) / math.log(n2 / n1)


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.1f} ms"


def secs(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds:,.2f} s"


def size(num_bytes: float) -> str:
    if num_bytes < 1024:
        return f"{num_bytes:,.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        num_bytes /= 1024
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:,.1f} {unit}"
    return f"{num_bytes:,.1f} GiB"  # pragma: no cover


def ratio(value: float, reference: float) -> str:
    if math.isnan(value) or math.isnan(reference) or reference <= 0:
        return "—"
    return f"{value / reference:.2f}×"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass
class Table:
    """One table of figures in the report."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) for i, c in enumerate(self.columns)]
        lines = [self.title, "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in self.rows]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class Section:
    """One benchmark's results: its tables, and whether each target was met."""

    name: str
    tables: list[Table] = field(default_factory=list)
    targets: list[tuple[str, bool, str]] = field(default_factory=list)  # (target, met, detail)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    details: list[tuple[str, str]] = field(default_factory=list)  # (title, preformatted text): RESULTS.md only

    def table(self, title: str, columns: list[str]) -> Table:
        table = Table(title, columns)
        self.tables.append(table)
        return table

    def target(self, what: str, met: bool, detail: str) -> None:
        self.targets.append((what, met, detail))


def _command(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    pg = ""
    with contextlib.suppress(Exception):
        engine = sa.create_engine(admin_url())
        with engine.connect() as conn:
            pg = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
        engine.dispose()
    import airflow

    chromium = _command(["/usr/bin/chromium", "--version"]) if Path("/usr/bin/chromium").exists() else "not installed"
    return {
        "host": platform.node(),
        "cpu": f"{cpu or platform.processor()} × {os.cpu_count()} cores",
        "memory": memory,
        "os": f"{platform.system()} {platform.release()} ({platform.platform(terse=True)})",
        "python": sys.version.split()[0],
        "postgresql": pg,
        "airflow": airflow.__version__,
        "sqlalchemy": sa.__version__,
        "chromium": chromium,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
