"""GET /batch-monitor/metrics (Prometheus text from the store) and the dead man's switch in batch-health.

The session's api-server reads the simulated store (tests/api/monitor_env.py): its ticks finished
in March 2024, so as of the wall clock every workflow's monitor is stale until a test records a
fresh tick (the store is put back after each test).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from tests.support.monitor_env import AS_OF, METRICS_TOKEN, US_EAST_AS_OF, MonitorEnv

from batch_monitor.alerting import ACTIVE_STATES
from batch_monitor.api import queries
from batch_monitor.api.metrics import outbox_pending
from batch_monitor.constants import StepStatus
from batch_monitor.store.schema import alerts, email_outbox, execution_logs, ticks

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metrics_url(monitor: MonitorEnv) -> str:
    return f"{monitor.server.base_url}/batch-monitor/metrics"


def scrape(monitor: MonitorEnv, token: str = METRICS_TOKEN, **headers: str) -> httpx.Response:
    return httpx.get(metrics_url(monitor), headers={"Authorization": f"Bearer {token}", **headers}, timeout=30)


def samples(text: str) -> Samples:
    """Every sample by (name, sorted labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert isinstance(sample, Sample)
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def of(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def named(found: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


@pytest.fixture
def scraped(monitor: MonitorEnv) -> Samples:
    response = scrape(monitor)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def test_without_a_token_the_metrics_are_401_in_json_naming_the_variable(monitor: MonitorEnv) -> None:
    response = httpx.get(metrics_url(monitor), timeout=30)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "batch_monitor_metrics_token" in response.json()["detail"]


def test_a_wrong_scraper_token_is_401_too(monitor: MonitorEnv) -> None:
    for token in ("not-the-token", METRICS_TOKEN[:-1], METRICS_TOKEN + "x"):
        response = scrape(monitor, token)
        assert response.status_code == 401, (token, response.text)
        assert "Authorization: Bearer" in response.json()["detail"]


def test_an_airflow_token_reads_the_metrics_like_the_scraper_token(monitor: MonitorEnv) -> None:
    as_viewer = scrape(monitor, monitor.server.token("viewer1"))
    assert as_viewer.status_code == 200, as_viewer.text
    assert samples(as_viewer.text).keys() == samples(scrape(monitor).text).keys()


def test_a_scraper_asking_for_openmetrics_gets_openmetrics(monitor: MonitorEnv) -> None:
    response = scrape(monitor, Accept="application/openmetrics-text; version=1.0.0")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_step_states_and_progress_are_the_latest_evaluation(monitor: MonitorEnv, scraped: Samples) -> None:
    with monitor.store.connect() as conn:
        latest = queries.latest_business_dates(conn)
        for workflow_id in ("dpdc_ami", "us_east_settlement"):
            ev = queries.evaluation(conn, workflow_id, latest[workflow_id])
            assert ev is not None
            for step in ev.steps:
                states = {
                    s: of(scraped, "batch_monitor_step_state", workflow=workflow_id, step=step.step_id, state=s.value)
                    for s in StepStatus
                }
                assert states == {s: 1.0 if s == step.status else 0.0 for s in StepStatus}, step.step_id
            chain = {
                s: of(scraped, "batch_monitor_chain_state", workflow=workflow_id, state=s.value) for s in StepStatus
            }
            assert chain == {s: 1.0 if s == ev.chain_status else 0.0 for s in StepStatus}
            if ev.chain_finish_by is not None:
                deadline = of(scraped, "batch_monitor_chain_deadline_timestamp_seconds", workflow=workflow_id)
                assert deadline == ev.chain_finish_by.timestamp()
    # the simulated Tuesday: C1-PPBTR failed, the two before it completed, the rest waits
    dpdc_state = {
        dict(labels)["step"]: dict(labels)["state"]
        for labels, value in named(scraped, "batch_monitor_step_state").items()
        if value == 1.0 and dict(labels)["workflow"] == "dpdc_ami"
    }
    assert dpdc_state == {
        "CM-DMRU": "complete",
        "D1-IMD": "complete",
        "C1-PPBTR": "failed",
        "F1-FLUSH": "waiting",
        "CM_BSGGN": "waiting",
        "BILLRESTSMS": "waiting",
    }
    assert of(scraped, "batch_monitor_step_progress_ratio", workflow="dpdc_ami", step="CM-DMRU") == 1.0
    assert of(scraped, "batch_monitor_step_progress_ratio", workflow="dpdc_ami", step="F1-FLUSH") == 0.0
    assert of(scraped, "batch_monitor_evaluation_timestamp_seconds", workflow="dpdc_ami") == AS_OF.timestamp()


def test_each_steps_last_finished_run_gives_its_duration_and_records(monitor: MonitorEnv, scraped: Samples) -> None:
    t = execution_logs
    query = (
        sa.select(t.c.workflow_id, t.c.step_id, t.c.duration_s, t.c.records)
        .where(t.c.status.in_(("complete", "error")))
        .distinct(t.c.workflow_id, t.c.step_id)
        .order_by(t.c.workflow_id, t.c.step_id, t.c.end_time.desc().nulls_last(), t.c.id.desc())
    )
    with monitor.store.connect() as conn:
        last = {(r.workflow_id, r.step_id): (r.duration_s, float(r.records)) for r in conn.execute(query)}
    assert last, "the simulated days have finished runs"
    durations = {
        (dict(k)["workflow"], dict(k)["step"]): v
        for k, v in named(scraped, "batch_monitor_step_duration_seconds").items()
    }
    records = {
        (dict(k)["workflow"], dict(k)["step"]): v for k, v in named(scraped, "batch_monitor_step_records").items()
    }
    assert durations == {key: duration for key, (duration, _records) in last.items()}
    assert records == {key: count for key, (_duration, count) in last.items()}
    # C1-PPBTR's last finished run is the Tuesday's failure at 14:30 after 2.5 hours, 200,000 records
    assert durations[("dpdc_ami", "C1-PPBTR")] == 2.5 * 3600
    assert records[("dpdc_ami", "C1-PPBTR")] == 200_000


def test_open_alerts_are_counted_by_workflow_severity_kind_and_state(monitor: MonitorEnv, scraped: Samples) -> None:
    t = alerts
    query = (
        sa.select(t.c.workflow_id, t.c.severity, t.c.kind, t.c.state, sa.func.count())
        .where(t.c.state.in_(ACTIVE_STATES))
        .group_by(t.c.workflow_id, t.c.severity, t.c.kind, t.c.state)
    )
    with monitor.store.connect() as conn:
        expected = {
            (("kind", r[2]), ("severity", r[1]), ("state", r[3]), ("workflow", r[0])): float(r[4])
            for r in conn.execute(query)
        }
    assert named(scraped, "batch_monitor_alerts_open") == expected
    assert (
        of(scraped, "batch_monitor_alerts_open", workflow="dpdc_ami", severity="CRITICAL", kind="FAILED", state="open")
        == 1.0
    )


def test_acknowledging_moves_an_alert_to_the_acknowledged_series(monitor: MonitorEnv) -> None:
    with monitor.store.connect() as conn:
        failed = conn.execute(
            sa.select(alerts.c.id).where(alerts.c.kind == "FAILED", alerts.c.state == "open")
        ).scalar_one()
    with monitor.server.client("op1") as op:
        assert op.post(f"acknowledge-alert/{failed}", json={}).status_code == 200
    found = samples(scrape(monitor).text)
    labels = {"workflow": "dpdc_ami", "severity": "CRITICAL", "kind": "FAILED"}
    assert of(found, "batch_monitor_alerts_open", **labels, state="acknowledged") == 1.0
    assert ("batch_monitor_alerts_open", tuple(sorted({**labels, "state": "open"}.items()))) not in found


def test_the_ticks_give_the_last_tick_time_and_the_duration_histogram(monitor: MonitorEnv, scraped: Samples) -> None:
    with monitor.store.connect() as conn:
        rows = conn.execute(sa.select(ticks.c.workflow_id, ticks.c.finished_at, ticks.c.duration_s)).all()
    for workflow_id, last_as_of in (("dpdc_ami", AS_OF), ("us_east_settlement", US_EAST_AS_OF)):
        own = [r for r in rows if r.workflow_id == workflow_id]
        # the simulated days ran their ticks with the tick's own time as "now"
        assert max(r.finished_at for r in own) == last_as_of
        assert of(scraped, "batch_monitor_last_tick_timestamp_seconds", workflow=workflow_id) == last_as_of.timestamp()
        assert of(scraped, "batch_monitor_tick_duration_seconds_count", workflow=workflow_id) == len(own)
        assert of(scraped, "batch_monitor_tick_duration_seconds_sum", workflow=workflow_id) == pytest.approx(
            sum(r.duration_s for r in own)
        )
        assert of(scraped, "batch_monitor_tick_duration_seconds_bucket", workflow=workflow_id, le="+Inf") == len(own)
        under_10s = of(scraped, "batch_monitor_tick_duration_seconds_bucket", workflow=workflow_id, le="10.0")
        assert under_10s == sum(1 for r in own if r.duration_s <= 10)
        assert of(scraped, "batch_monitor_schedule_interval_seconds", workflow=workflow_id) == 900.0
        assert of(scraped, "batch_monitor_monitor_stale", workflow=workflow_id) == 1.0


def test_unsent_messages_are_batch_monitor_outbox_pending(monitor: MonitorEnv, scraped: Samples) -> None:
    with monitor.store.connect() as conn:
        unsent = conn.execute(
            sa.select(sa.func.count()).select_from(email_outbox).where(email_outbox.c.sent_at.is_(None))
        ).scalar_one()
    assert unsent > 0, "no mail server in the simulated days: every mail is still queued"
    assert named(scraped, "batch_monitor_outbox_pending") == {(("channel", "email"),): float(unsent)}


@pytest.fixture
def fresh_tick(monitor: MonitorEnv) -> Iterator[dt.datetime]:
    """A dpdc_ami tick that finished a minute ago (the store is put back afterwards)."""
    finished = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with monitor.store.begin() as conn:
        conn.execute(
            sa.insert(ticks).values(workflow_id="dpdc_ami", as_of=finished, finished_at=finished, duration_s=4.2)
        )
    yield finished
    monitor.reset()


def test_batch_health_says_the_monitor_is_stale_after_two_intervals_without_a_tick(viewer: httpx.Client) -> None:
    body = viewer.get("batch-health", params={"workflow": "dpdc_ami"}).json()
    assert body["monitor_stale"] is True
    assert dt.datetime.fromisoformat(body["last_tick_at"]) == AS_OF


def test_a_fresh_tick_makes_the_monitor_alive_in_health_and_metrics(
    monitor: MonitorEnv, viewer: httpx.Client, fresh_tick: dt.datetime
) -> None:
    body = viewer.get("batch-health", params={"workflow": "dpdc_ami"}).json()
    assert body["monitor_stale"] is False
    assert dt.datetime.fromisoformat(body["last_tick_at"]) == fresh_tick
    found = samples(scrape(monitor).text)
    assert of(found, "batch_monitor_monitor_stale", workflow="dpdc_ami") == 0.0
    assert of(found, "batch_monitor_monitor_stale", workflow="us_east_settlement") == 1.0
    assert of(found, "batch_monitor_last_tick_timestamp_seconds", workflow="dpdc_ami") == pytest.approx(
        fresh_tick.timestamp()
    )


def test_outbox_pending_is_counted_per_channel(store: sa.Engine) -> None:
    def queue(conn: sa.Connection, key: str, sent: bool, channel: str) -> None:
        conn.execute(
            sa.insert(email_outbox).values(
                dedupe_key=key,
                kind="alert",
                recipients=["oncall@example.com"],
                subject="s",
                body_text="t",
                body_html="h",
                sent_at=dt.datetime(2024, 3, 12, tzinfo=dt.UTC) if sent else None,
                channel=channel,
            )
        )

    with store.begin() as conn:
        assert outbox_pending(conn) == {"email": 0}
        queue(conn, "a", sent=False, channel="email")
        queue(conn, "b", sent=True, channel="email")
        for key, channel, sent in (("a", "slack", False), ("d", "slack", False), ("e", "apprise", True)):
            queue(conn, key, sent=sent, channel=channel)
        assert outbox_pending(conn) == {"email": 1, "slack": 2}
