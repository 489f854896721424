"""The operators' page inside the real Airflow UI, driven in headless Chromium.

Users log in through Airflow's login form; the page runs in Airflow's iframe at
/plugin/ops/batch-monitor/ and reads the simulated store through the API with the UI's cookie.
`make screenshots` (BATCH_MONITOR_SCREENSHOTS=1) refreshes docs/screenshots/ from three of these
tests; an ordinary test run leaves docs/ alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, Frame, FrameLocator, Page, expect
from tests.support.monitor_env import US_EAST_AS_OF, USERS, MonitorEnv
from tests.support.workflows import load_test_workflow

from batch_monitor.constants import PAGE_PATH, FindingKind, Severity, StepStatus
from batch_monitor.models import Evaluation, Finding
from batch_monitor.notify.alert_mail import page_url, renderer
from batch_monitor.store import alerts as store_alerts
from batch_monitor.store import repository
from batch_monitor.store.schema import alerts, evaluations, silences, source_snapshots, ticks

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
IFRAME = "iframe[title='Batch Monitor']"
DAY = "2024-03-12"
EXPECTED_STEPS = [
    ("CM-DMRU", "complete"),
    ("D1-IMD", "complete"),
    ("C1-PPBTR", "failed"),
    ("F1-FLUSH", "waiting"),
    ("CM_BSGGN", "waiting"),
    ("BILLRESTSMS", "waiting"),
]


def save_screenshot(page: Page, name: str) -> None:
    """docs/screenshots/<name>, only when asked (`make screenshots`), so tests leave git clean."""
    if os.environ.get("BATCH_MONITOR_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def log_in(page: Page, monitor: MonitorEnv, user: str) -> None:
    """Through Airflow's own login form."""
    page.goto(monitor.server.base_url + "/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(USERS[user][1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def open_from_menu(page: Page) -> FrameLocator:
    """Browse → Batch Monitor, as an operator would."""
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Batch Monitor").click()
    page.wait_for_url(re.compile(r"/plugin/ops/batch-monitor/"))
    return page.frame_locator(IFRAME)


def open_page(page: Page, monitor: MonitorEnv, query: str = "") -> FrameLocator:
    """The plugin page by its Airflow URL (what the alert mails link to)."""
    page.goto(f"{monitor.server.base_url}{PAGE_PATH}{query}")
    return page.frame_locator(IFRAME)


def page_frame(page: Page) -> Frame:
    frame = next((f for f in page.frames if f.parent_frame is not None and "/batch-monitor/" in f.url), None)
    assert frame is not None, [f.url for f in page.frames]
    return frame


def pick_day(frame: FrameLocator, day: str = DAY) -> None:
    """With the page's date picker, once the page has shown its first day."""
    expect(frame.locator("#timeline[data-date]")).to_have_count(1)
    frame.locator("#date-input").fill(day)
    expect(frame.locator("#timeline")).to_have_attribute("data-date", day)


def steps_shown(frame: FrameLocator) -> list[tuple[str, str]]:
    rows = frame.locator(".step-row")
    return [(r.get_attribute("data-step") or "", r.get_attribute("data-status") or "") for r in rows.all()]


def alert_row(monitor: MonitorEnv, kind: str) -> sa.Row:  # type: ignore[type-arg]
    with monitor.store.connect() as conn:
        query = sa.select(alerts).where(alerts.c.kind == kind, alerts.c.business_date == DAY)
        return conn.execute(query).one()


def test_an_operator_finds_the_page_under_browse_and_sees_the_business_day(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_from_menu(page)
    pick_day(frame)
    expect(frame.locator("#subtitle")).to_contain_text("business day Tue, Mar 12, 2024")

    assert steps_shown(frame) == EXPECTED_STEPS
    chips = [c.inner_text() for c in frame.locator(".step-row .chip").all()]
    assert chips == ["Complete", "Complete", "Failed", "Waiting (0 of 3 runs)", "Waiting", "Waiting"]
    prepay = frame.locator(".step-row[data-step='C1-PPBTR']")
    expect(prepay).to_contain_text("12:00 – 14:30")
    expect(prepay).to_contain_text("Records 200,000")
    expect(frame.locator("#subtitle")).to_contain_text("times in Asia/Dhaka (GMT+6)")
    expect(frame.locator("#banner-text")).to_have_text("2 active incidents (2 alerts)|1 failed|1 empty run")
    expect(frame.locator("#card-success .card-value")).to_have_text("87.5%")
    expect(frame.locator("#card-failed .card-value")).to_have_text("1")
    expect(frame.locator("#card-alerts .card-value")).to_have_text("2")
    expect(frame.locator("#countdown")).to_have_text(re.compile(r"^Next refresh in (30:00|29:[0-5]\d)$"))

    # error text carrying HTML is shown as text, never as markup
    failed_alert = frame.locator(".alert-item", has_text="C1-PPBTR failed at 14:30")
    expect(failed_alert.locator(".message")).to_have_text(
        "C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout (host <b>ccb-db01</b>)"
    )
    assert frame.locator("#alert-list b, #timeline b:has-text('ccb-db01')").count() == 0

    prepay.click()
    detail = prepay.locator(".step-detail")
    expect(detail.locator("pre.error-text")).to_have_text("ORA-12545 Connection timeout (host <b>ccb-db01</b>)")
    expect(detail).to_contain_text("Runs (1)")
    expect(detail).to_contain_text("On ORA- errors check database connectivity")
    save_screenshot(page, "batch-monitor-light.png")


def test_an_operator_acknowledges_an_alert_with_a_comment(monitor: MonitorEnv, context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator("#banner-text")).to_have_text("2 active incidents (2 alerts)|1 failed|1 empty run")

    item = frame.locator(".alert-item", has_text="C1-PPBTR failed at 14:30")
    item.get_by_role("button", name="Acknowledge").click()
    item.get_by_label("Comment").fill("DBA is restarting the listener")
    item.get_by_role("button", name="Confirm acknowledge").click()

    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(item.locator(".ack-note")).to_contain_text(re.compile(r"Acknowledged by op1 at \w{3} \d{1,2}, \d\d:\d\d"))
    expect(item.locator(".ack-note")).to_contain_text("“DBA is restarting the listener”")
    expect(frame.locator("#banner-text")).to_have_text(
        "2 active incidents (2 alerts)|1 failed|1 empty run|1 acknowledged"
    )
    expect(frame.locator("#toast")).to_contain_text("acknowledged by op1")
    row = alert_row(monitor, "FAILED")
    assert (row.state, row.acknowledged_by, row.ack_comment) == (
        "acknowledged",
        "op1",
        "DBA is restarting the listener",
    )


def stuck_us_east_posting(monitor: MonitorEnv) -> None:
    """The monitor's next tick of the US East chain finds its posting stuck: a new CRITICAL alert."""
    workflow = load_test_workflow("us_east_settlement")
    stuck = Finding(
        kind=FindingKind.STUCK,
        severity=Severity.CRITICAL,
        step_id="SETL-POST",
        batch_code="SETL-POST",
        title="SETL-POST stuck: no progress for 1h 0m",
    )
    as_of = US_EAST_AS_OF + dt.timedelta(minutes=15)
    evaluation = Evaluation(
        workflow_id=workflow.workflow_id,
        business_date=dt.date(2024, 3, 12),
        as_of=as_of,
        timezone=workflow.timezone,
        chain_status=StepStatus.STUCK,
        steps=[],
        findings=[stuck],
    )
    with monitor.store.begin() as conn:
        store_alerts.sync_alerts(conn, workflow, evaluation, recipients=[], render=renderer("http://x"), now=as_of)


def show_earlier_tick(monitor: MonitorEnv, workflow_id: str, day: str, as_of: dt.datetime) -> None:
    """The day as the monitor judged it at an earlier tick: that tick's own evaluation (kept beside its
    snapshot) becomes the day's latest, so the page shows the forecast of that moment (reset() puts
    the day's last evaluation back)."""
    with monitor.store.begin() as conn:
        snapshot_id = conn.execute(
            sa.select(source_snapshots.c.id).where(
                source_snapshots.c.workflow_id == workflow_id,
                source_snapshots.c.business_date == day,
                source_snapshots.c.as_of == as_of,
            )
        ).scalar_one()
        kept = repository.load_tick_evaluation(conn, snapshot_id)
        assert kept is not None
        tick, packed = kept
        day_row = (evaluations.c.workflow_id == workflow_id) & (evaluations.c.business_date == day)
        conn.execute(
            sa.update(evaluations)
            .where(day_row)
            .values(as_of=as_of, chain_status=tick.chain_status.value, **repository.evaluation_values(tick, packed))
        )


def test_the_timeline_shows_the_forecast_typical_bands_and_the_chain_s_predicted_finish_against_its_deadline(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    # 08:00 Dhaka on the operators' day: D1-IMD runs, C1-PPBTR and the three after it have not started;
    # the baselines learned from 2024-03-11 give every step a typical duration
    show_earlier_tick(monitor, "dpdc_ami", DAY, dt.datetime(2024, 3, 12, 2, 0, tzinfo=dt.UTC))
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, f"?workflow=dpdc_ami&date={DAY}")
    expect(frame.locator("#chain-marker")).to_have_text("predicted 17:00, deadline 22:00")
    expect(frame.locator("#chain-marker")).not_to_have_class(re.compile(r"\bat-risk\b"))

    waiting = ["C1-PPBTR", "F1-FLUSH", "CM_BSGGN", "BILLRESTSMS"]
    predicted = frame.locator(".gantt .predicted.not-started")
    expect(predicted).to_have_count(len(waiting))
    for step_id in waiting:
        row = frame.locator(f".step-row[data-step='{step_id}']")
        expect(row.locator(".gantt .predicted.not-started")).to_have_count(1)
        expect(row).to_have_class(re.compile(r"\bcritical-path\b"))
        expect(row.locator(".cp-tag")).to_have_text("critical path")
    expect(frame.locator(".step-row.critical-path")).to_have_count(len(waiting))
    prepay_bar = frame.locator(".step-row[data-step='C1-PPBTR'] .gantt .predicted.not-started")
    assert prepay_bar.get_attribute("title") == "Predicted 12:00 – 14:45"
    expect(frame.locator(".gantt .typical")).to_have_count(6)  # every step has a learned duration
    band = frame.locator(".step-row[data-step='D1-IMD'] .gantt .typical")
    assert (band.get_attribute("title") or "").startswith(
        "Typically ends 07:07 – 07:09 (median 35m, p90 37m from its start"
    )
    band_box, bar_box = (
        band.bounding_box(),
        frame.locator(".step-row[data-step='D1-IMD'] .gantt .actual").bounding_box(),
    )
    assert band_box is not None and bar_box is not None
    assert bar_box["x"] < band_box["x"] < bar_box["x"] + bar_box["width"]  # D1-IMD runs past its typical end

    imd = frame.locator(".step-row[data-step='D1-IMD']")
    imd.click()
    typical = imd.locator(".typical-vs-actual")

    def value(label: str) -> str:
        return typical.locator("div", has=page.locator("dt", has_text=label)).locator("dd").inner_text()

    expect(typical).to_be_visible()
    assert value("Start (actual vs typical)") == "06:32 (typical 05:52)"
    assert re.fullmatch(r"\S.* \(typical 35m, p90 37m\)", value("Duration (actual vs typical)"))
    assert re.fullmatch(r"[\d,]+ \(typical [\d,]+\)", value("Records (actual vs typical)"))
    assert value("Sample days").startswith("1 (")
    assert value("Progress basis") == "by elapsed time"


def test_the_banner_and_the_list_name_at_risk_and_unusual_volume_alerts(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    workflow = load_test_workflow("us_east_settlement")
    findings = [
        Finding(
            kind=FindingKind.AT_RISK,
            severity=Severity.WARNING,
            step_id="SETL-POST",
            batch_code="SETL-POST",
            title="SETL-POST predicted to finish at 07:40, 40m after its 07:00 deadline",
        ),
        Finding(
            kind=FindingKind.UNUSUAL_VOLUME,
            severity=Severity.WARNING,
            step_id="SETL-EXTR",
            batch_code="SETL-EXTR",
            title="SETL-EXTR processed 120 records, typically 12,000",
        ),
    ]
    evaluation = Evaluation(
        workflow_id=workflow.workflow_id,
        business_date=dt.date(2024, 3, 12),
        as_of=US_EAST_AS_OF + dt.timedelta(minutes=15),
        timezone=workflow.timezone,
        chain_status=StepStatus.RUNNING,
        steps=[],
        findings=findings,
    )
    with monitor.store.begin() as conn:
        store_alerts.sync_alerts(
            conn, workflow, evaluation, recipients=[], render=renderer("http://x"), now=evaluation.as_of
        )
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?workflow=us_east_settlement&date={DAY}")
    expect(frame.locator("#banner-text")).to_have_text("2 active incidents (2 alerts)|1 at risk|1 unusual volume")
    items = frame.locator("#alert-list .alert-item")
    expect(items).to_have_count(2)
    expect(items.filter(has_text="SETL-POST predicted to finish").locator(".facts")).to_contain_text("at risk")
    expect(items.filter(has_text="SETL-EXTR processed 120").locator(".facts")).to_contain_text("unusual volume")


def test_the_banner_the_card_and_the_list_count_the_same_alerts(monitor: MonitorEnv, context: BrowserContext) -> None:
    stuck_us_east_posting(monitor)  # another workflow's alert: not counted for dpdc_ami
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?workflow=dpdc_ami&date={DAY}")
    items = frame.locator("#alert-list .alert-item")

    def counts_agree(total: int) -> None:
        plural = "s" if total != 1 else ""  # every alert here is a cause: as many incidents as alerts
        expect(frame.locator("#banner-count")).to_have_text(f"{total} active incident{plural} ({total} alert{plural})")
        expect(frame.locator("#card-alerts .card-value")).to_have_text(str(total))
        expect(items).to_have_count(total)
        expect(frame.locator("#alerts-summary")).to_contain_text(f"{total} active:")

    counts_agree(2)
    item = frame.locator(".alert-item", has_text="C1-PPBTR failed at 14:30")
    item.get_by_role("button", name="Acknowledge").click()
    item.get_by_role("button", name="Confirm acknowledge").click()
    expect(item).to_have_attribute("data-state", "acknowledged")
    counts_agree(2)  # acknowledged alerts stay listed (and counted) until they resolve
    expect(frame.locator("#alerts-summary")).to_contain_text("2 active: 1 open, 1 acknowledged")

    frame.get_by_label("All workflows").check()
    counts_agree(3)
    severities = [t.strip() for t in items.locator(".sev").all_inner_texts()]
    assert severities == ["CRITICAL", "CRITICAL", "WARNING"]  # critical first, then newest
    expect(items.nth(1)).to_contain_text("SETL-POST stuck")  # 07:45 UTC; the failure came at 08:30


def test_a_past_day_says_so_on_the_rps_card_and_shows_its_chain_s_actual_end(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, "?workflow=dpdc_ami&date=2024-03-11")
    expect(frame.locator("#timeline")).to_have_attribute("data-date", "2024-03-11")
    expect(frame.locator("#rps-period")).to_have_text("(day)")
    summary = frame.locator("#chain-summary")
    expect(summary).to_contain_text("Chain Complete")
    expect(summary).to_contain_text(re.compile(r"ended \d\d:\d\d"))
    expect(summary).not_to_contain_text("predicted")


def test_after_a_rerun_the_row_shows_the_good_run_and_the_failed_run_stays_apart(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    # include/scenarios/failure.yaml: C1-PPBTR fails 12:00-14:30; the rerun runs 15:00-16:30
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, "?workflow=dpdc_ami&date=2024-03-11")
    row = frame.locator(".step-row[data-step='C1-PPBTR']")
    expect(row).to_have_attribute("data-status", "complete")
    expect(row).to_have_class(re.compile(r"\bst-complete\b"))
    bars = row.locator(".gantt .actual")
    expect(bars).to_have_count(2)
    expect(bars.nth(0)).to_have_class(re.compile(r"\brun-error\b"))
    expect(bars.nth(1)).to_have_class(re.compile(r"\brun-complete\b"))
    colours = [b.evaluate("el => getComputedStyle(el).backgroundColor") for b in bars.all()]
    assert colours[0] != colours[1]
    expect(row.locator(".gantt .plan")).to_have_count(2)  # the plan for the first run and for the rerun
    meta = row.locator(".step-meta")
    expect(meta).to_contain_text("Duration 1h 30m (2 runs, 4h 30m in all)")
    expect(meta).to_contain_text("Runs 2")

    row.click()
    detail = row.locator(".step-detail")
    expect(detail).to_contain_text("Runs (2)")
    duration = detail.locator("div", has=page.locator("dt", has_text="Duration (expected / max per run)")).locator("dd")
    expect(duration).to_have_text("1h 30m (2 runs, 4h 30m in all) (2h 45m / 4h)")
    expect(duration).not_to_have_class(re.compile(r"\bover\b"))  # no run took over 4h


def test_a_viewer_sees_why_they_cannot_acknowledge_and_the_api_refuses_them(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, f"?date={DAY}")
    item = frame.locator(".alert-item", has_text="C1-PPBTR failed at 14:30")
    button = item.get_by_role("button", name="Acknowledge")
    expect(button).to_be_disabled()
    reason = "You (viewer1) may not acknowledge or resolve: this needs edit access to DAG batch_monitor_dpdc_ami."
    expect(item.locator(".reason")).to_have_text(reason)
    assert button.get_attribute("title") == reason

    alert_id = alert_row(monitor, "FAILED").id
    status = page_frame(page).evaluate(
        """async (id) => (await fetch(`api/v1/acknowledge-alert/${id}`, {
            method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"})).status""",
        alert_id,
    )
    assert status == 403
    assert alert_row(monitor, "FAILED").state == "open"


def test_the_link_in_an_alert_mail_opens_the_alert_with_its_history(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    alert_id = alert_row(monitor, "FAILED").id
    page = context.new_page()
    log_in(page, monitor, "admin1")
    frame = open_page(page, monitor, f"?workflow=dpdc_ami&date={DAY}&alert={alert_id}")
    dialog = frame.locator("#alert-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#dialog-title")).to_have_text(
        "C1-PPBTR failed at 14:30 — ORA-12545 Connection timeout (host <b>ccb-db01</b>)"
    )
    expect(dialog.locator(".events li").first).to_contain_text("Opened")
    expect(dialog).to_contain_text("What to do: On ORA- errors check database connectivity")

    dialog.get_by_role("button", name="Resolve").click()
    dialog.get_by_label("Comment").fill("listener restarted, rerun queued")
    dialog.get_by_role("button", name="Resolve").click()
    expect(dialog.locator(".events li").last).to_contain_text("Resolved")
    expect(dialog.locator(".events li").last).to_contain_text("by admin1")
    expect(dialog.locator(".events li").last).to_contain_text("“listener restarted, rerun queued”")
    assert (alert_row(monitor, "FAILED").state, alert_row(monitor, "FAILED").resolved_by) == ("resolved", "admin1")
    dialog.get_by_role("button", name="Close").click()
    expect(frame.locator("#banner-text")).to_have_text("1 active incident (1 alert)|1 empty run")


def test_the_browse_menu_opens_the_page_with_its_path_said_once(monitor: MonitorEnv, context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_from_menu(page)
    expect(frame.locator("#timeline[data-date]")).to_have_count(1)
    assert urlsplit(page.url).path == "/plugin/ops/batch-monitor/"


def test_a_mail_link_keeps_its_query_in_the_address_bar_through_the_login(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    alert_id = alert_row(monitor, "FAILED").id
    link = page_url(monitor.server.base_url, "dpdc_ami", dt.date(2024, 3, 12), alert_id)
    page = context.new_page()
    page.goto(link)
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill("op1")
    page.get_by_label("Password").fill(USERS["op1"][1])
    page.get_by_role("button", name="Sign in").click()
    frame = page.frame_locator(IFRAME)
    expect(frame.locator("#alert-dialog #dialog-title")).to_contain_text("C1-PPBTR failed at 14:30")
    expect(frame.locator("#timeline")).to_have_attribute("data-date", DAY)
    shown = urlsplit(page.url)
    assert shown.path == "/plugin/ops/batch-monitor/"
    assert parse_qs(shown.query) == {"workflow": ["dpdc_ami"], "date": [DAY], "alert": [str(alert_id)]}


def test_the_run_history_follows_the_date_picker_unless_its_own_dates_are_set(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator("#pager-text")).to_contain_text(f"business day {DAY}")
    days = frame.locator("#history-table tbody tr td:first-child")
    assert set(days.all_inner_texts()) == {DAY}
    pick_day(frame, "2024-03-11")
    expect(frame.locator("#pager-text")).to_contain_text("business day 2024-03-11")
    assert set(days.all_inner_texts()) == {"2024-03-11"}

    frame.locator("#history-filters input[name=date_from]").fill("2024-03-11")
    frame.locator("#history-filters input[name=date_to]").fill(DAY)
    frame.get_by_role("button", name="Apply").click()
    expect(frame.locator("#pager-text")).to_contain_text(f"business days 2024-03-11 to {DAY}")
    assert set(days.all_inner_texts()) == {"2024-03-11", DAY}


def test_the_workflow_picker_shows_another_chain_with_its_running_step(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator(".step-row")).to_have_count(6)
    frame.get_by_label("Workflow", exact=True).select_option("us_east_settlement")
    expect(frame.locator("#timeline")).to_have_attribute("data-workflow", "us_east_settlement")
    pick_day(frame)
    expect(frame.locator("#subtitle")).to_contain_text("US East nightly settlement")
    expect(frame.locator("#subtitle")).to_contain_text("times in America/New_York (GMT-4)")
    expect(frame.locator(".step-row")).to_have_count(2)
    assert steps_shown(frame) == [("SETL-EXTR", "complete"), ("SETL-POST", "running")]
    bar = frame.locator(".step-row[data-step='SETL-POST'] [role=progressbar]")
    progress = int(bar.get_attribute("aria-valuenow") or "-1")
    assert 0 < progress < 100


def test_run_history_filters_and_exports_csv(monitor: MonitorEnv, context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator("#pager-text")).to_contain_text(f"runs, business day {DAY}")
    frame.locator("#history-filters input[name=date_from]").fill("2024-03-11")
    frame.locator("#history-filters select[name=status]").select_option("error")
    frame.get_by_role("button", name="Apply").click()
    expect(frame.locator("#pager-text")).to_contain_text("Showing 1–2 of 2 runs")
    expect(frame.locator("#history-table tbody tr").first).to_contain_text("<b>ccb-db01</b>")

    with page.expect_download() as download_info:
        frame.get_by_role("link", name="Export CSV").click()
    text = Path(download_info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["business_date"], r["batch_cd"], r["status"]) for r in rows] == [
        ("2024-03-12", "C1-PPBTR", "error"),
        ("2024-03-11", "C1-PPBTR", "error"),
    ]


NOTIFICATION_SPY = """
window.__notifications = [];
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notifications.push(title); }
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
  };
}
"""


def test_the_page_refreshes_itself_and_notifies_an_operator_who_opted_in_of_a_new_critical_alert(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    with monitor.store.begin() as conn:
        conn.execute(sa.text("UPDATE batch_monitoring_config SET value = '10' WHERE key = 'refresh_interval_seconds'"))
    context.grant_permissions(["notifications"], origin=monitor.server.base_url)
    context.add_init_script(NOTIFICATION_SPY)
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    frame.get_by_label("Notify me of new critical alerts").check()
    expect(frame.locator("#banner-text")).to_have_text("2 active incidents (2 alerts)|1 failed|1 empty run")
    expect(frame.locator("#countdown")).to_have_text(re.compile(r"^Next refresh in 0:(0\d|10)$"))

    # meanwhile someone else acknowledges the empty run ...
    with monitor.server.client("admin1") as admin:
        assert admin.post(f"acknowledge-alert/{alert_row(monitor, 'EMPTY_RUN').id}", json={}).status_code == 200
    # ... and the monitor's next tick of the US East chain finds its posting stuck: a new CRITICAL alert
    stuck_us_east_posting(monitor)

    # no click: the countdown runs out and the page reloads by itself
    frame.get_by_label("All workflows").check()  # the new alert is another workflow's
    expect(frame.locator("#banner-text")).to_have_text(
        "3 active incidents (3 alerts)|1 failed|1 stuck|1 empty run|1 acknowledged", timeout=20_000
    )
    assert page_frame(page).evaluate("window.__notifications") == ["CRITICAL: SETL-POST stuck: no progress for 1h 0m"]


def test_the_page_follows_airflows_dark_theme(monitor: MonitorEnv, context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    expect(frame.locator(".step-row")).to_have_count(6)

    page.get_by_role("button", name="User").click()
    page.get_by_role("menuitem", name="Appearance").click()
    page.get_by_role("menuitemradio", name="Dark Mode").click()
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    background = page_frame(page).evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 100, background
    page.keyboard.press("Escape")
    frame.locator(".step-row[data-step='C1-PPBTR']").click()
    page.mouse.move(0, 0)
    save_screenshot(page, "batch-monitor-dark.png")


def test_the_page_is_usable_on_a_narrow_screen(monitor: MonitorEnv, narrow_context: BrowserContext) -> None:
    page = narrow_context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator(".step-row")).to_have_count(6)
    inner = page_frame(page)
    assert inner.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    gantt = frame.locator(".step-row[data-step='C1-PPBTR'] .gantt").bounding_box()
    facts = frame.locator(".step-row[data-step='C1-PPBTR'] .step-main").bounding_box()
    assert gantt is not None and facts is not None
    assert gantt["y"] >= facts["y"] + facts["height"] - 1  # the time axis moves below the step's facts
    expect(frame.locator(".alert-item").first.get_by_role("button", name="Acknowledge")).to_be_visible()
    frame.locator("#timeline-heading").scroll_into_view_if_needed()
    inner.evaluate("document.getElementById('timeline-heading').scrollIntoView()")
    save_screenshot(page, "batch-monitor-narrow.png")


def test_a_red_banner_says_since_when_the_monitor_has_not_run_until_a_tick_finishes(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, f"?workflow=dpdc_ami&date={DAY}")
    # the simulated day's last tick finished at 14:45 Dhaka (08:45 UTC) in 2024: long before today
    stale = frame.locator("#stale-banner")
    expect(stale).to_be_visible()
    expect(frame.locator("#stale-text")).to_have_text("monitor not running since Mar 12, 14:45")
    expect(stale).to_contain_text("Check the DAG batch_monitor_dpdc_ami in Airflow")
    background = page_frame(page).evaluate("getComputedStyle(document.getElementById('stale-banner')).backgroundColor")
    assert background == "rgb(185, 28, 28)"  # --red

    # the monitor ticks again: the next refresh takes the banner away
    finished = dt.datetime.now(dt.UTC)
    with monitor.store.begin() as conn:
        conn.execute(
            sa.insert(ticks).values(workflow_id="dpdc_ami", as_of=finished, finished_at=finished, duration_s=3)
        )
    frame.get_by_role("button", name="Refresh").click()
    expect(stale).to_be_hidden()
    expect(frame.locator("#banner-text")).to_have_text("2 active incidents (2 alerts)|1 failed|1 empty run")


def test_the_run_history_exports_the_same_runs_as_an_excel_workbook(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "viewer1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator("#pager-text")).to_contain_text(f"runs, business day {DAY}")
    frame.locator("#history-filters select[name=status]").select_option("error")
    frame.get_by_role("button", name="Apply").click()
    expect(frame.locator("#pager-text")).to_contain_text("Showing 1–1 of 1 run")

    with page.expect_download() as download_info:
        frame.get_by_role("link", name="Export Excel").click()
    download = download_info.value
    assert download.suggested_filename == "batch-logs.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("workflow_id", "business_date", "step_id")
    assert [(r[1], r[3], r[6]) for r in rows[1:]] == [(dt.datetime(2024, 3, 12), "C1-PPBTR", "error")]


def test_a_silenced_alert_shows_its_badge_and_an_operator_ends_the_silence_from_the_list(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    page = context.new_page()
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    item = frame.locator(".alert-item", has_text="C1-PPBTR failed at 14:30")
    expect(frame.locator("#silence-list")).to_contain_text("No silences")

    item.get_by_role("button", name="Silence", exact=True).click()
    form = item.locator(".silence-form")
    expect(form.get_by_label(re.compile(r"Silence until \(Asia/Dhaka time\)"))).to_have_value(
        re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d$")  # two hours from now, business time
    )
    form.get_by_label("Why").fill("planned rerun")
    form.get_by_role("button", name="Silence", exact=True).click()

    expect(item.locator(".badge-silenced")).to_have_text("silenced")
    expect(item.locator(".silence-note")).to_have_text(
        re.compile(r"^silenced until (\d{4}-\d\d-\d\d )?\d\d:\d\d by op1: planned rerun$")
    )
    listed = frame.locator(".silence-item")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("dpdc_ami: C1-PPBTR")
    expect(listed).to_contain_text("by op1")

    listed.get_by_role("button", name="End now").click()
    expect(frame.locator("#toast")).to_contain_text("ended by op1")
    expect(item.locator(".badge-silenced")).to_have_count(0)
    expect(frame.locator(".silence-item")).to_have_count(0)
    with monitor.store.connect() as conn:
        ended = conn.execute(sa.select(silences.c.ended_by, silences.c.comment)).one()
    assert (ended.ended_by, ended.comment) == ("op1", "planned rerun")


def test_the_page_asks_again_with_the_timeline_s_etag_and_keeps_the_day_on_304(
    monitor: MonitorEnv, context: BrowserContext
) -> None:
    with monitor.store.begin() as conn:
        conn.execute(sa.text("UPDATE batch_monitoring_config SET value = '10' WHERE key = 'refresh_interval_seconds'"))
    page = context.new_page()
    asked: list[tuple[int, str | None]] = []  # (status, the If-None-Match sent) of every batch-timeline
    page.on(
        "response",
        lambda r: (
            asked.append((r.status, r.request.headers.get("if-none-match")))
            if "/api/v1/batch-timeline" in r.url
            else None
        ),
    )
    log_in(page, monitor, "op1")
    frame = open_page(page, monitor, f"?date={DAY}")
    expect(frame.locator("#timeline")).to_have_attribute("data-date", DAY)
    assert steps_shown(frame) == EXPECTED_STEPS

    # the countdown runs out: the same day, unchanged, comes back as 304 and the page still shows it
    with page.expect_response(lambda r: "/api/v1/batch-timeline" in r.url and r.status == 304, timeout=20_000):
        pass
    first_status, first_tag = asked[0]
    assert (first_status, first_tag) == (200, None)
    assert asked[-1][0] == 304 and asked[-1][1] is not None
    expect(frame.locator("#timeline")).to_have_attribute("data-date", DAY)
    assert steps_shown(frame) == EXPECTED_STEPS
