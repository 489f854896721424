"""Helpers of the reliability suite: a simulated CC&B, sources that fail, and store comparisons."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.support.ccb import DAY, DPDC, US_EAST, at, scenario
from tests.support.connections import pg_connection_json

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.sender import Channels
from batch_monitor.store import schema

__all__ = ["DAY", "DPDC", "US_EAST", "at", "pg_connection_json", "scenario"]

PAGE = "http://airflow.test"
SOURCE_PASSWORD = "ccb-Secr3t-pw"


def quarter_ticks(
    first: str, last: str, date: dt.date = DAY, workflow: WorkflowConfig = DPDC, every: int = 15
) -> list[dt.datetime]:
    """Ticks every ``every`` minutes from local clock ``first`` to ``last`` (inclusive) of a business day."""
    moment, end = at(first, date, workflow), at(last, date, workflow)
    moments = []
    while moment <= end:
        moments.append(moment)
        moment += dt.timedelta(minutes=every)
    return moments


def day_ticks(date: dt.date, workflow: WorkflowConfig = DPDC) -> list[dt.datetime]:
    """Every 15-minute tick of a business day, from its start to the next day's start inclusive."""
    start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
    moments = []
    while start <= end:
        moments.append(start)
        start += dt.timedelta(minutes=15)
    return moments


class Ccb:
    """A simulated CC&B (the OUAF tables in SQLite) playing one scenario day."""

    def __init__(
        self, folder: Path, name: str | simulator.Scenario, workflow: WorkflowConfig = DPDC, date: dt.date = DAY
    ) -> None:
        self.scenario = scenario(name) if isinstance(name, str) else name
        self.path = folder / f"ccb-{self.scenario.name}-{date}.sqlite"
        self.engine = sa.create_engine(f"sqlite:///{self.path}")
        simulator.create_schema(self.engine)
        self.workflow = workflow
        self.date = date

    def play(self, as_of: dt.datetime) -> None:
        simulator.play(self.engine, self.scenario, self.workflow, self.date, as_of)

    def connection_json(self) -> str:
        return json.dumps({"conn_type": "sqlite", "host": str(self.path)})

    def dispose(self) -> None:
        self.engine.dispose()


def prepare(store: sa.Engine, workflow: WorkflowConfig = DPDC, date: dt.date = DAY) -> None:
    pipeline.prepare_store(store, workflow, bd.window(date, workflow.timezone, workflow.business_day_start)[0])


def play_ticks(
    ccb: Ccb,
    store: sa.Engine,
    moments: Iterable[dt.datetime],
    channel: Channels | None = None,
    before: Callable[[dt.datetime], None] | None = None,
) -> None:
    """Play the scenario and run one real tick at each moment."""
    for as_of in moments:
        if before is not None:
            before(as_of)
        ccb.play(as_of)
        pipeline.run_tick(ccb.engine, store, ccb.workflow, as_of, channel=channel, page_url_base=PAGE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_url(port: int, user: str = "ccb_reader", password: str = SOURCE_PASSWORD, database: str = "ccb") -> str:
    return sa.URL.create(
        "postgresql+psycopg2", username=user, password=password, host="127.0.0.1", port=port, database=database
    ).render_as_string(hide_password=False)


@contextmanager
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 whose listener never answers: connections hang until the client gives up."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes handshakes; nobody ever reads or writes
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:  # accept and keep silent, so the backlog never fills
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


# --------------------------------------------------------------------------- what a store holds


def state(store: sa.Engine, *, with_seen: bool = False) -> dict[str, Any]:
    """What a user of the store would notice, without ids and wall-clock times: to compare runs."""
    a, r, o, e = schema.alerts, schema.execution_logs, schema.email_outbox, schema.alert_events
    with store.connect() as conn:
        alerts = [
            (
                x.business_date,
                x.step_id,
                x.kind,
                x.state,
                x.severity,
                x.resolution,
                x.open_count,
                x.first_seen_at,
                x.resolved_at,
            )
            + ((x.seen_count, x.last_seen_at) if with_seen else ())
            for x in conn.execute(sa.select(a))
        ]
        runs = [
            (x.batch_cd, x.batch_nbr, x.rerun_nbr, x.business_date, x.status, x.records, x.start_time, x.end_time)
            for x in conn.execute(sa.select(r))
        ]
        mails = [(x.dedupe_key.split(":", 2)[2], x.kind, x.subject) for x in conn.execute(sa.select(o))]
        events = Counter(
            (x.step_id, x.kind, x.event)
            for x in conn.execute(
                sa.select(a.c.step_id, a.c.kind, e.c.event)
                .join(e, e.c.alert_id == a.c.id)
                .where(e.c.actor == "monitor")
            )
        )
    return {
        "alerts": sorted(alerts, key=repr),
        "runs": sorted(runs, key=repr),
        "mails": sorted(mails),
        "events": events,
    }


def alert_rows(store: sa.Engine, **where: Any) -> list[dict[str, Any]]:
    t = schema.alerts
    with store.connect() as conn:
        query = sa.select(t).where(*(t.c[k] == v for k, v in where.items())).order_by(t.c.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def events_of(store: sa.Engine, alert_id: int) -> list[str]:
    e = schema.alert_events
    with store.connect() as conn:
        return list(conn.execute(sa.select(e.c.event).where(e.c.alert_id == alert_id).order_by(e.c.id)).scalars())


def outbox_rows(store: sa.Engine) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [
            dict(r) for r in conn.execute(sa.select(schema.email_outbox).order_by(schema.email_outbox.c.id)).mappings()
        ]


def count(store: sa.Engine, table: sa.Table) -> int:
    with store.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def local(moment: dt.datetime, workflow: WorkflowConfig = DPDC) -> str:
    """'14:30' — a UTC moment as the workflow's local clock time."""
    return bd.to_utc(moment).in_timezone(workflow.timezone).strftime("%H:%M")


def store_digest(store: sa.Engine) -> str:
    """A fingerprint of every table of the store (rows and content)."""
    digest = hashlib.sha256()
    with store.connect() as conn:
        for table in schema.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digest.update(f"{table.name}:{len(rows)}:{sorted(map(repr, rows))}".encode())
        tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
    digest.update(str(tables).encode())
    return digest.hexdigest()
