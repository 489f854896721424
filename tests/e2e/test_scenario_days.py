"""Whole simulated business days, tick by tick (every 15 minutes), through the real pipeline.

CC&B is the simulator's OUAF tables in SQLite; the store is a real PostgreSQL database; mails
go through the SMTP provider's hook to a real aiosmtpd server. Each scenario file lists the
alerts it must raise; the day must raise exactly those, each once, and mail CRITICAL ones once
when they open and once when they clear.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database
from tests.support.mail import MailServer
from tests.support.workflows import load_test_workflow

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate

DAY = dt.date(2026, 11, 24)
WORKFLOW: WorkflowConfig = load_test_workflow("dpdc_ami")


def ticks(workflow: WorkflowConfig, date: dt.date, every: dt.timedelta = dt.timedelta(minutes=15)) -> list[dt.datetime]:
    """Every tick of the business day, from its start to the start of the next day inclusive."""
    start, end = bd.window(date, workflow.timezone, workflow.business_day_start)
    moments, moment = [], start
    while moment <= end:
        moments.append(moment)
        moment = moment + every
    return moments


@dataclass
class PlayedDay:
    store: sa.Engine
    mails: MailServer
    scenario: simulator.Scenario

    def alerts(self) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def identities(self) -> set[tuple[str, str]]:
        return {(a["kind"], a["step_id"]) for a in self.alerts() if a["business_date"] == DAY}

    def subjects(self) -> list[str]:
        return [str(m.message["Subject"]) for m in self.mails.received]

    def bodies(self) -> list[str]:
        texts = []
        for received in self.mails.received:
            part = received.message.get_body(preferencelist=("plain",))
            texts.append(part.get_content() if part is not None else "")
        return texts


def play_day(
    name: str,
    store: sa.Engine,
    mails: MailServer,
    tmp_path: Path,
    before_tick: Callable[[dt.datetime], None] | None = None,
) -> PlayedDay:
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(scenarios_dir() / f"{name}.yaml")
    pipeline.prepare_store(store, WORKFLOW, bd.window(DAY, WORKFLOW.timezone, WORKFLOW.business_day_start)[0])
    channel = SmtpChannel()
    for as_of in ticks(WORKFLOW, DAY):
        if before_tick:
            before_tick(as_of)
        simulator.play(source, scenario, WORKFLOW, DAY, as_of)
        pipeline.run_tick(source, store, WORKFLOW, as_of, channel=channel)
    source.dispose()
    return PlayedDay(store=store, mails=mails, scenario=scenario)


# low_volume's UNUSUAL_VOLUME needs a learned baseline (baseline_min_days of history), which these
# days without history cannot have: tests/e2e/test_foresight_history.py plays it over 21 days of CC&B history
NEEDS_HISTORY = {"low_volume"}
SCENARIOS = sorted(p.stem for p in scenarios_dir().glob("*.yaml") if p.stem not in NEEDS_HISTORY)  # all dpdc_ami


@pytest.fixture(scope="module", params=SCENARIOS)
def played(
    request: pytest.FixtureRequest, pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlayedDay]:
    """Each scenario's whole day, played once for all the tests that look at it."""
    url = create_database(pg_admin_url)
    store = sa.create_engine(url)
    migrate(store)
    mails = MailServer()
    mails.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mails.connection_json())
        yield play_day(request.param, store, mails, tmp_path_factory.mktemp(request.param))
    mails.stop()
    store.dispose()
    drop_database(pg_admin_url, url)


@pytest.mark.e2e
def test_each_scenario_raises_exactly_its_expected_alerts_once_each(played: PlayedDay) -> None:
    assert played.identities() == played.scenario.expected
    assert len(played.alerts()) == len(played.identities())  # one row per condition, however many ticks


@pytest.mark.e2e
def test_critical_alerts_mail_once_when_opened_and_once_when_cleared(played: PlayedDay) -> None:
    critical = [a for a in played.alerts() if a["severity"] == "CRITICAL"]
    subjects = played.subjects()
    # reminders of an unacknowledged CRITICAL alert (every 2h) are not openings
    opened = [s for s in subjects if not s.startswith(("[RESOLVED]", "[REMINDER]"))]
    recovered = [s for s in subjects if s.startswith("[RESOLVED]")]
    assert len(opened) == len(critical)
    assert len(recovered) == sum(1 for a in critical if a["state"] == "resolved")
    for alert in played.alerts():
        if alert["kind"] not in ("OUT_OF_ORDER", "EMPTY_RUN"):
            assert alert["state"] == "resolved", alert["title"]  # every condition of the day cleared by its end


