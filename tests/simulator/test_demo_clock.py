"""`make demo` at any hour: today's failure happened just before the start, on a clock shifted
consistently for the workflow and its scenarios (scripts/demo.py)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from tests.support.mail import MailServer

from batch_monitor import business_day as bd
from batch_monitor import simulator
from batch_monitor.config import load_workflows
from batch_monitor.constants import RunStatus
from batch_monitor.store.schema import alerts

DEMO_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_script", DEMO_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO = load_demo()
# starts spread around the clock (UTC), every 97 minutes over two days, DST-free zone
STARTS = [dt.datetime(2026, 12, 4, 0, 3, tzinfo=dt.UTC) + dt.timedelta(minutes=97 * n) for n in range(30)]


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.strftime("%d-%H%M"))
def test_at_any_start_today_s_failure_happened_in_the_two_minutes_before(start: dt.datetime, tmp_path: Path) -> None:
    workflows_dir, scenarios_dir = DEMO.write_shifted_files(DEMO.clock_shift("failure", start), into=tmp_path)
    dpdc = next(w for w in load_workflows(workflows_dir).workflows if w.workflow_id == "dpdc_ami")
    scenario = simulator.load_scenario(scenarios_dir / "failure.yaml")
    today = bd.business_date(start, dpdc.timezone, dpdc.business_day_start)

    def failed_runs(moment: dt.datetime) -> list[str]:
        day = simulator.state_at(scenario, dpdc, today, moment)
        return [r.batch_cd for r in day.runs if r.status == RunStatus.ERROR]

    assert failed_runs(start) == ["C1-PPBTR"]  # the demo's first tick (at its start) sees the failure
    assert failed_runs(start - dt.timedelta(minutes=3)) == []  # ... that came within the last 2 minutes
    window_start, _ = bd.window(today, dpdc.timezone, dpdc.business_day_start)
    assert start - window_start >= dt.timedelta(hours=9)  # the day so far is the scenario's morning


def test_only_quoted_clock_times_move_and_they_wrap_around_midnight() -> None:
    text = 'business_day_start: "05:00"\nfinish_by: "23:50"\nstart: "+4m"\nduration: 1h12m\n# at 14:30\n'
    assert DEMO.shift_clock_text(text, 20) == (
        'business_day_start: "05:20"\nfinish_by: "00:10"\nstart: "+4m"\nduration: 1h12m\n# at 14:30\n'
    )


def test_a_scenario_without_a_failure_plays_on_the_real_clock() -> None:
    assert DEMO.clock_shift("normal", STARTS[0]) == 0


@pytest.mark.parametrize("minutes", [0, 741])
def test_the_demo_s_workflow_sends_its_daily_digest_at_23_00_on_its_shifted_clock(
    minutes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo copies the shipped workflow (include/workflows), which keeps the default digest_at
    (the test workflows turn it off). An unshifted default 23:00 came in the middle of the shifted
    day: every replayed day mailed "chain not finished" mid-run, and today's digest at the start."""
    monkeypatch.delenv("BATCH_MONITOR_WORKFLOWS_DIR")
    workflows_dir, _scenarios = DEMO.write_shifted_files(minutes, into=tmp_path)
    [dpdc] = load_workflows(workflows_dir).workflows
    moved = (23 * 60 + minutes) % (24 * 60)
    assert (dpdc.digest_at, dpdc.business_day_start) == (
        dt.time(moved // 60, moved % 60),
        dt.time((5 * 60 + minutes) % (24 * 60) // 60, (5 * 60 + minutes) % 60),
    )


def test_a_workflow_that_sets_its_digest_keeps_it() -> None:
    assert DEMO.with_digest_at("workflow_id: x\ndigest_at: null\n") == "workflow_id: x\ndigest_at: null\n"
    assert DEMO.with_digest_at("workflow_id: x\n").endswith(
        '\ndigest_at: "23:00"  # the default, written out by the demo\n'
    )


def test_the_history_replay_of_a_day_after_a_later_one_raises_only_what_its_scenario_expects_and_mails_its_digest(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path
) -> None:
    """The demo replays its past days newest first into one CC&B: reading an older day "at" its
    replayed tick took the later day's rows for a CC&B clock hours ahead (DATA_QUALITY, and
    breaches judged from shifted times). Each replayed day's daily digest reaches the demo's mail
    sink once (digest_at as the demo's shipped workflow has it)."""
    workflows_dir, scenarios_dir = DEMO.write_shifted_files(0, into=tmp_path)
    dpdc = next(w for w in load_workflows(workflows_dir).workflows if w.workflow_id == "dpdc_ami")
    dpdc = dpdc.model_copy(update={"digest_at": dt.time(23, 0)})
    source = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.db'}")
    simulator.create_schema(source)
    later, earlier = dt.date(2026, 11, 25), dt.date(2026, 11, 24)
    for date in (later, earlier):
        _start, end = bd.window(date, dpdc.timezone, dpdc.business_day_start)
        DEMO.replay_day(source, store, dpdc, scenarios_dir / "normal.yaml", date, end)
    source.dispose()
    with store.connect() as conn:
        raised = conn.execute(sa.select(alerts.c.business_date, alerts.c.kind)).all()
    assert raised == []  # the normal day expects nothing, on either date
    digests = sorted(str(m.message["Subject"]) for m in mail_server.received)
    assert [d.split(": ")[0] for d in digests] == [
        f"[DIGEST] dpdc_ami business day {date.isoformat()}" for date in (earlier, later)
    ]  # the normal day mails nothing else
