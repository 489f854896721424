"""Edges of time: the 05:00 business-day boundary to the second, runs crossing midnight, the days
daylight saving time starts and ends (us_east_settlement, America/New_York), and a leap day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from tests.support.mail import MailServer

from batch_monitor import business_day as bd
from batch_monitor import pipeline
from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.simulator import ddl, parse_scenario
from batch_monitor.store import schema

from .conftest import Case
from .support import DAY, DPDC, PAGE, US_EAST, Ccb, alert_rows, day_ticks, local, play_ticks, prepare

AREA = "Time edges: 05:00 boundary, midnight, DST, leap day"


def insert_run(ccb: sa.Engine, code: str, nbr: int, start: dt.datetime, end: dt.datetime | None) -> None:
    """One complete CI_BATCH_RUN row with one thread, in the CC&B server's wall-clock time (Dhaka)."""
    naive = lambda m: bd.to_naive_local(m, DPDC.source_timezone) if m else None  # noqa: E731
    key = {"batch_cd": code, "batch_nbr": nbr, "batch_rerun_nbr": 0}
    with ccb.begin() as conn:
        conn.execute(
            sa.insert(ddl.ci_batch_run).values(
                **key,
                batch_bus_dt=start.date(),
                run_status="40" if end else "20",
                start_dttm=naive(start),
                end_dttm=naive(end),
            )
        )
        conn.execute(sa.insert(ddl.ci_batch_thd).values(**key, batch_thread_nbr=1, thread_status="40" if end else "20"))
        conn.execute(
            sa.insert(ddl.ci_batch_inst).values(
                **key,
                batch_thread_nbr=1,
                start_dttm=naive(start),
                end_dttm=naive(end),
                rec_proc_cnt=1000,
                rec_err_cnt=0,
                scheduler_id=nbr,
            )
        )


def test_a_run_starting_at_0500_to_the_second_opens_the_new_day_and_one_a_second_earlier_stays_in_the_old(
    store: sa.Engine, tmp_path: Path, reliability: Case
) -> None:
    day_start, _ = bd.window(DAY, DPDC.timezone, DPDC.business_day_start)
    reliability.tried(
        "CM-DMRU runs starting at 04:59:59 and at 05:00:00 local (Asia/Dhaka) on 2026-11-24; ticks at 04:45 and "
        "exactly at 05:00:00"
    )
    ccb = sa.create_engine(f"sqlite:///{tmp_path / 'ccb.sqlite'}")
    ddl.create_schema(ccb)
    insert_run(ccb, "CM-DMRU", 1, day_start - dt.timedelta(seconds=1), day_start + dt.timedelta(minutes=1))
    insert_run(ccb, "CM-DMRU", 2, day_start, None)
    prepare(store, date=DAY - dt.timedelta(days=1))
    for as_of in (day_start - dt.timedelta(minutes=15), day_start):
        pipeline.run_tick(ccb, store, DPDC, as_of, page_url_base=PAGE)
    with store.connect() as conn:
        placed = dict(
            conn.execute(sa.select(schema.execution_logs.c.batch_nbr, schema.execution_logs.c.business_date)).all()
        )
        judged = sorted((r.business_date, local(r.as_of)) for r in conn.execute(sa.select(schema.source_snapshots)))
    previous = DAY - dt.timedelta(days=1)
    assert placed == {1: previous, 2: DAY}
    assert judged == [(previous, "04:45"), (previous, "05:00"), (DAY, "05:00")]
    reliability.observed(
        f"the 04:59:59 run stored under business date {previous}, the 05:00:00 run under {DAY}; the tick at "
        "05:00:00 judged the new day and, since the old one was unfinished, the old day too"
    )
    ccb.dispose()


def test_a_run_crossing_midnight_stays_in_its_business_day_and_its_alerts_clear_after_midnight(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "midnight scenario, the whole business day every 15 min: BILLRESTSMS starts 23:30 and ends 00:40 the "
        "next calendar day, after its 21:30 deadline and the chain's 22:00 deadline"
    )
    ccb = Ccb(tmp_path, "midnight")
    prepare(store)
    play_ticks(ccb, store, day_ticks(DAY), channel=SmtpChannel())
    alerts = alert_rows(store)
    assert {(a["kind"], a["step_id"]) for a in alerts} == ccb.scenario.expected
    assert all(a["business_date"] == DAY and a["state"] == "resolved" for a in alerts)
    with store.connect() as conn:
        [sms] = conn.execute(
            sa.select(schema.execution_logs).where(schema.execution_logs.c.batch_cd == "BILLRESTSMS")
        ).mappings()
    in_dhaka = [bd.to_utc(sms[c]).in_timezone(DPDC.timezone).date() for c in ("start_time", "end_time")]
    assert sms["business_date"] == DAY and in_dhaka == [DAY, DAY + dt.timedelta(days=1)]
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert all(str(DAY) in s for s in subjects)
    # the two deadlines, unacknowledged for 2 h (remind_every), are each reminded once before they clear
    reminders = [s for s in subjects if s.startswith("[REMINDER]")]
    assert len(subjects) - len(reminders) == 4 and len(reminders) == 2 and all("no change" in s for s in reminders)
    reliability.observed(
        f"the run is stored under {DAY} (ended {local(sms['end_time'])} the next morning); alerts "
        + ", ".join(f"{a['kind']} {a['step_id']} {local(a['first_seen_at'])}→{local(a['resolved_at'])}" for a in alerts)
        + f", all of business day {DAY}; {len(subjects)} mails (the 2 CRITICAL deadlines, opened, reminded once "
        "and cleared)"
    )
    ccb.dispose()


