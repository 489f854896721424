"""The run history's CSV export: no text cell a spreadsheet would run as a formula, whatever CC&B sent."""

from __future__ import annotations

import csv
import datetime as dt
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from batch_monitor.api.schemas import LogOut
from batch_monitor.api.views import CSV_COLUMNS, logs_csv
from batch_monitor.constants import RunStatus

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("workflow_id", "step_id", "batch_cd", "status_code", "error_text")
NUMBER_COLUMNS = ("batch_nbr", "rerun_nbr", "duration_s", "records", "errors", "rps", "threads_total", "threads_done")
MOMENTS = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))
# what a CC&B row or a store column can hold: any text without NUL or lone surrogates
TEXT = st.one_of(
    st.text(st.characters(exclude_characters="\x00"), max_size=20),
    st.sampled_from(FORMULA_START).flatmap(lambda c: st.text(max_size=8).map(lambda t: c + t.replace("\x00", ""))),
)


def run(**values: object) -> LogOut:
    base: dict[str, object] = {
        "id": 1,
        "workflow_id": "dpdc_ami",
        "step_id": "C1-PPBTR",
        "batch_cd": "C1-PPBTR",
        "batch_nbr": 1,
        "rerun_nbr": 0,
        "business_date": dt.date(2024, 3, 12),
        "status": RunStatus.COMPLETE,
        "status_code": "30",
        "records": 0,
        "errors": 0,
        "threads_total": 0,
        "threads_done": 0,
        "observed_at": dt.datetime(2024, 3, 12, tzinfo=dt.UTC),
    }
    return LogOut.model_validate({**base, **values})


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.fixed_dictionaries({name: TEXT for name in TEXT_COLUMNS}),
    numbers=st.fixed_dictionaries(
        {
            "batch_nbr": st.integers(-(2**63), 2**63 - 1),
            "rerun_nbr": st.integers(-(2**31), 2**31 - 1),
            "records": st.integers(-(2**63), 2**63 - 1),
            "errors": st.integers(-(2**63), 2**63 - 1),
            "threads_total": st.integers(-1000, 1000),
            "threads_done": st.integers(-1000, 1000),
            "duration_s": st.floats(-1e9, 1e9),
            "rps": st.floats(-1e9, 1e9),
        }
    ),
    status=st.sampled_from(RunStatus),
    start=st.none() | MOMENTS,
    end=st.none() | MOMENTS,
)
def test_every_text_cell_is_escaped_and_every_other_cell_reads_back_as_written(
    texts: dict[str, str],
    numbers: dict[str, int | float],
    status: RunStatus,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> None:
    item = run(**texts, **numbers, status=status, start_time=start, end_time=end)
    [row] = rows(logs_csv([item], {}))
    assert list(row) == list(CSV_COLUMNS)
    assert not [c for c, v in row.items() if c not in NUMBER_COLUMNS and v.startswith(FORMULA_START)]
    for column in TEXT_COLUMNS:
        sent = texts[column]
        assert row[column] == (f"'{sent}" if sent.startswith(FORMULA_START) else sent), column
    for column in NUMBER_COLUMNS:
        sent = numbers[column]
        if isinstance(sent, int):
            assert int(row[column]) == sent, column
        else:
            assert float(row[column]) == round(sent, 2 if column == "rps" else 1), column
    assert (row["status"], row["business_date"], row["timezone"]) == (status.value, "2024-03-12", "UTC")
    for column, moment in (("start_time", start), ("end_time", end)):
        assert (dt.datetime.fromisoformat(row[column]) if row[column] else None) == moment, column


def test_status_codes_that_start_like_a_formula_are_quoted() -> None:
    items = [run(id=n, batch_nbr=n, status_code=code) for n, code in enumerate(["=1", "@S", "-2", "+3", "30"], 1)]
    assert [r["status_code"] for r in rows(logs_csv(items, {}))] == ["'=1", "'@S", "'-2", "'+3", "30"]
