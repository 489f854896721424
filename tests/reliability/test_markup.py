"""Error text from CC&B that holds HTML or script: shown as text on the page and in the mail."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import sync_playwright
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.mail import MailServer
from tests.support.monitor_env import AS_OF, MonitorEnv, workflow

from batch_monitor import pipeline
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.simulator import parse_scenario

from .conftest import Case
from .support import Ccb, alert_rows, play_ticks, prepare, quarter_ticks

AREA = "Bad input: HTML and script in error text (page and mail)"
MARKUP = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">ORA-00600 <b>bold</b>'


def in_chromium(base_url: str, token: str) -> dict[str, Any]:
    """Open the page in headless Chromium (Debian's, as tests/browser drives it) and read the alert.

    Runs in a thread of its own: Playwright's sync API keeps an event loop per thread, and the
    session's other browser tests may hold the main thread's.
    """
    seen: dict[str, Any] = {}

    def run() -> None:
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                context = browser.new_context()
                context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
                page = context.new_page()
                page.goto(f"{base_url}/batch-monitor/?workflow=dpdc_ami&date=2024-03-12")
                item = page.locator(".alert-item", has_text="cannot be read")
                item.first.wait_for(timeout=20_000)
                seen["shown"] = item.first.locator(".message").inner_text()
                seen["pwned"] = page.evaluate("window.__pwned")
                seen["injected"] = page.locator("#alert-list script, #alert-list img, #alert-list b").count()
                browser.close()
        except Exception as exc:  # re-raised in the test's thread
            seen["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if "error" in seen:
        raise seen["error"]
    return seen


@pytest.mark.browser
def test_error_text_with_html_and_script_is_shown_as_text_on_the_page(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    reliability.tried(
        f"an alert whose title and error text hold “{MARKUP}”, opened in headless Chromium on the operators' "
        "page (/batch-monitor/) with op1's session cookie"
    )
    dpdc = workflow("dpdc_ami")
    as_of = AS_OF + dt.timedelta(minutes=15)
    pipeline.record_source_unavailable(
        monitor.store, dpdc, as_of, MARKUP, recipients=[], page_url_base="http://airflow.test", now=as_of
    )
    seen = in_chromium(monitor.server.base_url, monitor.server.token("op1"))
    shown, pwned, injected = seen["shown"], seen["pwned"], seen["injected"]
    assert "<script>window.__pwned = 1</script>" in shown and '<img src="x"' in shown
    assert pwned is None and injected == 0
    reliability.observed(
        f"the alert reads “{shown}” as literal text; no script ran (window.__pwned undefined), no <script>, "
        "<img> or <b> element was created"
    )


def test_error_text_with_html_and_script_is_escaped_in_the_mail_and_verbatim_in_its_text_part(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(f"C1-PPBTR fails and its thread logs the message “{MARKUP}”; the FAILED alert is mailed")
    failing = parse_scenario(
        (Path(__file__).parents[2] / "include" / "scenarios" / "failure.yaml")
        .read_text()
        .replace("error: ORA-12545 Connection timeout", f"error: '{MARKUP}'"),
        Path("markup.yaml"),
    )
    ccb = Ccb(tmp_path, failing)
    prepare(store)
    play_ticks(ccb, store, quarter_ticks("14:15", "14:30"), channel=SmtpChannel())
    [failed] = alert_rows(store, kind="FAILED")
    assert failed["error_text"] == MARKUP
    [mail] = mail_server.received
    html = mail.message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "<script" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert MARKUP in text
    escaped = next(line.strip() for line in html.splitlines() if "&lt;script" in line)
    reliability.observed(
        f"the HTML part carries it escaped (“{escaped[:120]}…”), no <script>, <img> or <b> element; the plain "
        "text part shows it verbatim"
    )
    ccb.dispose()
