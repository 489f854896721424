"""The DPDC description's days through the real pipeline, against the shipped thresholds of the steps
it speaks of (the tests' copy in tests/data/workflows/description): its healthy morning raises
nothing and mails nothing; its two alerts are still raised (a WARNING, and a CRITICAL mailed once).

CC&B is the simulator in SQLite, the store a real PostgreSQL database, mail a real SMTP server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.mail import MailServer
from tests.support.workflows import WORKFLOWS_DIR, scenario

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig, load_workflow
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.store import repository, schema

pytestmark = pytest.mark.e2e

DAY = dt.date(2026, 11, 24)
DESCRIBED: WorkflowConfig = load_workflow(WORKFLOWS_DIR / "description" / "dpdc_ami.yaml")


def local(clock: str) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    return bd.at_clock(DAY, dt.time(hour, minute), DESCRIBED.timezone, DESCRIBED.business_day_start)


def play(name: str, until: str, store: sa.Engine, tmp_path: Path, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every 15-minute tick of the scenario's day up to ``until`` (and the ``extra`` moments); the alerts."""
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    played = scenario(name)
    start = bd.window(DAY, DESCRIBED.timezone, DESCRIBED.business_day_start)[0]
    moments = sorted({start + dt.timedelta(minutes=15 * i) for i in range(97)} | {local(c) for c in extra})
    pipeline.prepare_store(store, DESCRIBED, start)
    for as_of in [m for m in moments if m <= local(until)]:
        simulator.play(source, played, DESCRIBED, DAY, as_of)
        pipeline.run_tick(source, store, DESCRIBED, as_of, channel=SmtpChannel())
    source.dispose()
    with store.connect() as conn:
        rows = conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_the_healthy_morning_raises_nothing_and_mails_nothing(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    """CM-DMRU 05:03-07:15 (2h 12m, RPS 125.3) complete, D1-IMD from 07:20 at RPS 89.2."""
    alerts = play("description_morning", "09:00", store, tmp_path, extra=("07:15", "07:20", "07:35"))
    assert [(a["kind"], a["step_id"], a["severity"]) for a in alerts] == []
    assert mail_server.received == []
    with store.connect() as conn:
        ev = repository.load_evaluation(conn, DESCRIBED.workflow_id, DAY)
    assert ev is not None
    first_reads = next(s for s in ev.steps if s.step_id == "CM-DMRU")
    assert (first_reads.status.value, first_reads.start, first_reads.end) == (
        "complete",
        local("05:03"),
        local("07:15"),
    )
    assert first_reads.rps == pytest.approx(125.3, abs=0.05)


def test_d1_imd_running_4h_23m_at_rps_12_3_is_a_warning_and_mails_nothing(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    alerts = play("description_slow_imd", "11:43", store, tmp_path, extra=("11:43",))
    assert {(a["kind"], a["step_id"], a["severity"]) for a in alerts} == {
        ("LONG_RUNNING", "D1-IMD", "WARNING"),
        ("LOW_THROUGHPUT", "D1-IMD", "WARNING"),
    }
    assert mail_server.received == []
    with store.connect() as conn:
        ev = repository.load_evaluation(conn, DESCRIBED.workflow_id, DAY)
    assert ev is not None and ev.as_of == local("11:43")
    [long] = [f for f in ev.findings if f.kind.value == "LONG_RUNNING"]
    assert long.title == "D1-IMD running 4h 23m, expected 30m, RPS 12.3 (threshold 20)"


def test_c1_ppbtr_failing_at_2_30_pm_is_critical_and_mailed_once(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    alerts = play("description_failure", "15:30", store, tmp_path)
    assert [(a["kind"], a["step_id"], a["severity"], a["state"]) for a in alerts] == [
        ("FAILED", "C1-PPBTR", "CRITICAL", "open")
    ]
    assert alerts[0]["title"].startswith("C1-PPBTR failed at 14:30 — ORA-12545")
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert subjects == ["[CRITICAL] C1-PPBTR failed — dpdc_ami business day 2026-11-24"]
