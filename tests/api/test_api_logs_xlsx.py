"""Run history as an Excel workbook (batch-logs?format=xlsx): the CSV's rows, typed, formula-safe."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from tests.support.monitor_env import MonitorEnv

from batch_monitor.api.export_xlsx import MAX_CELL_CHARS, XLSX_MEDIA_TYPE, logs_xlsx
from batch_monitor.api.schemas import LogOut
from batch_monitor.api.views import CSV_COLUMNS
from batch_monitor.constants import RunStatus
from batch_monitor.store.schema import execution_logs

pytestmark = pytest.mark.e2e

DATE_COLUMNS = {"business_date"}
TIME_COLUMNS = {"start_time", "end_time"}
NUMBER_COLUMNS = {
    "batch_nbr",
    "rerun_nbr",
    "duration_s",
    "records",
    "errors",
    "rps",
    "threads_total",
    "threads_done",
}
FORMULA_DAY = dt.date(2023, 1, 2)  # a day of its own, removed again after the test


def export(client: httpx.Client, kind: str, **params: object) -> httpx.Response:
    response = client.get("batch-logs", params={"format": kind, **params})  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response


def sheet_of(response: httpx.Response) -> Worksheet:
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    return sheet


def as_csv_text(column: str, value: Any, zone: str) -> str:
    """What the CSV writes for a cell the workbook holds typed."""
    if value is None:
        return ""
    if column in DATE_COLUMNS:
        assert isinstance(value, dt.datetime) and value.time() == dt.time(), (column, value)
        return value.date().isoformat()
    if column in TIME_COLUMNS:
        assert isinstance(value, dt.datetime), (column, value)
        return value.replace(tzinfo=ZoneInfo(zone)).isoformat()
    if column in NUMBER_COLUMNS:
        assert isinstance(value, int | float) and not isinstance(value, bool), (column, value)
        return repr(value)
    assert isinstance(value, str), (column, value)
    return value


def same_number(a: str, b: str) -> bool:
    return (a == b == "") or (a != "" and b != "" and float(a) == float(b))


def assert_same_rows(csv_text: str, sheet: Worksheet) -> int:
    expected = list(csv.DictReader(io.StringIO(csv_text, newline="")))
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(CSV_COLUMNS)
    got = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        for column in CSV_COLUMNS:
            text = as_csv_text(column, have[column], want["timezone"])
            if column in NUMBER_COLUMNS:
                assert same_number(text, want[column]), (column, text, want[column])
            else:
                assert text == want[column], (column, text, want[column])
    return len(got)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"workflow": "dpdc_ami", "date_from": "2024-03-11", "date_to": "2024-03-11"},
        {"status": "error", "sort": "batch_cd", "order": "asc"},
        {"q": "ora-12545", "workflow": "dpdc_ami"},
    ],
)
def test_the_workbook_holds_the_same_rows_as_the_csv(viewer: httpx.Client, params: dict[str, str]) -> None:
    book = export(viewer, "xlsx", **params)
    rows = assert_same_rows(export(viewer, "csv", **params).text, sheet_of(book))
    assert rows == viewer.get("batch-logs", params=params).json()["total"]


def test_the_workbook_is_typed_with_a_frozen_header_and_named_as_a_file(viewer: httpx.Client) -> None:
    response = export(viewer, "xlsx", workflow="dpdc_ami", status="error")
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"] == 'attachment; filename="batch-logs.xlsx"'
    sheet = sheet_of(response)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:R3"
    header = {cell.value: cell.column for cell in sheet[1]}
    assert all(cell.font.b for cell in sheet[1])
    first = {name: sheet.cell(row=2, column=col) for name, col in header.items()}
    assert first["business_date"].is_date and first["business_date"].number_format == "yyyy-mm-dd"
    assert first["business_date"].value == dt.datetime(2024, 3, 12)
    assert first["start_time"].is_date and first["start_time"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert first["start_time"].value == dt.datetime(2024, 3, 12, 12, 0)  # Dhaka time, as the timezone column says
    assert first["timezone"].value == "Asia/Dhaka"
    assert (first["records"].data_type, first["records"].value) == ("n", 200_000)
    assert (first["duration_s"].data_type, first["duration_s"].value) == ("n", 9000)
    assert first["error_text"].value == "ORA-12545 Connection timeout (host <b>ccb-db01</b>)"


@pytest.fixture
def formula_run(monitor: MonitorEnv) -> Iterator[None]:
    """A dpdc_ami run whose CC&B texts start like formulas, on a day of its own."""
    moment = dt.datetime(2023, 1, 2, 1, 0, tzinfo=dt.UTC)
    with monitor.store.begin() as conn:
        conn.execute(
            sa.insert(execution_logs).values(
                workflow_id="dpdc_ami",
                step_id="=STEP",
                batch_cd="@SUM",
                batch_nbr=999_001,
                business_date=FORMULA_DAY,
                status="error",
                status_code="+1",
                start_time=moment,
                end_time=moment + dt.timedelta(minutes=5),
                duration_s=300.0,
                records=7,
                error_text='=HYPERLINK("http://evil.example","click")',
                observed_at=moment,
            )
        )
    yield
    with monitor.store.begin() as conn:
        conn.execute(sa.delete(execution_logs).where(execution_logs.c.business_date == FORMULA_DAY))


@pytest.mark.usefixtures("formula_run")
def test_texts_that_start_like_formulas_stay_text_with_the_csvs_quote(viewer: httpx.Client) -> None:
    params = {"date_from": FORMULA_DAY.isoformat(), "date_to": FORMULA_DAY.isoformat()}
    response = export(viewer, "xlsx", **params)
    assert assert_same_rows(export(viewer, "csv", **params).text, sheet_of(response)) == 1
    sheet = sheet_of(response)
    cells = {name: sheet.cell(row=2, column=i) for i, name in enumerate(CSV_COLUMNS, start=1)}
    for name, text in (
        ("step_id", "'=STEP"),
        ("batch_cd", "'@SUM"),
        ("status_code", "'+1"),
        ("error_text", '\'=HYPERLINK("http://evil.example","click")'),
    ):
        assert (cells[name].value, cells[name].data_type) == (text, "s"), name
    # nothing in the file is a formula
    assert b"<f>" not in response.content and b"<f " not in response.content


def test_control_characters_and_huge_texts_fit_in_a_cell() -> None:
    run = LogOut(
        id=1,
        workflow_id="dpdc_ami",
        step_id="C1-PPBTR",
        batch_cd="C1-PPBTR",
        batch_nbr=1,
        rerun_nbr=0,
        business_date=dt.date(2024, 3, 12),
        status=RunStatus.ERROR,
        status_code="30",
        records=0,
        errors=0,
        threads_total=0,
        threads_done=0,
        error_text="bell\x07 and NUL\x00 " + "x" * 40_000,
        observed_at=dt.datetime(2024, 3, 12, tzinfo=dt.UTC),
    )
    sheet = sheet_of(httpx.Response(200, content=logs_xlsx([run], {})))
    text = sheet.cell(row=2, column=len(CSV_COLUMNS)).value
    assert isinstance(text, str)
    assert text.startswith("bell\ufffd and NUL\ufffd xxx")
    assert len(text) == MAX_CELL_CHARS and text.endswith("\u2026")
    assert sheet.cell(row=2, column=CSV_COLUMNS.index("timezone") + 1).value == "UTC"
