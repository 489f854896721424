"""What the chat channels post: Slack blocks and Apprise's title and body, from a :class:`Notice`. Pure.

Slack's limits are kept whatever the text: a header of at most 150 characters, a section's text
at most 3,000, at most 10 fields of at most 2,000 each, at most 50 blocks and a fallback text of
at most 3,000. Longer text is cut with a note of how much was left out. Text is escaped for
Slack's mrkdwn (``&``, ``<``, ``>``), so an error text cannot ping a channel or forge a link.
"""

from __future__ import annotations

import re
from typing import Any

from batch_monitor.models import EmailContent, Notice
from batch_monitor.text import cut

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")

EMOJI = {"CRITICAL": ":red_circle:", "WARNING": ":warning:", "RESOLVED": ":white_check_mark:"}
APPRISE_TYPES = {"CRITICAL": "failure", "WARNING": "warning", "RESOLVED": "success"}


def notice_of(content: EmailContent) -> Notice:
    """The content's notice, or one made of its subject and plain text."""
    if content.notice is not None:
        return content.notice
    return Notice(kind="message", severity="INFO", headline=content.subject, body=content.text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, saying that it was cut and how long it was
    (text.cut), never ending in an entity the cut split."""
    return cut(text, limit, trim=_PARTIAL_ENTITY)


def escape(text: str) -> str:
    """Text for Slack mrkdwn: ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str, limit: int) -> str:
    """A mrkdwn code block of at most ``limit`` characters (fences included)."""
    inner = escape(text.replace("```", "'''"))
    return f"```{clip(inner, limit - 6)}```"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _fields(notice: Notice) -> dict[str, Any] | None:
    pairs = []
    if notice.step:
        pairs.append(("Step", notice.step))
    if notice.workflow_id:
        pairs.append(("Workflow", notice.workflow_id))
    if notice.business_date is not None:
        pairs.append(("Business day", notice.business_date.isoformat()))
    pairs += [(label, value) for label, value in notice.facts if value]
    if not pairs:
        return None
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{escape(label)}*\n{escape(value)}", FIELD_LIMIT)}
        for label, value in pairs[:MAX_FIELDS]
    ]
    return {"type": "section", "fields": fields}


def _body_sections(body: str, room: int) -> list[dict[str, Any]]:
    """The body as code blocks of whole lines, within ``room`` blocks (the last one cut)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in body.splitlines():
        if current and size + len(line) + 1 > SECTION_LIMIT - 200:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    if len(chunks) > room:
        chunks = [*chunks[: room - 1], "\n".join(chunks[room - 1 :])]
    return [_section(_code(chunk, SECTION_LIMIT)) for chunk in chunks]


def headline(notice: Notice) -> str:
    """'CRITICAL: C1-PPBTR failed' (one line)."""
    return " ".join(f"{notice.severity}: {notice.headline}".split())


def slack_message(notice: Notice, *, follow_up_of: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Slack's fallback text and blocks for ``notice``.

    ``follow_up_of``: set when a follow-up (a recovery, a reminder) cannot be threaded: a line
    saying which earlier message it is about (e.g. "alert #42").
    """
    emoji = EMOJI.get(notice.severity, ":information_source:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{emoji} {headline(notice)}", HEADER_LIMIT)}}
    ]
    if notice.note:
        blocks.append(_section(escape(notice.note)))
    fields = _fields(notice)
    if fields is not None:
        blocks.append(fields)
    if notice.error_text:
        blocks.append(_section("*Error*\n" + _code(notice.error_text, SECTION_LIMIT - len("*Error*\n"))))
    tail: list[dict[str, Any]] = []
    if notice.page_url:
        tail.append(_section(f"<{notice.page_url.replace('|', '%7C').replace('>', '%3E')}|Open in Batch Monitor>"))
    context = []
    if follow_up_of:
        context.append(f"Follow-up to {follow_up_of}")
    if notice.alert_id is not None:
        context.append(f"Alert #{notice.alert_id}")
    context.append("Batch Monitor")
    tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(" · ".join(context))}]})
    if notice.body:
        blocks += _body_sections(notice.body, MAX_BLOCKS - len(blocks) - len(tail))
    blocks += tail
    return clip(headline(notice), FALLBACK_LIMIT), blocks


def plain_message(notice: Notice) -> tuple[str, str]:
    """Apprise's title and plain-text body for ``notice``."""
    lines = [notice.note] if notice.note else []
    if notice.step:
        lines.append(f"Step: {notice.step}")
    if notice.workflow_id:
        day = f", business day {notice.business_date.isoformat()}" if notice.business_date else ""
        lines.append(f"Workflow: {notice.workflow_id}{day}")
    lines += [f"{label}: {value}" for label, value in notice.facts if value]
    if notice.error_text:
        lines += ["", "Error:", clip(notice.error_text, FIELD_LIMIT)]
    if notice.body:
        lines += ["", notice.body]
    if notice.page_url:
        lines += ["", f"Open in Batch Monitor: {notice.page_url}"]
    return headline(notice), "\n".join(lines)
