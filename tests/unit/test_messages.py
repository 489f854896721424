"""The chat channels' messages (notify/messages.py): Slack's limits whatever the text, mrkdwn escaped."""

from __future__ import annotations

import datetime as dt

from batch_monitor.models import EmailContent, Notice
from batch_monitor.notify import messages


def notice(**fields: object) -> Notice:
    base: dict[str, object] = {
        "kind": "alert",
        "severity": "CRITICAL",
        "headline": "C1-PPBTR failed",
        "workflow_id": "dpdc_ami",
        "business_date": dt.date(2026, 11, 24),
        "step": "Prepay billing (C1-PPBTR)",
    }
    return Notice.model_validate(base | fields)


def test_clip_leaves_short_text_alone_and_cuts_long_text_to_the_limit_saying_so() -> None:
    assert messages.clip("abc", 3) == "abc"
    cut = messages.clip("x" * 5000, 3000)
    assert len(cut) == 3000 and cut.endswith("… (cut: 5,000 characters in all)")


def test_clip_never_leaves_half_an_escaped_entity() -> None:
    text = messages.escape("<" * 2000)  # "&lt;" × 2000
    cut = messages.clip(text, 1000)
    assert len(cut) <= 1000
    body = cut.split("…")[0]
    assert body.replace("&lt;", "") == ""


def test_text_is_escaped_so_it_cannot_ping_a_channel_or_forge_a_link() -> None:
    _, blocks = messages.slack_message(notice(error_text="<!channel> <https://evil|click> & more"))
    error = next(b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith("*Error*"))
    assert "<!channel>" not in error and "&lt;!channel&gt;" in error and "&amp; more" in error


def test_more_than_ten_facts_keep_ten_fields() -> None:
    facts = [(f"label {i}", f"value {i}") for i in range(20)]
    _, blocks = messages.slack_message(notice(facts=facts))
    [fields] = [b for b in blocks if "fields" in b]
    assert len(fields["fields"]) == messages.MAX_FIELDS


def test_a_long_body_is_split_into_sections_within_fifty_blocks() -> None:
    body = "\n".join(f"STEP-{i:05d}  complete  05:00  05:50  50m" for i in range(20_000))
    text, blocks = messages.slack_message(notice(kind="digest", severity="INFO", body=body))
    assert len(blocks) <= messages.MAX_BLOCKS
    assert all(
        len(b["text"]["text"]) <= messages.SECTION_LIMIT for b in blocks if b["type"] == "section" and "text" in b
    )
    assert blocks[-1]["type"] == "context" and text.startswith("INFO: ")


def test_a_follow_up_that_cannot_thread_names_the_alert_it_follows() -> None:
    _, blocks = messages.slack_message(
        notice(kind="recovery", severity="RESOLVED", alert_id=7), follow_up_of="alert #7"
    )
    assert blocks[-1]["elements"][0]["text"] == "Follow-up to alert #7 · Alert #7 · Batch Monitor"
    assert blocks[0]["text"]["text"].startswith(":white_check_mark: RESOLVED: ")


def test_content_without_a_notice_is_shown_by_its_subject_and_text() -> None:
    made = messages.notice_of(EmailContent(subject="[MONITOR DOWN] x", text="body", html="<p>body</p>"))
    assert (made.headline, made.body, made.severity) == ("[MONITOR DOWN] x", "body", "INFO")


def test_apprise_gets_a_title_and_a_plain_body_with_the_link() -> None:
    title, body = messages.plain_message(notice(error_text="ORA-1", page_url="http://x/?a=1&b=2"))
    assert title == "CRITICAL: C1-PPBTR failed"
    assert body.splitlines()[:2] == ["Step: Prepay billing (C1-PPBTR)", "Workflow: dpdc_ami, business day 2026-11-24"]
    assert body.endswith("Open in Batch Monitor: http://x/?a=1&b=2")


def test_retry_after_reads_slacks_header_and_falls_back_to_a_minute() -> None:
    from batch_monitor.notify.slack import retry_after

    assert retry_after({"Retry-After": "30"}) == dt.timedelta(seconds=30)
    assert retry_after({"retry-after": ["5"]}) == dt.timedelta(seconds=5)
    assert retry_after({}) == dt.timedelta(seconds=60)
    assert retry_after({"Retry-After": "soon"}) == dt.timedelta(seconds=60)
    assert retry_after({"Retry-After": "nan"}) == dt.timedelta(seconds=60)
    assert retry_after({"Retry-After": "999999"}) == dt.timedelta(hours=1)
