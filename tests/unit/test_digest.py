"""The daily digest (notify/digest.py, pure) and the workflow's channels: and digest_at: fields."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from tests.support.evaluations import DAY, step
from tests.support.evaluations import evaluation as build

from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.constants import RunStatus, StepStatus
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.models import Evaluation, RunView, StepBaseline
from batch_monitor.notify import digest
from batch_monitor.notify.render import render_digest

YAML = """
workflow_id: demo
timezone: Asia/Dhaka
chain_finish_by: "22:00"
steps:
  - batch_code: A-ONE
    expected_start: "05:00"
    expected_duration: 30m
  - batch_code: B-TWO
"""
DHAKA = dt.timezone(dt.timedelta(hours=6))


def workflow(extra: str = "") -> WorkflowConfig:
    return parse_workflow(
        textwrap.dedent(YAML).replace("timezone: Asia/Dhaka", f"timezone: Asia/Dhaka\n{extra}"), Path("site/demo.yaml")
    )


def at(hour: int, minute: int = 0, day: int = 24) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=DHAKA).astimezone(dt.UTC)


def evaluation(status: StepStatus, as_of: dt.datetime, b_end: dt.datetime | None = None) -> Evaluation:
    """A-ONE done 05:00-05:45; B-TWO, started at 6:00, in ``status`` (ended at ``b_end``)."""
    b_duration = (b_end - at(6)).total_seconds() if b_end else None
    steps = [
        step("A-ONE", 0, StepStatus.COMPLETE, name="One", start=at(5), end=at(5, 45), duration_s=2700, records=1200),
        step("B-TWO", 1, status, name="Two", start=at(6), end=b_end, duration_s=b_duration),
    ]
    return build(as_of, steps=steps, workflow_id="demo", chain_status=status, chain_finish_by=at(22))


def test_channels_default_to_email_and_the_digest_to_23_00() -> None:
    wf = workflow()
    assert (wf.channels, wf.digest_at) == (["email"], dt.time(23, 0))


def test_channels_and_digest_at_read_as_people_write_them() -> None:
    wf = workflow('channels: "email, slack"\ndigest_at: "19:30"')
    assert (wf.channels, wf.digest_at) == (["email", "slack"], dt.time(19, 30))
    assert workflow("digest_at: null").digest_at is None


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("channels: [email, sms]", "field 'channels[1]': Input should be 'email', 'slack' or 'apprise'"),
        ("channels: [slack, slack]", "field 'channels': channel(s) slack listed more than once"),
        ("channels: []", "field 'channels'"),
        ("digest_at: late", "field 'digest_at': 'late' is not a clock time"),
    ],
)
def test_bad_channel_settings_are_named_with_their_file_and_field(line: str, fragment: str) -> None:
    with pytest.raises(WorkflowConfigError) as caught:
        workflow(line)
    assert "site/demo.yaml" in str(caught.value) and fragment in str(caught.value)


def test_the_digest_is_due_at_digest_at_or_once_the_chain_completed_whichever_is_first() -> None:
    wf = workflow()
    running = evaluation(StepStatus.RUNNING, at(20))
    done = evaluation(StepStatus.COMPLETE, at(20), b_end=at(19, 50))
    assert digest.due_at(wf, DAY) == at(23)
    assert not digest.is_due(wf, running, at(20))
    assert digest.is_due(wf, running, at(23))
    assert digest.is_due(wf, done, at(20))
    assert not digest.is_due(wf, done, at(19, 45))  # judged as of the tick: that evaluation is later
    assert not digest.is_due(workflow("digest_at: null"), done, at(23, 30))


def test_a_digest_at_before_the_business_day_start_is_the_morning_after() -> None:
    assert digest.due_at(workflow('digest_at: "01:00"'), DAY) == at(1, day=25)


def test_the_chain_verdict_says_how_it_finished_against_its_deadline() -> None:
    early = evaluation(StepStatus.COMPLETE, at(21), b_end=at(21, 40))
    late = evaluation(StepStatus.COMPLETE, at(23), b_end=at(22, 10))
    assert digest.chain_verdict(early, at(21)) == ("finished at 21:40, 20m before its 22:00 deadline", False)
    assert digest.chain_verdict(late, at(23)) == ("finished at 22:10, 10m after its 22:00 deadline", True)
    running = evaluation(StepStatus.RUNNING, at(23))
    assert digest.chain_verdict(running, at(23)) == (
        "not finished (running) as of 23:00: 1h 00m past its 22:00 deadline",
        True,
    )


def test_typical_is_the_learned_baseline_when_there_is_one_else_the_expected_duration() -> None:
    ev = evaluation(StepStatus.COMPLETE, at(21), b_end=at(7))
    learned = {"B-TWO": StepBaseline(step_id="B-TWO", sample_days=20, runs_per_day=1, duration_p50_s=3000)}
    one, two = digest.build(workflow(), ev, [], at(21), learned).steps
    assert (one.duration, one.typical, one.versus, one.records) == ("45m", "30m (expected)", "+50%", "1,200")
    assert (two.start, two.end, two.typical, two.versus) == ("06:00", "07:00", "50m (learned)", "+20%")


def test_each_alert_says_how_it_ended() -> None:
    base = {
        "step_id": "B-TWO",
        "batch_code": "B-TWO",
        "kind": "FAILED",
        "severity": "CRITICAL",
        "title": "B-TWO failed",
    }
    cleared = digest.DigestAlert(**base, state="resolved", resolution="cleared", resolved_at=at(16, 30))
    by_hand = digest.DigestAlert(**base, state="resolved", resolution="manual", resolved_by="ops", resolved_at=at(9))
    acked = digest.DigestAlert(**base, state="acknowledged", acknowledged_by="ana", acknowledged_at=at(15))
    lines = [digest.alert_line(a, "Asia/Dhaka", DAY) for a in (cleared, by_hand, acked)]
    assert lines == [
        "CRITICAL FAILED B-TWO: B-TWO failed — resolved by itself at 16:30",
        "CRITICAL FAILED B-TWO: B-TWO failed — resolved by ops at 09:00",
        "CRITICAL FAILED B-TWO: B-TWO failed — still open, acknowledged by ana at 15:00",
    ]


def test_the_rendered_digest_has_a_mail_and_a_notice_for_the_chat_channels() -> None:
    ev = evaluation(StepStatus.COMPLETE, at(21), b_end=at(22, 10))
    content = render_digest(digest.build(workflow(), ev, [], at(22, 15)), "http://x/page")
    assert (
        content.subject
        == "[DIGEST] demo business day 2026-11-24: chain finished at 22:10, 10m after its 22:00 deadline"
    )
    assert "A-ONE" in content.text and "B-TWO" in content.html and "No alerts this business day." in content.text
    assert content.notice is not None
    assert (content.notice.kind, content.notice.severity, content.notice.page_url) == (
        "digest",
        "WARNING",
        "http://x/page",
    )


def test_a_step_made_good_by_a_rerun_is_timed_by_its_good_run_like_the_page() -> None:
    ev = evaluation(StepStatus.COMPLETE, at(23), b_end=at(10, 30))
    runs = [
        RunView(
            batch_cd="A-ONE",
            batch_nbr=1,
            rerun_nbr=0,
            step_id="A-ONE",
            status=RunStatus.ERROR,
            start=at(5),
            end=at(5, 20),
        ),
        RunView(
            batch_cd="A-ONE",
            batch_nbr=1,
            rerun_nbr=1,
            step_id="A-ONE",
            status=RunStatus.COMPLETE,
            start=at(6),
            end=at(6, 30),
        ),
    ]
    first = ev.steps[0].model_copy(update={"runs": runs, "end": at(6, 30), "duration_s": 5400.0})
    ev = ev.model_copy(update={"steps": [first, ev.steps[1]]})
    row = digest.build(workflow(), ev, [], at(23)).steps[0]
    # the good run took 30m against 30m expected, not 1h 30m (+200 %) for the whole span
    assert (row.duration, row.versus) == ("30m (2 runs, 1h 30m in all)", "+0%")
