"""The trigger's pure decisions: how long to back off, and whether a new fingerprint is a change."""

from __future__ import annotations

import datetime as dt

from batch_monitor.source import Fingerprint
from batch_monitor.triggers import backoff_delay, change_between

DAY = dt.date(2026, 11, 24)
RUNNING = Fingerprint(
    DAY, (("20", 1, "2026-11-24 12:00:00", ""), ("40", 4, "2026-11-24 09:00:00", "2026-11-24 09:25:00"))
)
FAILED = Fingerprint(DAY, (("30", 1, "2026-11-24 12:00:00", "2026-11-24 14:30:00"), RUNNING.statuses[1]))


def test_backoff_doubles_from_the_interval_and_stops_at_the_maximum() -> None:
    assert [backoff_delay(n, 30, 300) for n in range(0, 7)] == [30, 30, 60, 120, 240, 300, 300]
    assert backoff_delay(10_000, 30, 300) == 300


def test_the_first_fingerprint_and_an_unchanged_one_are_no_change() -> None:
    assert change_between(None, RUNNING) is None
    assert change_between(RUNNING, Fingerprint(DAY, RUNNING.statuses)) is None


def test_a_run_turning_to_error_is_described_by_its_counts_and_latest_end() -> None:
    assert change_between(RUNNING, FAILED) == (
        "status 20: 1 → 0 runs; status 30: 0 → 1 runs; latest end 2026-11-24 09:25:00 → 2026-11-24 14:30:00"
    )


def test_a_new_business_day_only_sets_the_baseline() -> None:
    assert change_between(RUNNING, Fingerprint(DAY + dt.timedelta(days=1), ())) is None


def test_the_payload_is_plain_json_values() -> None:
    assert FAILED.as_payload() == {
        "business_date": "2026-11-24",
        "runs_by_status": {"30": 1, "40": 4},
        "latest_start": "2026-11-24 12:00:00",
        "latest_end": "2026-11-24 14:30:00",
    }
