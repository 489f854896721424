"""Random bad rows over the simulator's normal and failure days (hypothesis): the reader and the
evaluator never crash, never raise a CRITICAL the clean day does not have, and raise a
DATA_QUALITY finding whenever they distrusted or corrected a row."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_monitor import business_day as bd
from batch_monitor.constants import FindingKind, RunStatus, Severity
from batch_monitor.evaluate import evaluate
from batch_monitor.models import Evaluation, Progress
from batch_monitor.settings import sql_dir
from batch_monitor.source import SourceReader

from .conftest import Case
from .support import DAY, DPDC, Ccb, at

AREA = "Bad input: CC&B rows (source data anomalies)"
TICKS = [("normal", "06:00"), ("normal", "12:30"), ("normal", "17:15"), ("normal", "22:15")]
TICKS += [("failure", "14:45"), ("failure", "15:30"), ("failure", "17:15")]
CODES = sorted({step.batch_code for step in DPDC.steps})
TOLERANCE = DPDC.clock_skew_tolerance
TIMES = [("ci_batch_run", "start_dttm"), ("ci_batch_run", "end_dttm")]
TIMES += [("ci_batch_inst", "start_dttm"), ("ci_batch_inst", "end_dttm"), ("ci_msg_log", "cre_dttm")]


@dataclass(frozen=True)
class Day:
    """One tick of a simulated day, played once: the file to copy and what the clean rows give."""

    path: Path
    as_of: dt.datetime
    latest: dt.datetime  # the latest time CC&B wrote, in UTC
    clean: Evaluation


def read_and_judge(path: Path, as_of: dt.datetime, memory: dict[str, Progress] | None = None) -> Evaluation:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            observations = SourceReader(sql_dir()).read(conn, DPDC, DAY, as_of, read_at=as_of)
    finally:
        engine.dispose()
    return evaluate(DPDC, observations, as_of, memory)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Day]]:
    played = []
    for name, clock in TICKS:
        ccb = Ccb(tmp_path_factory.mktemp(f"{name}-{clock.replace(':', '')}"), name)
        as_of = at(clock)
        ccb.play(as_of)
        clean = read_and_judge(ccb.path, as_of)
        ccb.dispose()
        played.append(Day(ccb.path, as_of, latest_time(ccb.path), clean))
    yield played


def latest_time(path: Path) -> dt.datetime:
    """The latest time CC&B wrote into its batch tables, in UTC."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            stamps = [
                conn.execute(sa.text(f"SELECT max({column}) FROM {table}")).scalar_one() for table, column in TIMES[:4]
            ]
    finally:
        engine.dispose()
    latest = max(dt.datetime.fromisoformat(str(s)) for s in stamps if s is not None)
    return bd.localize(latest, DPDC.source_timezone)


def criticals(ev: Evaluation) -> set[tuple[str, str]]:
    return {(f.kind.value, f.step_id) for f in ev.findings if f.severity == Severity.CRITICAL}


# an anomaly: (what, batch code, value)
ANOMALY = st.one_of(
    st.tuples(st.just("null start"), st.sampled_from(CODES), st.none()),
    st.tuples(st.just("null end"), st.sampled_from(CODES), st.none()),
    st.tuples(st.just("status"), st.sampled_from(CODES), st.sampled_from(["99", "", " ", "ZZ"])),
    st.tuples(st.just("padding"), st.sampled_from(CODES), st.sampled_from([" ", "   "])),
    st.tuples(st.just("duplicate run"), st.sampled_from(CODES), st.none()),
    st.tuples(st.just("duplicate executions"), st.sampled_from(CODES), st.none()),
    st.tuples(st.just("count backward"), st.sampled_from(CODES), st.integers(1, 10**6)),
)


def apply(path: Path, anomaly: tuple[str, str, object], visible: dt.datetime | None) -> bool:
    """Apply one anomaly; True when it changed a row the reader should distrust or correct.

    ``visible``: rows stamped later did not exist at the tick (a clock ahead by less than the
    tolerance hides them, as it should), so spoiling them changes nothing the reader sees.
    """
    what, code, value = anomaly
    shown = "" if visible is None else " AND (start_dttm IS NULL OR start_dttm <= :visible)"
    table = "ci_batch_inst" if what == "duplicate executions" else "ci_batch_run"
    ended = " AND end_dttm IS NOT NULL" if what == "null end" else ""
    seen_rows = f"SELECT count(*) FROM {table} WHERE batch_cd = :code{ended}{shown}"
    statements = {
        "null start": ["UPDATE ci_batch_run SET start_dttm = NULL WHERE batch_cd = :code"],
        "null end": ["UPDATE ci_batch_run SET end_dttm = NULL WHERE batch_cd = :code AND end_dttm IS NOT NULL"],
        "status": ["UPDATE ci_batch_run SET run_status = :value WHERE batch_cd = :code"],
        "padding": ["UPDATE ci_batch_run SET batch_cd = batch_cd || :value WHERE batch_cd = :code"],
        "duplicate run": ["INSERT INTO ci_batch_run SELECT * FROM ci_batch_run WHERE batch_cd = :code"],
        "duplicate executions": ["INSERT INTO ci_batch_inst SELECT * FROM ci_batch_inst WHERE batch_cd = :code"],
        "count backward": [],  # a count lower than the last tick's: see the memory below
    }[what]
    engine = sa.create_engine(f"sqlite:///{path}")
    binds = {"code": code, "value": value, "visible": visible and visible.strftime("%Y-%m-%d %H:%M:%S.%f")}
    try:
        with engine.begin() as conn:
            threads = conn.execute(sa.text("SELECT count(*) FROM ci_batch_thd WHERE batch_cd = :code"), binds)
            threads_read = threads.scalar_one()
            changed = conn.execute(sa.text(seen_rows), binds).scalar_one() if statements else 0
            for sql in statements:
                conn.execute(sa.text(sql), binds)
    finally:
        engine.dispose()
    if what == "padding":  # blank padding is noted only where the thread tables differ
        return bool(changed and threads_read)
    return bool(changed)


