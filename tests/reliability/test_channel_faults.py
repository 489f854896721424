"""Slack is down, rate-limits, or gets a huge error text, while mail works: real ticks of the failure
scenario (pipeline.run_tick) queue one outbox row per channel and send them to a real SMTP server
(aiosmtpd) and a real local HTTP server standing in for Slack's incoming webhook."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.support.mail import MailServer
from tests.support.slack import FakeSlack

from batch_monitor import pipeline
from batch_monitor.notify import messages
from batch_monitor.notify.channels import build_channels
from batch_monitor.simulator import ddl
from batch_monitor.source import MAX_ERROR_TEXT

from .conftest import Case
from .support import DPDC, PAGE, Ccb, alert_rows, local, outbox_rows, prepare, quarter_ticks

AREA = "Faults: Slack down, rate-limiting, huge error text (mail works)"

WORKFLOW = DPDC.model_copy(update={"channels": ["email", "slack"]})


def subjects(mail_server: MailServer) -> list[str]:
    return [str(m.message["Subject"]) for m in mail_server.received]


def slack_texts(slack: FakeSlack) -> list[str]:
    """The fallback texts of the posts Slack accepted (a refused request is not a post)."""
    return [r.json()["text"] for r in slack.accepted]


def sent_by_channel(store: sa.Engine) -> Counter[tuple[str, str]]:
    """(channel, kind) of every outbox row, sent or not, counted."""
    return Counter((r["channel"], r["kind"]) for r in outbox_rows(store))


def run(
    ccb: Ccb, store: sa.Engine, moments: list[dt.datetime], before: Any = None, after_play: Any = None
) -> list[float]:
    """One real tick (mail and Slack) at each moment; returns each tick's wall time in seconds."""
    channels = build_channels(WORKFLOW.channels)
    seconds = []
    for as_of in moments:
        if before is not None:
            before(as_of)
        ccb.play(as_of)
        if after_play is not None:
            after_play(as_of)
        began = time.perf_counter()
        pipeline.run_tick(ccb.engine, store, WORKFLOW, as_of, channel=channels, page_url_base=PAGE)
        seconds.append(time.perf_counter() - began)
    return seconds


def test_slack_down_for_several_ticks_while_mail_works_mails_once_and_posts_once_when_it_is_back(
    store: sa.Engine, mail_server: MailServer, slack: FakeSlack, tmp_path: Path, reliability: Case
) -> None:
    down, back = quarter_ticks("14:15", "14:15")[0], quarter_ticks("15:45", "15:45")[0]
    reliability.tried(
        "workflow channels [email, slack]; the Slack webhook's server stopped from 14:15 to 15:30 (FAILED "
        "opens 14:30, so Slack is down for its 14:30 to 15:30 ticks), started again at 15:45; the SMTP "
        "server up throughout; ticks every 15 min to 17:00 (the rerun completes 16:30), the 14:30 and "
        "15:00 ticks run twice (replays)"
    )
    ccb = Ccb(tmp_path, "failure", WORKFLOW)
    prepare(store, WORKFLOW)
    errors: list[str] = []
    mails_while_down: list[str] = []

    def outage(as_of: dt.datetime) -> None:
        if as_of == down:
            slack.stop()
        if as_of == back:
            errors.extend(r["last_error"] for r in outbox_rows(store) if r["channel"] == "slack")
            mails_while_down.extend(subjects(mail_server))
            slack.start()

    replayed = quarter_ticks("14:30", "14:30") + quarter_ticks("15:00", "15:00")
    moments = sorted(quarter_ticks("14:15", "17:00") + replayed)
    run(ccb, store, moments, before=outage)
    ccb.dispose()

    rows = outbox_rows(store)
    slack_rows = [r for r in rows if r["channel"] == "slack"]
    assert len(mails_while_down) == 1 and "CRITICAL" in mails_while_down[0]  # mail went at 14:30, Slack down
    assert len(errors) == 1 and "cannot reach" in errors[0]
    assert all(r["sent_at"] is not None for r in rows)
    assert Counter(subjects(mail_server)) == Counter({r["subject"]: 1 for r in rows if r["channel"] == "email"})
    texts = slack_texts(slack)
    assert [t.split(":")[0] for t in texts] == ["CRITICAL", "RESOLVED"]  # the alert and its recovery, once each
    assert sent_by_channel(store) == Counter({(c, k): 1 for c in ("email", "slack") for k in ("alert", "recovery")})
    alert_row = next(r for r in slack_rows if r["kind"] == "alert")
    tries = [m for m in moments if replayed[0] <= m <= back]  # every tick from the alert's to Slack's return
    assert local(alert_row["sent_at"]) == "15:45" and alert_row["attempts"] == len(tries)
    reliability.observed(
        f"the FAILED mail was delivered at the 14:30 tick while Slack was down; the Slack post stayed queued "
        f"through {alert_row['attempts'] - 1} failed attempts (last_error “{errors[0]}”) and was posted at "
        f"{local(alert_row['sent_at'])}, once; in all {len(mail_server.received)} mails "
        f"({', '.join(sorted(r['kind'] for r in rows if r['channel'] == 'email'))}) and {len(texts)} Slack posts "
        f"({', '.join(sorted(r['kind'] for r in slack_rows))}), each once: no duplicate on either channel, the "
        "replayed ticks included"
    )


