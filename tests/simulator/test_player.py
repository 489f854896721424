"""play() writes what CC&B would show at a moment: idempotent, rewindable, other rows untouched."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from tests.support.ccb import DAY, DPDC, at, dump, scenario

from batch_monitor.simulator import play
from batch_monitor.simulator.ddl import ci_batch_inst, ci_batch_run, ci_msg_log, ci_msg_logparm, d1_init_msrmt_data


def _runs(engine: sa.Engine) -> list[tuple[str, int, str, bool]]:
    """(batch code, rerun, status code, has an end) of every run, in start order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ci_batch_run).order_by(ci_batch_run.c.start_dttm, ci_batch_run.c.batch_rerun_nbr)
        ).all()
    return [(r.batch_cd.strip(), int(r.batch_rerun_nbr), r.run_status, r.end_dttm is not None) for r in rows]


def test_playing_the_same_moment_twice_leaves_the_same_rows(ccb: sa.Engine) -> None:
    failure = scenario("failure")
    play(ccb, failure, DPDC, DAY, at("15:30"))
    first = dump(ccb)
    play(ccb, failure, DPDC, DAY, at("15:30"))
    assert dump(ccb) == first
    assert len(first["ci_batch_run"]) == 6 and len(first["ci_msg_log"]) == 1


def test_playing_an_earlier_moment_after_a_later_one_rewinds_the_tables(ccb: sa.Engine) -> None:
    stuck = scenario("stuck")
    play(ccb, stuck, DPDC, DAY, at("07:30"))
    morning = dump(ccb)
    play(ccb, stuck, DPDC, DAY, at("04:00"))  # the next morning: the whole day has run
    assert dump(ccb) != morning
    play(ccb, stuck, DPDC, DAY, at("07:30"))
    assert dump(ccb) == morning


def test_the_tables_show_running_failed_and_complete_runs_with_their_codes_and_messages(ccb: sa.Engine) -> None:
    result = play(ccb, scenario("failure"), DPDC, DAY, at("15:30"))
    assert (result.runs, result.running, result.failed, result.pending_imds) == (6, 1, 1, 0)
    assert _runs(ccb) == [
        ("CM-DMRU", 0, "40", True),
        ("D1-IMD", 0, "40", True),
        ("D1-IMD", 0, "40", True),
        ("D1-IMD", 0, "40", True),
        ("C1-PPBTR", 0, "30", True),
        ("C1-PPBTR", 1, "20", False),
    ]
    with ccb.connect() as conn:
        message = conn.execute(
            sa.select(ci_batch_inst.c.batch_thread_nbr, ci_msg_logparm.c.message_parm, ci_msg_log.c.cre_dttm)
            .join(ci_msg_log, ci_msg_log.c.scheduler_id == ci_batch_inst.c.scheduler_id)
            .join(ci_msg_logparm, ci_msg_logparm.c.scheduler_id == ci_msg_log.c.scheduler_id)
        ).one()
        executions = conn.execute(sa.select(sa.func.count()).select_from(ci_batch_inst)).scalar_one()
    assert int(message.batch_thread_nbr) == 4
    assert message.message_parm == "ORA-12545 Connection timeout"
    assert message.cre_dttm == dt.datetime(2026, 11, 24, 14, 30)  # CC&B's wall clock, Asia/Dhaka
    assert executions == 8 + 6 + 6 + 4 + 6 + 6  # one execution per thread: nothing was restarted


def test_pending_imds_follow_the_scenario(ccb: sa.Engine) -> None:
    normal = scenario("normal")
    counts = []
    for clock in ("05:00", "06:15", "06:30", "08:10", "09:25", "12:00"):
        play(ccb, normal, DPDC, DAY, at(clock))
        with ccb.connect() as conn:
            counts.append(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(d1_init_msrmt_data)
                    .where(d1_init_msrmt_data.c.bo_status_cd == "PENDING")
                ).scalar_one()
            )
    assert counts == [2400, 2400, 900, 150, 0, 0]


def test_playing_a_day_leaves_other_days_and_foreign_rows_alone(ccb: sa.Engine) -> None:
    normal = scenario("normal")
    tomorrow = DAY + dt.timedelta(days=1)
    with ccb.begin() as conn:
        conn.execute(
            sa.insert(ci_batch_run).values(
                batch_cd="CM-DMRU",
                batch_nbr=17,
                batch_rerun_nbr=0,
                run_status="40",
                start_dttm=dt.datetime(2026, 11, 24, 9, 0),
                end_dttm=dt.datetime(2026, 11, 24, 9, 30),
            )
        )
    play(ccb, normal, DPDC, DAY, at("23:00"))
    play(ccb, normal, DPDC, tomorrow, at("23:00", tomorrow))
    play(ccb, normal, DPDC, tomorrow, at("05:30", tomorrow))
    with ccb.connect() as conn:
        by_day = dict(
            conn.execute(
                sa.select(ci_batch_run.c.batch_bus_dt, sa.func.count()).group_by(ci_batch_run.c.batch_bus_dt)
            ).all()
        )
    assert {str(day): count for day, count in by_day.items()} == {"None": 1, "2026-11-24": 10, "2026-11-25": 1}
