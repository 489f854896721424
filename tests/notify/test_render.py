"""Rendering of alert, recovery and monitor-failure mails (pure: no SMTP, no database)."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest

from batch_monitor.constants import CHAIN_STEP_ID, FindingKind, Severity
from batch_monitor.models import AlertContext
from batch_monitor.notify.render import (
    render_alert,
    render_monitor_failure,
    render_recovery,
)


def test_alert_subject_names_severity_step_and_business_day(failed_alert: AlertContext) -> None:
    assert render_alert(failed_alert).subject == "[CRITICAL] C1-PPBTR failed — dpdc_ami business day 2026-11-24"


def test_recovery_subject_is_marked_resolved(failed_alert: AlertContext) -> None:
    resolved = failed_alert.model_copy(update={"resolved_at": dt.datetime(2026, 11, 24, 10, 5, tzinfo=dt.UTC)})
    assert render_recovery(resolved).subject == "[RESOLVED] C1-PPBTR failed — dpdc_ami business day 2026-11-24"


def test_chain_alerts_name_the_chain(failed_alert: AlertContext) -> None:
    chain = failed_alert.model_copy(
        update={"step_id": CHAIN_STEP_ID, "batch_code": "", "kind": FindingKind.MISSED_DEADLINE}
    )
    mail = render_alert(chain)
    assert mail.subject == "[CRITICAL] Chain missed its deadline — dpdc_ami business day 2026-11-24"
    assert "whole chain" in mail.text


def test_alert_shows_since_in_local_time_with_the_zone_named(failed_alert: AlertContext) -> None:
    mail = render_alert(failed_alert)
    for body in (mail.text, mail.html):
        assert "2026-11-24 14:30 +06 (Asia/Dhaka)" in body


def test_local_time_follows_daylight_saving_in_the_workflow_zone(failed_alert: AlertContext) -> None:
    summer = failed_alert.model_copy(
        update={"timezone": "America/New_York", "since": dt.datetime(2026, 7, 1, 13, 30, tzinfo=dt.UTC)}
    )
    winter = summer.model_copy(update={"since": dt.datetime(2026, 12, 1, 13, 30, tzinfo=dt.UTC)})
    assert "2026-07-01 09:30 EDT (America/New_York)" in render_alert(summer).text
    assert "2026-12-01 08:30 EST (America/New_York)" in render_alert(winter).text


def test_error_text_with_markup_is_escaped_in_html_and_verbatim_in_text(failed_alert: AlertContext) -> None:
    mail = render_alert(failed_alert)
    assert "<script>" not in mail.html
    assert "ORA-12545: Connect failed &lt;script&gt;alert(" in mail.html
    assert failed_alert.error_text is not None
    assert failed_alert.error_text in mail.text
    block = re.search(r"<pre[^>]*font-family:[^>]*monospace[^>]*>(.*?)</pre>", mail.html, re.S)
    assert block is not None, "the error text sits in a monospace block"
    assert html.unescape(block.group(1)) == failed_alert.error_text


def test_alert_says_what_was_expected_what_happened_and_what_to_do(failed_alert: AlertContext) -> None:
    mail = render_alert(failed_alert)
    for body in (mail.text, html.unescape(mail.html)):
        assert failed_alert.title in body
        assert failed_alert.expected in body
        assert failed_alert.actual in body
        assert failed_alert.action in body
        assert "C1-PPBTR:4711:0" in body


def test_alert_links_to_the_plugin_page(failed_alert: AlertContext) -> None:
    mail = render_alert(failed_alert)
    assert failed_alert.page_url in mail.text
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', mail.html)]
    assert hrefs == [failed_alert.page_url]


def test_html_mail_uses_inline_css_and_loads_nothing_from_outside(failed_alert: AlertContext) -> None:
    mail = render_alert(failed_alert)
    assert "<style" not in mail.html
    assert "<link" not in mail.html
    assert "<img" not in mail.html
    assert "src=" not in mail.html
    assert 'style="' in mail.html


def test_recovery_says_when_it_cleared_and_how_long_it_lasted(failed_alert: AlertContext) -> None:
    resolved = failed_alert.model_copy(update={"resolved_at": dt.datetime(2026, 11, 24, 10, 5, tzinfo=dt.UTC)})
    mail = render_recovery(resolved)
    for body in (mail.text, mail.html):
        assert "Cleared at" in body
        assert "2026-11-24 16:05 +06 (Asia/Dhaka)" in body
        assert "1h 35m" in body  # 14:30 → 16:05
    assert failed_alert.page_url in mail.text


def test_recovery_of_an_alert_that_never_resolved_is_refused(failed_alert: AlertContext) -> None:
    with pytest.raises(ValueError, match="no resolved_at"):
        render_recovery(failed_alert)


def test_templates_folder_can_be_overridden_by_environment(
    failed_alert: AlertContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alert.txt.j2").write_text("TEXT {{ ctx.batch_code }} {{ since_local }}")
    (tmp_path / "alert.html.j2").write_text("<p>{{ ctx.error_text }}</p>")
    monkeypatch.setenv("BATCH_MONITOR_TEMPLATES_DIR", str(tmp_path))
    mail = render_alert(failed_alert)
    assert mail.text == "TEXT C1-PPBTR 2026-11-24 14:30 +06 (Asia/Dhaka)"
    assert mail.html.startswith("<p>ORA-12545: Connect failed &lt;script&gt;")


def test_a_missing_templates_folder_is_named_in_the_error(
    failed_alert: AlertContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_MONITOR_TEMPLATES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere.*BATCH_MONITOR_TEMPLATES_DIR"):
        render_alert(failed_alert)


def test_monitor_failure_mail_names_dag_task_try_and_log(failed_alert: AlertContext) -> None:
    mail = render_monitor_failure(
        dag_id="batch_monitor_dpdc_ami",
        task_id="extract",
        error="OperationalError: could not connect to postgresql://bm:s3cret@store.example:5432/bm",
        try_number=2,
        logical_date=dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC),
        data_interval_end=dt.datetime(2026, 11, 24, 8, 45, tzinfo=dt.UTC),
        log_url="http://airflow.example/dags/batch_monitor_dpdc_ami/runs/r1/tasks/extract?try_number=2",
        timezone="Asia/Dhaka",
    )
    assert mail.subject == "[MONITOR DOWN] batch_monitor_dpdc_ami: extract failed"
    for body in (mail.text, html.unescape(mail.html)):
        assert "s3cret" not in body
        assert "postgresql://***@store.example:5432/bm" in body
        assert "2026-11-24 14:45 +06 (Asia/Dhaka)" in body
        assert "tasks/extract?try_number=2" in body
    assert re.search(r"Try:\s+2", mail.text)


def test_an_unknown_time_zone_is_named_in_the_error(failed_alert: AlertContext) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Asia/Dhakka'"):
        render_alert(failed_alert.model_copy(update={"timezone": "Asia/Dhakka"}))


def test_an_unusual_volume_alert_says_actual_against_typical(failed_alert: AlertContext) -> None:
    alert = failed_alert.model_copy(
        update={
            "kind": FindingKind.UNUSUAL_VOLUME,
            "severity": Severity.WARNING,
            "batch_code": "CM-DMRU",
            "title": "CM-DMRU completed at 07:15 with 9,920 records, 1% of its typical 992,000",
            "expected": "at least 20% of the typical 992,000 records",
            "actual": "9,920 records in 2h 12m (typical 992,000 in 2h 12m)",
            "error_text": None,
        }
    )
    mail = render_alert(alert)
    assert mail.subject == (
        "[WARNING] CM-DMRU processed an unusual number of records — dpdc_ami business day 2026-11-24"
    )
    for body in (mail.text, html.unescape(mail.html)):
        assert alert.actual in body and alert.expected in body
