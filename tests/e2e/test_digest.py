"""The daily digest through the real pipeline: a simulated business day tick by tick (CC&B in SQLite,
the store on its own PostgreSQL database), mail to a real SMTP server and Slack to a local HTTP
server. The tests' dpdc_ami workflow, with the digest on and both channels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import create_database, drop_database
from tests.support.mail import MailServer
from tests.support.slack import FakeSlack
from tests.support.workflows import load_test_workflow

from batch_monitor import business_day as bd
from batch_monitor import pipeline, simulator
from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.channels import MailDelivery, SmtpChannel
from batch_monitor.notify.slack import SlackChannel
from batch_monitor.settings import scenarios_dir
from batch_monitor.store import schema
from batch_monitor.store.migrate import migrate

DAY = dt.date(2026, 11, 24)
BASE = load_test_workflow("dpdc_ami")  # its copy has no digest; these tests turn it on
DIGEST_WORKFLOW = BASE.model_copy(update={"digest_at": dt.time(23, 0), "channels": ["email", "slack"]})


def ticks(workflow: WorkflowConfig) -> list[dt.datetime]:
    start, end = bd.window(DAY, workflow.timezone, workflow.business_day_start)
    moments, moment = [], start
    while moment <= end:
        moments.append(moment)
        moment += dt.timedelta(minutes=15)
    return moments


def local(moment: dt.datetime, workflow: WorkflowConfig) -> str:
    return f"{bd.to_utc(moment).in_timezone(bd.zone(workflow.timezone)):%H:%M}"


@dataclass
class Played:
    store: sa.Engine
    mails: MailServer
    slack: FakeSlack
    digest_ticks: list[dt.datetime]

    def digest_mails(self) -> list[str]:
        found = []
        for received in self.mails.received:
            if str(received.message["Subject"]).startswith("[DIGEST]"):
                part = received.message.get_body(preferencelist=("plain",))
                found.append(part.get_content() if part is not None else "")
        return found

    def digest_posts(self) -> list[dict[str, object]]:
        return [p for p in self.slack.posts() if str(p["text"]).startswith(("INFO: Daily digest", "WARNING: Daily"))]


def play(workflow: WorkflowConfig, store: sa.Engine, tmp_path: Path, replays: int) -> list[dt.datetime]:
    """Play the failure day; every tick runs ``replays`` times, then the whole day is replayed once more."""
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    simulator.create_schema(source)
    scenario = simulator.load_scenario(scenarios_dir() / "failure.yaml")
    pipeline.prepare_store(store, workflow, ticks(workflow)[0])
    channels = {"email": MailDelivery(SmtpChannel()), "slack": SlackChannel()}
    queued_at = []
    for as_of in ticks(workflow):
        simulator.play(source, scenario, workflow, DAY, as_of)
        for _ in range(replays):
            result = pipeline.run_tick(source, store, workflow, as_of, channel=channels)
            queued_at += [as_of] * result.digests
    for as_of in ticks(workflow):  # the day cleared and replayed from its start
        result = pipeline.run_tick(source, store, workflow, as_of, channel=channels)
        queued_at += [as_of] * result.digests
    source.dispose()
    return queued_at


@pytest.fixture(scope="module")
def environment(pg_admin_url: str) -> Iterator[tuple[MailServer, FakeSlack]]:
    mails, slack = MailServer(), FakeSlack()
    mails.start()
    slack.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mails.connection_json())
        patch.setenv("AIRFLOW_CONN_BATCH_MONITOR_SLACK", slack.webhook_connection())
        yield mails, slack
    mails.stop()
    slack.stop()


def _played(
    workflow: WorkflowConfig, pg_admin_url: str, environment: tuple[MailServer, FakeSlack], tmp: Path
) -> Iterator[Played]:
    mails, slack = environment
    mails.received.clear()
    slack.requests.clear()
    url = create_database(pg_admin_url)
    store = sa.create_engine(url)
    migrate(store)
    yield Played(store, mails, slack, play(workflow, store, tmp, replays=2))
    store.dispose()
    drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def failure_day(
    pg_admin_url: str, environment: tuple[MailServer, FakeSlack], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Played]:
    """The failure day with the digest at 23:00: the chain completes first, so it goes then."""
    yield from _played(DIGEST_WORKFLOW, pg_admin_url, environment, tmp_path_factory.mktemp("digest"))


@pytest.mark.e2e
def test_the_digest_goes_once_per_channel_whatever_the_replays(failure_day: Played) -> None:
    assert len(failure_day.digest_ticks) == 1
    assert len(failure_day.digest_mails()) == 1
    assert len(failure_day.digest_posts()) == 1
    with failure_day.store.connect() as conn:
        t = schema.email_outbox
        rows = conn.execute(sa.select(t.c.channel, t.c.dedupe_key).where(t.c.kind == "digest")).all()
    assert sorted(rows) == [("email", "digest:dpdc_ami:2026-11-24"), ("slack", "digest:dpdc_ami:2026-11-24")]


@pytest.mark.e2e
def test_the_digest_goes_when_the_chain_completes_before_digest_at(failure_day: Played) -> None:
    [tick] = failure_day.digest_ticks
    with failure_day.store.connect() as conn:
        t = schema.execution_logs
        last_end = conn.execute(sa.select(sa.func.max(t.c.end_time)).where(t.c.business_date == DAY)).scalar_one()
    assert last_end <= tick < last_end + dt.timedelta(minutes=15)  # the first tick that saw the chain complete
    assert local(tick, DIGEST_WORKFLOW) < "23:00"


@pytest.mark.e2e
def test_the_digest_holds_each_step_the_days_alerts_and_the_chain_against_its_deadline(failure_day: Played) -> None:
    [text] = failure_day.digest_mails()
    for step in BASE.steps:
        assert step.batch_code in text
    assert "Chain: finished at " in text and "before its 22:00 deadline" in text
    ppbtr = next(line for line in text.splitlines() if line.startswith("C1-PPBTR"))
    assert "complete" in ppbtr and "310,000" in ppbtr and "2h 45m (expected)" in ppbtr  # both runs
    dmru = next(line for line in text.splitlines() if line.startswith("CM-DMRU"))
    assert "05:00" in dmru and "05:48" in dmru and "48m" in dmru and "50m (expected)" in dmru and "-4%" in dmru
    [alert] = [line for line in text.splitlines() if line.strip().startswith("- CRITICAL FAILED C1-PPBTR")]
    assert "ORA-12545" in alert and "resolved by itself at 1" in alert
    [post] = failure_day.digest_posts()
    blocks = post["blocks"]
    assert isinstance(blocks, list)
    table = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b)
    assert "CM-DMRU" in table and "BILLRESTSMS" in table and "CRITICAL FAILED C1-PPBTR" in table


@pytest.fixture(scope="module")
def noon_day(
    pg_admin_url: str, environment: tuple[MailServer, FakeSlack], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Played]:
    """The same day with the digest at 12:00, before the chain completes."""
    workflow = DIGEST_WORKFLOW.model_copy(update={"digest_at": dt.time(12, 0), "channels": ["email"]})
    yield from _played(workflow, pg_admin_url, environment, tmp_path_factory.mktemp("noon"))


@pytest.mark.e2e
def test_the_digest_goes_at_digest_at_judged_as_of_the_tick_when_the_chain_is_not_done(noon_day: Played) -> None:
    [tick] = noon_day.digest_ticks
    assert local(tick, DIGEST_WORKFLOW) == "12:00"
    [text] = noon_day.digest_mails()
    assert "Chain: not finished (running) as of 12:00; its 22:00 deadline is in 10h 00m" in text
    assert "No alerts this business day." in text
    assert noon_day.digest_posts() == []  # this workflow's channels are mail only