def test_a_slack_429_storm_waits_for_retry_after_in_the_outbox_and_posts_every_message_once(
    store: sa.Engine, mail_server: MailServer, slack: FakeSlack, tmp_path: Path, reliability: Case
) -> None:
    storm, wait = 6, dt.timedelta(seconds=1200)
    reliability.tried(
        f"workflow channels [email, slack]; the Slack webhook answers its first {storm} posts with 429 and "
        f"Retry-After: {wait.total_seconds():.0f} (20 min, longer than a tick); ticks every 15 min from 14:15 "
        "to 18:00 (FAILED opens 14:30, recovers 16:30, while Slack still refuses); the SMTP server up throughout"
    )
    slack.replies += [(429, {"Retry-After": str(int(wait.total_seconds()))}, "rate_limited")] * storm
    ccb = Ccb(tmp_path, "failure", WORKFLOW)
    prepare(store, WORKFLOW)
    requests_before: list[int] = []
    retry_at: set[dt.datetime] = set()
    waiting: list[bool] = []  # at each tick's start: Slack messages queued, every one told to wait

    def watch(as_of: dt.datetime) -> None:
        requests_before.append(len(slack.requests))
        held = [r for r in outbox_rows(store) if r["channel"] == "slack" and r["sent_at"] is None]
        retry_at.update(r["next_attempt_at"] for r in held if r["next_attempt_at"] is not None)
        waiting.append(bool(held) and all(r["next_attempt_at"] and r["next_attempt_at"] > as_of for r in held))

    moments = quarter_ticks("14:15", "18:00")
    seconds = run(ccb, store, moments, before=watch)
    ccb.dispose()

    counts = [*requests_before, len(slack.requests)]
    per_tick = [b - a for a, b in itertools.pairwise(counts)]  # requests each tick made
    refused = len(slack.requests) - len(slack.accepted)
    rows = outbox_rows(store)
    slack_rows = [r for r in rows if r["channel"] == "slack"]
    texts = slack_texts(slack)
    assert refused == storm
    # each refusal set next_attempt_at Retry-After after its tick's moment (the tick's clock, not the wall's)
    assert len(retry_at) == storm
    assert all(any(m <= n - wait < m + dt.timedelta(minutes=1) for m in moments) for n in retry_at)
    quiet = [local(m) for m, w in zip(moments, waiting, strict=True) if w]
    assert len(quiet) >= storm - 1 and all(n == 0 for n, w in zip(per_tick, waiting, strict=True) if w)
    assert max(seconds) < wait.total_seconds() / 10  # nothing slept through a Retry-After
    assert [t.split(":")[0] for t in texts] == ["CRITICAL", "RESOLVED"]  # each once, in order
    assert all(r["sent_at"] for r in rows) and len(slack_rows) == 2
    assert Counter(subjects(mail_server)) == Counter({r["subject"]: 1 for r in rows if r["channel"] == "email"})
    mail_sent = {r["kind"]: local(r["sent_at"]) for r in rows if r["channel"] == "email"}
    slack_sent = {r["kind"]: (local(r["sent_at"]), r["attempts"]) for r in slack_rows}
    assert mail_sent == {"alert": "14:30", "recovery": "16:30"}  # mail was not held up
    reliability.observed(
        f"{refused} posts refused with 429, one request per attempt; each set the queued Slack rows' "
        f"next_attempt_at {wait.total_seconds():.0f} s after its tick; at the {len(quiet)} ticks in between "
        f"({', '.join(quiet)}) no request went to Slack; the longest tick took {max(seconds):.1f} s (nothing "
        f"slept); the alert was posted at {slack_sent['alert'][0]} ({slack_sent['alert'][1]} attempts), its "
        f"recovery right after it at {slack_sent['recovery'][0]} ({slack_sent['recovery'][1]} attempts): 2 Slack "
        f"posts, each once, in order; mail was not held up: alert mailed {mail_sent['alert']}, recovery "
        f"{mail_sent['recovery']}, {len(mail_server.received)} mails, each once"
    )