def shift(path: Path, minutes: int) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            for table, column in TIMES:
                conn.execute(
                    sa.text(f"UPDATE {table} SET {column} = datetime({column}, :by) WHERE {column} IS NOT NULL"),
                    {"by": f"{minutes:+d} minutes"},
                )
    finally:
        engine.dispose()


def backward_memory(day: Day, anomalies: list[tuple[str, str, object]]) -> dict[str, Progress]:
    """The last tick saw more records than now for the running runs of the codes drawn."""
    codes = {code: int(value) for what, code, value in anomalies if what == "count backward" and value}  # type: ignore[call-overload]
    memory = {}
    for state in day.clean.steps:
        for run in state.runs:
            if run.batch_cd in codes and run.status == RunStatus.RUNNING:
                token = f"{run.batch_cd}:{run.batch_nbr}:{run.rerun_nbr}"
                earlier = day.as_of - dt.timedelta(minutes=15)
                memory[token] = Progress(
                    records=run.records + codes[run.batch_cd],
                    threads_done=run.threads_done,
                    changed_at=earlier,
                    seen_at=earlier,
                )
    return memory


def test_random_bad_rows_never_page_falsely_and_always_say_so(
    days: list[Day], tmp_path: Path, reliability: Case
) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        day=st.sampled_from(days),
        anomalies=st.lists(ANOMALY, min_size=1, max_size=4),
        skew=st.integers(-120, 120),
    )
    def check(day: Day, anomalies: list[tuple[str, str, object]], skew: int) -> None:
        path = tmp_path / "ccb.sqlite"
        shutil.copyfile(day.path, path)
        distrusted = False
        ahead = day.latest + dt.timedelta(minutes=skew) - day.as_of > TOLERANCE
        visible = None
        if skew > 0 and not ahead:
            visible = bd.to_naive_local(day.as_of - dt.timedelta(minutes=skew), DPDC.source_timezone)
        for anomaly in anomalies:
            distrusted |= apply(path, anomaly, visible)
            seen[anomaly[0]] += 1
        memory = backward_memory(day, anomalies)
        distrusted |= bool(memory)
        if skew:
            shift(path, skew)
            seen["clock ahead" if skew > 0 else "clock behind"] += 1
            # a clock ahead shows in rows stamped in the future; one behind in the first run (05:00 sharp)
            # starting before the day
            distrusted |= skew < 0 or ahead
        judged = read_and_judge(path, day.as_of, memory)
        allowed = criticals(day.clean)
        if skew > 0 and not ahead:
            # no row lies in the future: nothing in the rows tells this clock from a day that ran `skew`
            # minutes late, so a breach judged from a run's own (shifted) times is what the rows say
            allowed |= {(f.kind.value, f.step_id) for f in judged.findings if f.closed}
        assert criticals(judged) <= allowed, (anomalies, skew)
        quality = [f for f in judged.findings if f.kind == FindingKind.DATA_QUALITY]
        assert quality or not distrusted, (anomalies, skew)
        seen["examples"] += 1

    check()
    reliability.tried(
        f"hypothesis, {seen['examples']} examples over {len(TICKS)} ticks of the normal and failure days: 1–4 of "
        + ", ".join(f"{what} ({n})" for what, n in sorted(seen.items()) if what != "examples")
        + "; CC&B clock −2 h to +2 h"
    )
    reliability.observed(
        "no crash; no CRITICAL finding the clean tick lacks; a DATA_QUALITY finding whenever a row was "
        "distrusted or corrected"
    )


def test_a_first_run_without_start_and_with_a_padded_code_on_a_clock_behind_is_still_the_day_s(
    days: list[Day], tmp_path: Path
) -> None:
    """Found by the property above: CM-DMRU's START_DTTM empty, its BATCH_CD padded in CI_BATCH_RUN
    only, and the CC&B clock a minute behind. Its executions (found by the trimmed-code queries) put
    its start a minute before the day; the clock check did not see them, so the run was dropped as
    another day's and a false CRITICAL MISSED_DEADLINE followed."""
    for day in days:
        path = tmp_path / "ccb.sqlite"
        shutil.copyfile(day.path, path)
        for anomaly in [("null start", "CM-DMRU", None), ("padding", "CM-DMRU", " ")]:
            apply(path, anomaly, None)
        shift(path, -1)
        judged = read_and_judge(path, day.as_of)
        assert criticals(judged) <= criticals(day.clean), day.as_of
        quality = " ".join(f.actual for f in judged.findings if f.kind == FindingKind.DATA_QUALITY)
        assert "CC&B clock behind by about 1m" in quality and "START_DTTM is empty" in quality, day.as_of