DST_FAILURE = parse_scenario(
    """
name: us_east_dst_failure
workflow: us_east_settlement
expected_alerts:
  - {kind: FAILED, step_id: SETL-EXTR}
runs:
  - {batch_code: SETL-EXTR, start: "02:35", duration: 8m, status: error, threads: 4, records: 9000, errors: 1,
     failed_threads: [2], error: ORA-01555 snapshot too old}
  - {batch_code: SETL-EXTR, rerun: true, start: "+4m", duration: 8m, threads: 4, records: 21000}
  - {batch_code: SETL-POST, start: "+7m", duration: 58m, threads: 6, records: 50000}
""",
    Path("us_east_dst_failure.yaml"),
)

DST_DAYS = {
    dt.date(2024, 3, 10): "spring forward: 02:30 does not exist, the day starts 03:30 EDT (23 h)",
    dt.date(2024, 11, 2): "the day before fall back: 01:00–02:00 comes twice near its end (25 h)",
    dt.date(2024, 11, 3): "fall back Sunday: the first day on EST (24 h)",
}


def test_the_days_daylight_saving_time_starts_and_ends_raise_and_clear_the_same_alert_once(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    reliability.tried(
        "us_east_settlement (America/New_York, day start 02:30, WARNING and up mailed), a scenario where "
        "SETL-EXTR fails 8 min after its 02:35 start and its rerun completes, played every 15 min through "
        + "; ".join(f"{d} ({why})" for d, why in DST_DAYS.items())
    )
    for date in DST_DAYS:
        ccb = Ccb(tmp_path, DST_FAILURE, US_EAST, date)
        prepare(store, US_EAST, date)
        moments = day_ticks(date, US_EAST)
        start, end = bd.window(date, US_EAST.timezone, US_EAST.business_day_start)
        play_ticks(ccb, store, moments, channel=SmtpChannel())
        [failed] = alert_rows(store, business_date=date)
        assert (failed["kind"], failed["state"], failed["resolution"]) == ("FAILED", "resolved", "cleared")
        opened = bd.to_utc(failed["first_seen_at"]).in_timezone(US_EAST.timezone)
        cleared = bd.to_utc(failed["resolved_at"]).in_timezone(US_EAST.timezone)
        reliability.observed(
            f"{date}: window {(end - start).total_seconds() / 3600:.0f} h from "
            f"{bd.to_utc(start).in_timezone(US_EAST.timezone):%H:%M %Z}, {len(moments)} ticks; FAILED SETL-EXTR "
            f"opened {opened:%H:%M %Z}, cleared {cleared:%H:%M %Z}"
        )
        ccb.dispose()
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(subjects) == 2 * len(DST_DAYS) == len(set(subjects))
    bodies = "".join(m.message.get_body(preferencelist=("plain",)).get_content() for m in mail_server.received)  # type: ignore[union-attr]
    assert "EDT" in bodies and "EST" in bodies
    reliability.observed(f"{len(subjects)} mails, one alert and one recovery per day; mail times name EDT or EST")


def test_a_leap_day_is_a_business_day_like_any_other_into_the_first_of_march(
    store: sa.Engine, mail_server: MailServer, tmp_path: Path, reliability: Case
) -> None:
    leap = dt.date(2028, 2, 29)
    reliability.tried(
        f"failure scenario on {leap} (C1-PPBTR fails 14:30, rerun completes 16:30), ticks from 11:45 to 05:00 on "
        "1 March"
    )
    ccb = Ccb(tmp_path, "failure", DPDC, leap)
    prepare(store, DPDC, leap)
    start, _ = bd.window(leap, DPDC.timezone, DPDC.business_day_start)
    moments = [m for m in day_ticks(leap) if m >= start + dt.timedelta(hours=6, minutes=45)]
    play_ticks(ccb, store, moments, channel=SmtpChannel())
    [failed] = alert_rows(store)
    assert (failed["business_date"], failed["state"], local(failed["first_seen_at"])) == (leap, "resolved", "14:30")
    with store.connect() as conn:
        dates = set(conn.execute(sa.select(schema.execution_logs.c.business_date)).scalars())
        last = conn.execute(sa.select(sa.func.max(schema.evaluations.c.as_of))).scalar_one()
    assert dates == {leap} and bd.to_utc(last).in_timezone(DPDC.timezone).date() == dt.date(2028, 3, 1)
    subjects = [str(m.message["Subject"]) for m in mail_server.received]
    assert len(subjects) == 2 and all(str(leap) in s for s in subjects)
    reliability.observed(
        f"every run stored under {leap}; the last tick (05:00 on 1 March) still judged {leap}; FAILED opened "
        f"14:30 and cleared {local(failed['resolved_at'])}; mails: {'; '.join(subjects)}"
    )
    ccb.dispose()