def test_a_200000_character_error_text_is_posted_within_slacks_limits_saying_it_was_cut(
    store: sa.Engine, mail_server: MailServer, slack: FakeSlack, tmp_path: Path, reliability: Case
) -> None:
    huge = "ORA-00600: internal error <&> " + "x" * 200_000
    reliability.tried(
        f"CC&B logs a {len(huge):,}-character message (with <, & and >) for the failed C1-PPBTR thread "
        "(CI_MSG_LOGPARM); ticks at 14:15 and 14:30 (FAILED opens) with channels [email, slack]"
    )
    ccb = Ccb(tmp_path, "failure", WORKFLOW)
    prepare(store, WORKFLOW)

    def huge_message(as_of: dt.datetime) -> None:
        with ccb.engine.begin() as conn:
            conn.execute(sa.update(ddl.ci_msg_logparm).values(message_parm=huge))

    run(ccb, store, quarter_ticks("14:15", "14:30"), after_play=huge_message)
    ccb.dispose()

    [body] = [r.json() for r in slack.accepted]
    blocks = body["blocks"]
    assert len(blocks) <= messages.MAX_BLOCKS and len(body["text"]) <= messages.FALLBACK_LIMIT
    for block in blocks:
        limit = messages.HEADER_LIMIT if block["type"] == "header" else messages.SECTION_LIMIT
        assert "text" not in block or len(block["text"]["text"]) <= limit
        assert len(block.get("fields", [])) <= messages.MAX_FIELDS
        assert all(len(f["text"]) <= messages.FIELD_LIMIT for f in block.get("fields", []))
    [error] = [b["text"]["text"] for b in blocks if "text" in b and b["text"]["text"].startswith("*Error*")]
    assert error.startswith("*Error*\n```ORA-00600: internal error &lt;&amp;&gt; xxx")
    assert error.endswith(f"… (cut: {len(huge):,} characters in all)```")
    [mail] = mail_server.received
    plain = mail.message.get_body(("plain",))
    assert plain is not None and f"(cut: {len(huge):,} characters in all)" in plain.get_content()
    size = len(slack.accepted[0].body)
    [alert] = alert_rows(store, kind="FAILED")
    assert len(alert["error_text"]) == MAX_ERROR_TEXT
    reliability.observed(
        f"the reader kept {len(alert['error_text']):,} characters, ending “{alert['error_text'][-36:]}”; "
        f"one Slack post of {len(blocks)} blocks ({size:,} bytes); its error block is {len(error):,} characters "
        f"(Slack's limit {messages.SECTION_LIMIT:,}), escaped, ending “{error[-40:]}”; every block, field and "
        f"the fallback text within Slack's limits; the mail's text says the same cut ({len(mail_server.received)} mail)"
    )
