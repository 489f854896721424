"""Repository functions on a real PostgreSQL: configuration, snapshots, evaluations, runs,
progress memory, daily summaries and purging."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from tests.support.evaluations import DAY, evaluation, finding, run

from batch_monitor import settings
from batch_monitor.config import WorkflowConfig
from batch_monitor.constants import FindingKind, RunStatus, StepStatus
from batch_monitor.exceptions import StoreError
from batch_monitor.models import (
    EmailContent,
    Observations,
    Progress,
    RiskMemory,
    RunObservation,
    StepBaseline,
    ThreadObservation,
)
from batch_monitor.store import alerts, outbox, repository, schema

from .conftest import ONCALL, RENDER, T0, tick

WF = "dpdc_ami"
H = dt.timedelta(hours=1)


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# --------------------------------------------------------------------------- configuration


def test_it_records_one_row_per_step_and_the_workflow_settings(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    with store.begin() as conn:
        repository.save_workflow_config(conn, dpdc, T0)
    with store.connect() as conn:
        rows = conn.execute(sa.select(schema.workflow_config).order_by(schema.workflow_config.c.position)).all()
        settings = {
            key: repository.get_setting(conn, key, scope=WF)
            for key in (
                "timezone",
                "business_day_start",
                "schedule",
                "on_call",
                "chain_finish_by",
                "email_min_severity",
            )
        }
    assert [r.step_id for r in rows] == [s.id for s in dpdc.steps]
    imd = next(r for r in rows if r.step_id == "D1-IMD")
    assert imd.depends_on == ["CM-DMRU"]
    assert imd.expected_start == "after_predecessor"
    assert (imd.expected_duration_s, imd.max_duration_s, imd.finish_by) == (2400.0, 5400.0, "11:30")
    assert imd.repeat_rule["until_sql"] == "checks/d1_imd_pending_count.sql"
    assert rows[0].expected_start == "05:00"
    assert rows[0].loaded_at == T0
    assert settings == {
        "timezone": "Asia/Dhaka",
        "business_day_start": "05:00",
        "schedule": "*/15 * * * *",
        "on_call": ["ccb-oncall@dpdc.example"],
        "chain_finish_by": "22:00",
        "email_min_severity": "CRITICAL",
    }


def test_reloading_the_yaml_drops_removed_steps_and_keeps_unchanged_ones(
    store: sa.Engine, dpdc: WorkflowConfig
) -> None:
    with store.begin() as conn:
        repository.save_workflow_config(conn, dpdc, T0)
    sms = dpdc.steps[-1]
    flush = next(s for s in dpdc.steps if s.id == "F1-FLUSH")
    changed_flush = flush.model_copy(update={"name": "Flush (renamed)"})
    steps = [changed_flush if s.id == "F1-FLUSH" else s for s in dpdc.steps if s is not sms]
    smaller = dpdc.model_copy(update={"steps": steps, "schedule": "*/5 * * * *"})
    with store.begin() as conn:
        repository.save_workflow_config(conn, smaller, T0 + H)
    with store.connect() as conn:
        rows = {r.step_id: r for r in conn.execute(sa.select(schema.workflow_config))}
        schedule = repository.get_setting(conn, "schedule", scope=WF)
    assert sms.id not in rows and len(rows) == len(dpdc.steps) - 1
    assert (rows["F1-FLUSH"].step_name, rows["F1-FLUSH"].loaded_at) == ("Flush (renamed)", T0 + H)
    assert rows["CM-DMRU"].loaded_at == T0
    assert schedule == "*/5 * * * *"


def test_default_settings_are_added_but_never_overwrite_an_operator(store: sa.Engine) -> None:
    t = schema.monitoring_config
    with store.begin() as conn:
        repository.ensure_default_settings(conn)
        conn.execute(sa.update(t).where(t.c.key == "retention_days").values(value=90))
        repository.ensure_default_settings(conn)
        values = {k: repository.get_setting(conn, k) for k in repository.DEFAULT_SETTINGS}
        missing = repository.get_setting(conn, "no_such_key", default="fallback")
    assert values == {
        "retention_days": 90,
        "snapshot_retention_days": 2,
        "stuck_threshold_minutes": 60,
        "refresh_interval_seconds": 1800,
        "max_silence_days": 7,
    }
    assert missing == "fallback"


def test_the_global_settings_hold_only_the_keys_the_monitor_reads(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    # a store written by an older monitor: a global business_day_start that nothing read
    t = schema.monitoring_config
    with store.begin() as conn:
        conn.execute(sa.insert(t).values(scope="global", key="business_day_start", value="06:00"))
        repository.save_workflow_config(conn, dpdc, T0)
        repository.ensure_default_settings(conn)
        global_keys = set(conn.scalars(sa.select(t.c.key).where(t.c.scope == "global")))
        workflow_keys = set(conn.scalars(sa.select(t.c.key).where(t.c.scope == WF)))
    assert global_keys == {s.name for s in settings.TABLE_SETTINGS}
    assert "business_day_start" in workflow_keys  # the workflow's own, from its YAML


@pytest.mark.parametrize(
    ("stored", "read"),
    [(90, 90.0), ("45", 45.0), (0.5, 0.5), (0, 60.0), (-3, 60.0), ("soon", 60.0), (True, 60.0), (None, 60.0)],
)
def test_a_global_setting_that_is_not_a_positive_number_reads_as_its_default(
    store: sa.Engine, stored: object, read: float
) -> None:
    t = schema.monitoring_config
    with store.begin() as conn:
        repository.ensure_default_settings(conn)
        conn.execute(sa.update(t).where(t.c.key == "retention_days").values(value=stored))
        assert repository.setting(conn, settings.RETENTION_DAYS) == read


# --------------------------------------------------------------------------- snapshots, evaluations


def observations(as_of: dt.datetime, records: int = 500) -> Observations:
    thread = ThreadObservation(thread_nbr=1, status=RunStatus.RUNNING, start=T0, records=records)
    return Observations(
        workflow_id=WF,
        business_date=DAY,
        as_of=as_of,
        window_start=T0 - 2 * H,
        window_end=T0 + 22 * H,
        runs=[RunObservation(batch_cd="C1-PPBTR", batch_nbr=7, status=RunStatus.RUNNING, start=T0, threads=[thread])],
        checks={"D1-IMD": 3},
        anomalies=["CM-DMRU run 5 has no start time"],
    )


def test_a_snapshot_round_trips_and_a_tick_is_kept_once(store: sa.Engine) -> None:
    obs = observations(tick(1))
    with store.begin() as conn:
        first = repository.save_snapshot(conn, obs)
        again = repository.save_snapshot(conn, obs)
        later = repository.save_snapshot(conn, observations(tick(2)))
        loaded = repository.load_snapshot(conn, first)
    assert first == again != later
    assert loaded == obs


def test_saving_a_tick_again_with_other_data_clears_its_stale_evaluation(store: sa.Engine) -> None:
    judged = evaluation(tick(1), [finding(FindingKind.FAILED)])
    with store.begin() as conn:
        sid = repository.save_snapshot(conn, observations(tick(1)))
        repository.save_tick_evaluation(conn, sid, judged)
        repository.save_snapshot(conn, observations(tick(1)))
        kept = repository.load_tick_evaluation(conn, sid)
        repository.save_snapshot(conn, observations(tick(1), records=900))
        cleared = repository.load_tick_evaluation(conn, sid)
    assert kept is not None and (kept[0], cleared) == (judged, None)


def test_a_tick_evaluated_again_keeps_its_latest_evaluation_and_goes_with_its_snapshot(store: sa.Engine) -> None:
    first, again = evaluation(tick(1)), evaluation(tick(1), [finding(FindingKind.FAILED)])
    with store.begin() as conn:
        sid = repository.save_snapshot(conn, observations(tick(1)))
        repository.save_tick_evaluation(conn, sid, first)
        repository.save_tick_evaluation(conn, sid, again)  # the evaluate task retried
        latest = repository.load_tick_evaluation(conn, sid)
        repository.purge(conn, workflow_id=WF, before=DAY + dt.timedelta(days=1))
        left = conn.execute(sa.select(sa.func.count()).select_from(schema.tick_evaluations)).scalar_one()
    assert latest is not None and (latest[0], left) == (again, 0)


def test_a_big_workflow_s_snapshot_is_stored_in_a_fraction_of_its_json(store: sa.Engine) -> None:
    one = observations(tick(1)).runs[0]
    runs = [one.model_copy(update={"batch_cd": f"SYN{n:05}", "batch_nbr": 1000 + n}) for n in range(500)]
    obs = observations(tick(1)).model_copy(update={"runs": runs})
    with store.begin() as conn:
        sid = repository.save_snapshot(conn, obs)
        t = schema.source_snapshots
        stored = conn.execute(sa.select(sa.func.octet_length(t.c.payload)).where(t.c.id == sid)).scalar_one()
    assert stored < len(obs.model_dump_json()) / 5


def test_loading_a_missing_snapshot_names_it(store: sa.Engine) -> None:
    with store.connect() as conn, pytest.raises(StoreError, match="no snapshot with id 4242"):
        repository.load_snapshot(conn, 4242)


def test_an_older_evaluation_arriving_late_does_not_replace_a_newer_one(store: sa.Engine) -> None:
    newer = evaluation(tick(2), [finding(FindingKind.FAILED)])
    older = evaluation(tick(1))
    with store.begin() as conn:
        assert repository.save_evaluation(conn, newer)
        assert not repository.save_evaluation(conn, older)
        assert repository.save_evaluation(conn, newer)  # the same tick again is fine
        assert repository.load_evaluation(conn, WF, DAY) == newer
        assert repository.load_evaluation(conn, WF, DAY + dt.timedelta(days=1)) is None


# --------------------------------------------------------------------------- runs and progress


def runs_in_store(engine: sa.Engine) -> dict[str, tuple[object, ...]]:
    t = schema.execution_logs
    with engine.connect() as conn:
        return {
            f"{r.batch_cd}:{r.batch_nbr}:{r.rerun_nbr}": (r.status, r.records, r.end_time, r.observed_at)
            for r in conn.execute(sa.select(t))
        }


def test_upserting_the_same_runs_twice_keeps_one_row_per_run(store: sa.Engine) -> None:
    ev = evaluation(
        tick(4),
        runs=[
            run("C1-PPBTR", 7, status=RunStatus.ERROR, start=T0, end=T0 + H, records=10),
            run("C1-PPBTR", 7, 1, status=RunStatus.RUNNING, start=T0 + H, records=20),
            run("CM-DMRU", 3, start=T0 - H, end=T0, records=30),
        ],
    )
    with store.begin() as conn:
        assert repository.upsert_runs(conn, WF, ev) == 3
    first = runs_in_store(store)
    with store.begin() as conn:
        repository.upsert_runs(conn, WF, ev)
    assert runs_in_store(store) == first
    assert first["C1-PPBTR:7:1"] == ("running", 20, None, tick(4))


def test_a_late_older_tick_never_moves_a_run_backwards(store: sa.Engine) -> None:
    done = evaluation(tick(5), runs=[run("C1-PPBTR", 7, status=RunStatus.COMPLETE, start=T0, end=T0 + H, records=900)])
    running = evaluation(tick(3), runs=[run("C1-PPBTR", 7, status=RunStatus.RUNNING, start=T0, records=400)])
    with store.begin() as conn:
        repository.upsert_runs(conn, WF, done)
        assert repository.upsert_runs(conn, WF, running) == 0
    assert runs_in_store(store) == {"C1-PPBTR:7:0": ("complete", 900, T0 + H, tick(5))}


def test_a_finished_run_seen_again_as_it_is_stored_is_not_rewritten(store: sa.Engine) -> None:
    done = run("CM-DMRU", 3, start=T0 - H, end=T0, records=30)
    running = run("C1-PPBTR", 7, status=RunStatus.RUNNING, start=T0, records=20)
    with store.begin() as conn:
        assert repository.upsert_runs(conn, WF, evaluation(tick(6), runs=[done, running])) == 2
        assert repository.upsert_runs(conn, WF, evaluation(tick(7), runs=[done, running])) == 1  # the running one
    assert runs_in_store(store) == {
        "CM-DMRU:3:0": ("complete", 30, T0, tick(6)),  # the tick that stored it finished
        "C1-PPBTR:7:0": ("running", 20, None, tick(7)),
    }
    corrected = run("CM-DMRU", 3, start=T0 - H, end=T0, records=31)  # CC&B's count corrected afterwards
    with store.begin() as conn:
        assert repository.upsert_runs(conn, WF, evaluation(tick(8), runs=[corrected, running])) == 2
    assert runs_in_store(store)["CM-DMRU:3:0"] == ("complete", 31, T0, tick(8))


def test_progress_memory_round_trips_and_survives_a_tick_without_it(store: sa.Engine) -> None:
    memory = Progress(records=400, threads_done=2, changed_at=tick(1), seen_at=tick(2))
    running = run("C1-PPBTR", 7, status=RunStatus.RUNNING, start=T0, records=400)
    with store.begin() as conn:
        repository.upsert_runs(conn, WF, evaluation(tick(2), runs=[running], progress={"C1-PPBTR:7:0": memory}))
        assert repository.load_day_memory(conn, WF, DAY).progress == {"C1-PPBTR:7:0": memory}
        repository.upsert_runs(conn, WF, evaluation(tick(3), runs=[running]))
        remembered = repository.load_day_memory(conn, WF, DAY).progress
        other_day = repository.load_day_memory(conn, WF, DAY + dt.timedelta(days=1)).progress
    assert remembered == {"C1-PPBTR:7:0": memory.model_copy(update={"seen_at": tick(3)})}
    assert other_day == {}


def test_a_tick_reads_its_days_memory_and_baselines_in_one_query(store: sa.Engine) -> None:
    memory = Progress(records=400, threads_done=2, changed_at=tick(1), seen_at=tick(2))
    running = run("C1-PPBTR", 7, status=RunStatus.RUNNING, start=T0, records=400)
    done = run("CM-DMRU", 3, start=T0 - H, end=T0, records=30)
    ev = evaluation(tick(2), runs=[running, done], progress={"C1-PPBTR:7:0": memory})
    steps = [s.model_copy(update={"status": StepStatus.COMPLETE}) if s.step_id == "CM-DMRU" else s for s in ev.steps]
    risk = {"C1-PPBTR": RiskMemory(late_ticks=1, late_since=tick(2), predicted=tick(9), seen_at=tick(2))}
    ev = ev.model_copy(update={"steps": steps, "risk": risk})
    learned = [
        StepBaseline(step_id="CM-DMRU", sample_days=21, runs_per_day=1, duration_p50_s=2880, records_p50=30),
        StepBaseline(step_id="CM-DMRU", segment="weekday", sample_days=15, runs_per_day=1, duration_p50_s=2700.5),
        StepBaseline(step_id="CM-DMRU", segment="weekend", sample_days=6, runs_per_day=2, duration_p50_s=3000),
    ]
    with store.begin() as conn:
        repository.upsert_runs(conn, WF, ev)
        repository.save_evaluation(conn, ev)
        repository.replace_baselines(conn, WF, learned, DAY, T0)
    statements: list[str] = []
    sa.event.listen(store, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with store.connect() as conn:
        day = repository.load_day_memory(conn, WF, DAY, {"all", "weekday"})
        without_baselines = repository.load_day_memory(conn, WF, DAY)
        other_day = repository.load_day_memory(conn, WF, DAY + dt.timedelta(days=1), {"all"})
    assert len(statements) == 3
    assert day.progress == {"C1-PPBTR:7:0": memory}
    assert (day.risk, day.completed) == (risk, {"CM-DMRU"})
    assert sorted(day.baselines or [], key=lambda b: b.segment) == learned[:2]
    # a float column's whole number comes back a float, as it is stored (it is judged and shown as one)
    assert [type(b.duration_p50_s) for b in day.baselines or []] == [float, float]
    assert without_baselines == repository.DayMemory(day.progress, day.risk, day.completed, None)
    assert other_day == repository.DayMemory({}, {}, set(), learned[:1])


# --------------------------------------------------------------------------- summaries


def test_the_daily_summary_adds_up_the_runs_of_each_batch(store: sa.Engine) -> None:
    m = dt.timedelta(minutes=1)
    ev = evaluation(
        tick(40),
        runs=[
            run(
                "C1-PPBTR",
                7,
                status=RunStatus.ERROR,
                start=T0,
                end=T0 + 10 * m,
                duration_s=600.0,
                records=1000,
                errors=5,
                rps=1.5,
            ),
            run(
                "C1-PPBTR",
                7,
                1,
                status=RunStatus.COMPLETE,
                start=T0 + H,
                end=T0 + 90 * m,
                duration_s=1800.0,
                records=9000,
                errors=1,
                rps=5.0,
            ),
            run("F1-FLUSH", 1, start=T0 + 2 * H, end=T0 + 2 * H + 5 * m, duration_s=300.0, rps=0.0),
            run("F1-FLUSH", 2, start=T0 + 3 * H, end=T0 + 3 * H + 7 * m, duration_s=420.0, rps=0.0),
            run("F1-FLUSH", 3, status=RunStatus.RUNNING, start=T0 + 4 * H, duration_s=60.0, rps=9.0),
        ],
    )
    with store.begin() as conn:
        repository.upsert_runs(conn, WF, ev)
        assert repository.summarize_day(conn, WF, DAY, tick(41)) == 2
        assert repository.summarize_day(conn, WF, DAY, tick(42)) == 0  # nothing changed: nothing rewritten
        rows = {r.batch_cd: r for r in conn.execute(sa.select(schema.performance_summary))}
    ppbtr, flush = rows["C1-PPBTR"], rows["F1-FLUSH"]
    assert (ppbtr.runs, ppbtr.failures, ppbtr.success_rate) == (2, 1, 0.5)
    assert (ppbtr.avg_duration_s, ppbtr.max_duration_s, ppbtr.avg_rps) == (1200.0, 1800.0, 3.25)
    assert (ppbtr.total_records, ppbtr.total_errors) == (10000, 6)
    assert (ppbtr.first_start, ppbtr.last_end, ppbtr.computed_at) == (T0, T0 + 90 * m, tick(41))
    assert (flush.runs, flush.failures, flush.success_rate) == (3, 0, 1.0)
    assert (flush.avg_duration_s, flush.max_duration_s, flush.avg_rps) == (360.0, 420.0, 0.0)  # running run left out
    assert flush.last_end == T0 + 3 * H + 7 * m
    # the running run finishes: only its batch's row is written again, with the new figures
    finished = run("F1-FLUSH", 3, start=T0 + 4 * H, end=T0 + 4 * H + 6 * m, duration_s=360.0, rps=0.0)
    later = evaluation(tick(43), runs=[finished])
    with store.begin() as conn:
        repository.upsert_runs(conn, WF, later)
        assert repository.summarize_day(conn, WF, DAY, tick(43)) == 1
        rows = {r.batch_cd: r for r in conn.execute(sa.select(schema.performance_summary))}
    assert (rows["F1-FLUSH"].runs, rows["F1-FLUSH"].avg_duration_s, rows["F1-FLUSH"].computed_at) == (
        3,
        360.0,
        tick(43),
    )
    assert rows["C1-PPBTR"].computed_at == tick(41)


# --------------------------------------------------------------------------- purge


def test_purge_deletes_old_history_but_never_an_unsent_mail(store: sa.Engine, dpdc: WorkflowConfig) -> None:
    old_day, new_day = DAY - dt.timedelta(days=61), DAY
    mail = EmailContent(subject="s", text="t", html="h")
    for day, hour in ((old_day, 0), (new_day, 1)):
        ev = evaluation(
            T0 + (day - DAY) + hour * H,
            [finding(FindingKind.FAILED)],
            runs=[run("C1-PPBTR", 100 + hour)],
            business_date=day,
        )
        with store.begin() as conn:
            repository.save_snapshot(conn, observations(ev.as_of).model_copy(update={"business_date": day}))
            repository.upsert_runs(conn, WF, ev)
            alerts.sync_alerts(conn, dpdc, ev, recipients=ONCALL, render=RENDER, now=ev.as_of)
            repository.save_evaluation(conn, ev)
            repository.summarize_day(conn, WF, day, ev.as_of)
    other = evaluation(T0 - dt.timedelta(days=61), runs=[run("CM-DMRU", 9)], workflow_id="other", business_date=old_day)
    with store.begin() as conn:
        repository.upsert_runs(conn, "other", other)
        old_alert = conn.execute(
            sa.select(schema.alerts.c.id).where(schema.alerts.c.business_date == old_day)
        ).scalar_one()
        # the old alert's first mail was sent; a second one (queued by hand here) is not sent yet
        conn.execute(
            sa.update(schema.email_outbox)
            .values(sent_at=T0 - dt.timedelta(days=60))
            .where(schema.email_outbox.c.alert_id == old_alert)
        )
        outbox.enqueue(
            conn,
            dedupe_key="unsent",
            alert_id=old_alert,
            kind="alert",
            recipients=ONCALL,
            content=mail,
            now=T0 - dt.timedelta(days=60),
        )

    with store.begin() as conn:
        counts = repository.purge(conn, workflow_id=WF, before=DAY - dt.timedelta(days=60))
    assert counts == {
        "batch_email_outbox": 1,
        "batch_alert_events": 1,
        "batch_monitoring_alerts": 1,
        "batch_execution_logs": 1,
        "batch_performance_summary": 1,
        "batch_source_snapshots": 1,
        "batch_evaluations": 1,
    }
    with store.connect() as conn:
        left = conn.execute(sa.select(schema.email_outbox.c.dedupe_key, schema.email_outbox.c.alert_id)).all()
        kept = conn.execute(sa.select(schema.alerts.c.id, schema.alerts.c.business_date)).one()
        logs = {(r.workflow_id, r.business_date) for r in conn.execute(sa.select(schema.execution_logs))}
    # the unsent mail stays (its alert is gone); so does the mail of the alert that was kept
    assert set(left) == {("unsent", None), (f"alert:{kept.id}:opened:1", kept.id)}
    assert kept.business_date == new_day
    assert logs == {(WF, new_day), ("other", old_day)}  # another workflow's history is its own

    with store.begin() as conn:
        everything = repository.purge(conn, workflow_id=None, before=DAY - dt.timedelta(days=60))
    assert everything["batch_execution_logs"] == 1
    assert count(store, schema.email_outbox) == 2


def test_raw_snapshots_go_after_a_few_days_while_the_rest_of_the_history_stays(store: sa.Engine) -> None:
    for days_ago in (0, 1, 2, 3, 10):
        day = DAY - dt.timedelta(days=days_ago)
        with store.begin() as conn:
            repository.save_snapshot(
                conn, observations(T0 - days_ago * 24 * H).model_copy(update={"business_date": day})
            )
    with store.begin() as conn:
        counts = repository.purge(
            conn, workflow_id=WF, before=DAY - dt.timedelta(days=60), snapshots_before=DAY - dt.timedelta(days=2)
        )
    with store.connect() as conn:
        kept = sorted(conn.execute(sa.select(schema.source_snapshots.c.business_date)).scalars())
    assert counts["batch_source_snapshots"] == 2
    assert kept == [DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY]
