"""EXPLAIN (ANALYZE, BUFFERS) of the statements the real code sends, before and after migration 0002.

The code under study runs inside a transaction that is rolled back; every statement it sent is
captured with its parameters, then explained, in order, inside another transaction that is rolled
back too (EXPLAIN ANALYZE of a DELETE deletes). "Before" is the store taken down to revision 0001
by the real Alembic downgrade, "after" is the store brought back up to head.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2.errors
import sqlalchemy as sa

from batch_monitor.store.migrate import current, downgrade, migrate

Work = Callable[[sa.Connection], object]
BEFORE_REVISION = "0001"


@dataclass
class Plan:
    """One statement's plan."""

    label: str
    statement: str
    lines: list[str]

    @property
    def execution_ms(self) -> float:
        for line in reversed(self.lines):
            match = re.match(r"\s*Execution Time: ([\d.]+) ms", line)
            if match:
                return float(match.group(1))
        return float("nan")

    def text(self, width: int = 160) -> str:
        keep = [line for line in self.lines if not line.strip().startswith(("Planning:", "Buffers: shared hit"))]
        return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in keep)


def capture(engine: sa.Engine, work: Work) -> list[tuple[str, Any]]:
    """Run ``work`` in a rolled-back transaction; the (statement, parameters) it sent."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters))

    with engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", record)
        transaction = conn.begin()
        try:
            work(conn)
        finally:
            transaction.rollback()
            sa.event.remove(conn, "before_cursor_execute", record)
    return sent


def explain(engine: sa.Engine, statements: list[tuple[str, Any]], labels: list[str]) -> list[Plan]:
    """EXPLAIN ANALYZE each statement in order, in one transaction that is rolled back."""
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for (statement, parameters), label in zip(statements, labels, strict=True):
            cursor.execute("SAVEPOINT explained")
            try:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            except psycopg2.errors.UndefinedTable as missing:
                # a statement that reads a table a later revision added (the route's one statement
                # of batch-health reads batch_monitor_ticks, 0007): it has no plan at 0001
                cursor.execute("ROLLBACK TO SAVEPOINT explained")
                plans.append(Plan(label, statement, [f"(no plan at this revision: {missing.pgerror.splitlines()[0]})"]))
                continue
            plans.append(Plan(label, statement, [row[0] for row in cursor.fetchall()]))
        raw.rollback()
    finally:
        raw.close()
    return plans


def before_and_after(
    engine: sa.Engine, cases: dict[str, Work], pick: Callable[[str], bool] = lambda statement: True
) -> dict[str, tuple[list[Plan], list[Plan]]]:
    """Plans of each case's statements (those ``pick`` keeps) at revision 0001 and at head."""
    head = current(engine)
    captured = {name: [s for s in capture(engine, work) if pick(s[0])] for name, work in cases.items()}
    labels = {name: [f"{name} #{i + 1}" for i in range(len(stmts))] for name, stmts in captured.items()}
    after = {name: explain(engine, stmts, labels[name]) for name, stmts in captured.items()}
    downgrade(engine, BEFORE_REVISION)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
        before = {name: explain(engine, stmts, labels[name]) for name, stmts in captured.items()}
    finally:
        migrate(engine, head or "head")
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    return {name: (before[name], after[name]) for name in cases}


def _scan(plan: Plan) -> str:
    """The plan's access paths in a few words (which index or a sequential scan)."""
    found = []
    for line in plan.lines:
        match = re.search(
            r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?(?: using (\w+))? on (\w+)", line
        )
        if match:
            kind, index, table = match.groups()
            found.append(f"{kind} {index}" if index else f"{kind} {table}")
    return ", ".join(dict.fromkeys(found)) or "—"


def add_to(section: Any, title: str, results: dict[str, tuple[list[Plan], list[Plan]]], keep: float = 0.0) -> None:
    """A before/after table in ``section`` and every plan in its details (statements under ``keep`` ms left out)."""
    table = section.table(
        title, ["statement", "before (0001): time", "before: access", "after (0002): time", "after: access", "speed-up"]
    )
    texts = []
    for name, (before, after) in results.items():
        for old, new in zip(before, after, strict=True):
            if max(old.execution_ms, new.execution_ms) < keep:
                continue
            first = " ".join(new.statement.split())[:60]
            speedup = old.execution_ms / new.execution_ms if new.execution_ms > 0 else float("nan")
            ratio = "—" if speedup != speedup else f"{speedup:.1f}×"  # NaN: no plan at 0001
            table.add(
                f"{name}: `{first}…`",
                "—" if old.execution_ms != old.execution_ms else f"{old.execution_ms:.2f} ms",
                _scan(old),
                f"{new.execution_ms:.2f} ms",
                _scan(new),
                ratio,
            )
            texts.append(f"--- {name} — before (revision 0001)\n{old.text()}\n")
            texts.append(f"--- {name} — after (revision 0002)\n{new.text()}\n")
    section.details.append((f"{title}: EXPLAIN (ANALYZE, BUFFERS) before and after", "\n".join(texts)))
