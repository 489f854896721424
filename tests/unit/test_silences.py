"""Which alerts a silence, snooze or maintenance window covers as of a moment. Pure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from batch_monitor.config import MaintenanceWindow, parse_workflow
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.silences import (
    Silence,
    covering,
    describe,
    maintenance_silences,
    window_occurrences,
    workflow_maintenance,
)

UTC = dt.UTC
T9 = dt.datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # 09:00 in Dhaka (UTC+6)
H = dt.timedelta(hours=1)
DHAKA = "Asia/Dhaka"


def silence(**scope: object) -> Silence:
    values: dict[str, object] = {
        "workflow_id": "dpdc_ami",
        "starts_at": T9,
        "ends_at": T9 + 2 * H,
        "created_by": "op1",
        "comment": "planned rerun",
        "id": 1,
    }
    values.update(scope)
    return Silence(**values)  # type: ignore[arg-type]


def test_a_workflow_silence_covers_every_step_and_kind_while_it_lasts() -> None:
    whole = silence()
    assert whole.covers("C1-PPBTR", "FAILED", 7, T9)
    assert whole.covers("_chain", "MISSED_DEADLINE", None, T9 + H)
    assert not whole.covers("C1-PPBTR", "FAILED", 7, T9 - dt.timedelta(seconds=1))  # not yet
    assert not whole.covers("C1-PPBTR", "FAILED", 7, T9 + 2 * H)  # the end is not covered


def test_a_step_silence_covers_only_that_step_and_kinds_narrow_it_further() -> None:
    step = silence(step_id="C1-PPBTR")
    assert step.covers("C1-PPBTR", "STUCK", None, T9)
    assert not step.covers("F1-FLUSH", "STUCK", None, T9)
    kinds = silence(step_id="C1-PPBTR", kinds=("FAILED",))
    assert kinds.covers("C1-PPBTR", "FAILED", None, T9)
    assert not kinds.covers("C1-PPBTR", "MISSED_DEADLINE", None, T9)
    any_step = silence(kinds=("LATE_START", "AT_RISK"))
    assert any_step.covers("D1-IMD", "LATE_START", None, T9)
    assert not any_step.covers("D1-IMD", "FAILED", None, T9)


def test_a_snooze_covers_its_one_alert_not_another_of_the_same_step_and_kind() -> None:
    snooze = silence(step_id="C1-PPBTR", kinds=("FAILED",), alert_id=7)
    assert snooze.source == "snooze"
    assert snooze.covers("C1-PPBTR", "FAILED", 7, T9)
    assert not snooze.covers("C1-PPBTR", "FAILED", 8, T9)  # the same failure on another business day


def test_ending_a_silence_early_stops_it_covering_from_that_moment() -> None:
    ended = silence(ended_at=T9 + H, ended_by="op2")
    assert ended.end == T9 + H
    assert ended.covers("X", "FAILED", None, T9 + H - dt.timedelta(seconds=1))
    assert not ended.covers("X", "FAILED", None, T9 + H)
    late_end = silence(ended_at=T9 + 5 * H)  # ended after it was over anyway: its end stays
    assert late_end.end == T9 + 2 * H


def test_of_several_covering_silences_the_one_that_lasts_longest_is_named() -> None:
    short, long_ = silence(id=1, ends_at=T9 + H), silence(id=2, ends_at=T9 + 3 * H, created_by="op2")
    other = silence(id=3, step_id="F1-FLUSH", ends_at=T9 + 9 * H)
    chosen = covering([short, long_, other], "C1-PPBTR", "FAILED", None, T9)
    assert chosen is not None and chosen.id == 2
    assert covering([short, long_], "C1-PPBTR", "FAILED", None, T9 + 4 * H) is None


def test_the_text_names_the_end_in_local_business_time_who_and_why() -> None:
    assert describe(silence(), DHAKA, T9) == "silenced until 11:00 by op1: planned rerun"
    two_days = silence(ends_at=T9 + 48 * H)
    assert describe(two_days, DHAKA, T9) == "silenced until 2026-12-08 09:00 by op1: planned rerun"
    window = Silence("dpdc_ami", T9, T9 + H, "maintenance", "DB patching")
    assert window.source == "maintenance"
    assert describe(window, DHAKA, T9) == "silenced until 10:00 by a maintenance window: DB patching"


def window(**fields: object) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate(fields)


def test_a_cron_window_starts_at_each_cron_time_in_the_workflows_zone_and_lasts_its_duration() -> None:
    sundays = window(cron="0 2 * * SUN", duration="3h")  # 02:00 Dhaka = 20:00 UTC on Saturday
    week = (dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2026, 12, 15, tzinfo=UTC))
    assert window_occurrences(sundays, DHAKA, *week) == [
        (dt.datetime(2026, 12, 5, 20, 0, tzinfo=UTC), dt.datetime(2026, 12, 5, 23, 0, tzinfo=UTC)),
        (dt.datetime(2026, 12, 12, 20, 0, tzinfo=UTC), dt.datetime(2026, 12, 12, 23, 0, tzinfo=UTC)),
    ]


def test_a_cron_window_that_began_before_the_moment_still_covers_it() -> None:
    sundays = window(cron="0 2 * * SUN", duration="3h")
    inside = dt.datetime(2026, 12, 5, 22, 30, tzinfo=UTC)  # 04:30 Dhaka, Sunday
    found = maintenance_silences("dpdc_ami", DHAKA, [sundays], inside, inside + dt.timedelta(microseconds=1))
    assert [(s.starts_at.hour, s.ends_at.hour, s.step_id) for s in found] == [(20, 23, None)]
    assert found[0].covers("C1-PPBTR", "FAILED", None, inside)
    after = dt.datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    assert maintenance_silences("dpdc_ami", DHAKA, [sundays], after, after + H) == []


def test_a_from_to_window_is_in_local_time_unless_it_carries_an_offset() -> None:
    local = window(**{"from": "2026-12-06 02:00", "to": "2026-12-06 04:00"})
    utc_given = window(**{"from": "2026-12-06T02:00:00+00:00", "to": "2026-12-06T04:00:00+00:00"})
    day = (dt.datetime(2026, 12, 5, tzinfo=UTC), dt.datetime(2026, 12, 7, tzinfo=UTC))
    assert window_occurrences(local, DHAKA, *day) == [
        (dt.datetime(2026, 12, 5, 20, 0, tzinfo=UTC), dt.datetime(2026, 12, 5, 22, 0, tzinfo=UTC))
    ]
    assert window_occurrences(utc_given, DHAKA, *day)[0][0] == dt.datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    later = (dt.datetime(2026, 12, 7, tzinfo=UTC), dt.datetime(2026, 12, 8, tzinfo=UTC))
    assert window_occurrences(local, DHAKA, *later) == []


YAML = """
workflow_id: w
timezone: Asia/Dhaka
steps:
  - batch_code: A
  - batch_code: B