@pytest.mark.e2e
@pytest.mark.parametrize("played", ["failure"], indirect=True)
def test_the_failure_day_mails_the_ora_error_once_and_recovers_after_the_rerun(played: PlayedDay) -> None:
    [alert] = played.alerts()
    assert (alert["kind"], alert["step_id"], alert["severity"]) == ("FAILED", "C1-PPBTR", "CRITICAL")
    assert alert["resolution"] == "cleared" and alert["seen_count"] > 1
    carrying = [b for b in played.bodies() if "ORA-12545" in b]
    assert len(carrying) == 1
    [first, recovery] = played.subjects()
    assert "C1-PPBTR" in first and "CRITICAL" in first and "2026-11-24" in first
    assert recovery.startswith("[RESOLVED]") and "C1-PPBTR" in recovery
    with played.store.connect() as conn:
        runs = conn.execute(
            sa.select(
                schema.execution_logs.c.batch_cd, schema.execution_logs.c.rerun_nbr, schema.execution_logs.c.status
            )
            .where(schema.execution_logs.c.batch_cd == "C1-PPBTR")
            .order_by(schema.execution_logs.c.rerun_nbr)
        ).all()
        summary = (
            conn.execute(
                sa.select(schema.performance_summary).where(schema.performance_summary.c.batch_cd == "C1-PPBTR")
            )
            .mappings()
            .one()
        )
    assert [(r.rerun_nbr, r.status) for r in runs] == [(0, "error"), (1, "complete")]
    assert (summary["runs"], summary["failures"], summary["success_rate"]) == (2, 1, 0.5)


@pytest.mark.e2e
@pytest.mark.parametrize("played", ["at_risk"], indirect=True)
def test_the_at_risk_day_warns_before_the_deadline_and_the_missed_deadline_names_that_warning(
    played: PlayedDay,
) -> None:
    by_kind = {a["kind"]: a for a in played.alerts() if a["step_id"] == "C1-PPBTR"}
    risk, missed = by_kind["AT_RISK"], by_kind["MISSED_DEADLINE"]
    local = lambda clock: bd.at_clock(DAY, clock, WORKFLOW.timezone, WORKFLOW.business_day_start)  # noqa: E731
    # late at the 14:30 tick, raised at the 14:45 tick: 2h15m before the 17:00 deadline
    assert risk["first_seen_at"] == local(dt.time(14, 45)) and risk["since"] == local(dt.time(14, 30))
    assert risk["severity"] == "WARNING" and risk["resolved_at"] is not None
    assert "predicted to finish at 17:15, 15m after its 17:00 deadline; driven by C1-PPBTR" in risk["title"]
    assert missed["first_seen_at"] == local(dt.time(17, 15)) > risk["first_seen_at"]
    assert missed["details"]["was_at_risk_since"] == local(dt.time(14, 30)).isoformat()
    # the warning (WARNING) is not mailed; the breach's mail tells when the forecast warned of it
    assert not [s for s in played.subjects() if "at risk of missing" in s]
    [breach] = [
        b
        for s, b in zip(played.subjects(), played.bodies(), strict=True)
        if s.startswith("[CRITICAL] C1-PPBTR missed its deadline")
    ]
    assert "Forecast: at risk of this since 2026-11-24 14:30 +06" in breach


@pytest.mark.e2e
def test_an_smtp_outage_mid_day_loses_no_mail_and_sends_none_twice(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    local = lambda clock: bd.at_clock(DAY, clock, WORKFLOW.timezone, WORKFLOW.business_day_start)  # noqa: E731
    down_from, up_from = local(dt.time(14, 0)), local(dt.time(17, 0))

    def outage(as_of: dt.datetime) -> None:
        if as_of == down_from:
            mail_server.stop()
        if as_of == up_from:
            mail_server.start()

    played = play_day("failure", store, mail_server, tmp_path, before_tick=outage)
    # the failure (14:30) and its recovery (16:30) both happened while the server was down
    assert len(played.subjects()) == 2
    assert len(set(played.subjects())) == 2
    with store.connect() as conn:
        outbox = conn.execute(sa.select(schema.email_outbox)).mappings().all()
        events = conn.execute(sa.select(schema.alert_events.c.event)).scalars().all()
    assert all(row["sent_at"] is not None for row in outbox)
    assert all(row["attempts"] >= 1 for row in outbox)
    assert events.count("emailed") == 2 and "email_failed" in events
