"""The fast path's workflow fields: ``watch`` (off unless a file turns it on) and ``watch_interval``."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from batch_monitor.config import WorkflowConfig, parse_workflow
from batch_monitor.exceptions import WorkflowConfigError

BASE = """
workflow_id: demo
timezone: Asia/Dhaka
steps:
  - batch_code: A-ONE
"""


def parse(extra: str = "") -> WorkflowConfig:
    return parse_workflow(textwrap.dedent(BASE) + textwrap.dedent(extra), Path("wf.yaml"))


def test_watching_is_off_by_default_and_polls_every_30_seconds_once_on() -> None:
    assert parse().watch is False
    watched = parse("watch: true\n")
    assert watched.watch is True and watched.watch_interval == dt.timedelta(seconds=30)


def test_a_watch_interval_reads_as_people_write_it() -> None:
    assert parse("watch: true\nwatch_interval: 10s\n").watch_interval == dt.timedelta(seconds=10)
    assert parse("watch_interval: 2m\n").watch_interval == dt.timedelta(minutes=2)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("watch: sometimes", "wf.yaml: invalid workflow file\n  - field 'watch': Input should be a valid boolean"),
        ("watch_interval: 1s", "field 'watch_interval': 1s is out of range; poll CC&B every 5s to 15m"),
        ("watch_interval: 1h", "field 'watch_interval': 1h 00m is out of range"),
        ("watch_interval: soon", "field 'watch_interval': 'soon' is not a duration"),
        ("watch_intervall: 30s", "field 'watch_intervall': unknown field (check the spelling)"),
    ],
)
def test_bad_watch_settings_are_named_with_their_file_and_field(line: str, fragment: str) -> None:
    with pytest.raises(WorkflowConfigError) as error:
        parse(line + "\n")
    assert fragment in str(error.value)