maintenance:
{windows}
"""


def test_a_window_naming_steps_silences_only_those_steps() -> None:
    wf = parse_workflow(
        YAML.format(windows='  - {cron: "0 2 * * SUN", duration: 3h, steps: [B], comment: reindex}'), Path("w.yaml")
    )
    inside = dt.datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
    found = workflow_maintenance(wf, inside, inside + H)
    assert [(s.step_id, s.comment, s.created_by) for s in found] == [("B", "reindex", "maintenance")]
    assert covering(found, "B", "FAILED", None, inside) is not None
    assert covering(found, "A", "FAILED", None, inside) is None


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ('  - {cron: "0 2 * * FUNDAY", duration: 3h}', "field 'maintenance[0].cron': '0 2 * * FUNDAY' is not a cron"),
        ('  - {cron: "0 2 * * SUN"}', "field 'maintenance[0]': a 'cron' window needs a 'duration'"),
        ('  - {cron: "0 2 * * SUN", duration: 3h, to: "2026-12-06 04:00"}', "field 'maintenance[0]': give either"),
        ('  - {from: "2026-12-06 04:00", to: "2026-12-06 02:00"}', "field 'maintenance[0]': 'to' must come after"),
        ('  - {from: "soon", to: "2026-12-06 02:00"}', "field 'maintenance[0].from': 'soon' is not a date and time"),
        ('  - {cron: "0 2 * * SUN", duration: 3h, steps: [Z]}', "field 'maintenance[0].steps': unknown step 'Z'"),
        ('  - {cron: "0 2 * * SUN", duration: 3h, step: [A]}', "field 'maintenance[0].step': unknown field"),
        ('  - {cron: "0 2 * * SUN", duration: 8d}', "field 'maintenance[0]': a window's 'duration' may be at most"),
    ],
)
def test_a_bad_window_is_refused_at_import_naming_the_file_and_field(windows: str, message: str) -> None:
    with pytest.raises(WorkflowConfigError) as caught:
        parse_workflow(YAML.format(windows=windows), Path("site/workflows/w.yaml"))
    text = str(caught.value)
    assert text.startswith("site/workflows/w.yaml: invalid workflow file")
    assert message in text
