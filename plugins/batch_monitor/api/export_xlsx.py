"""The run history as an Excel workbook (``batch-logs?format=xlsx``): pure, no database, no clock.

The same columns and rows as the CSV export (``views.logs_csv``), typed for a spreadsheet:
business dates are date cells, start and end are date-time cells in the workflow's local time
(Excel has no time zones; the ``timezone`` column names it), counts and durations are numbers.
Every text cell is written as text, never as a formula, and one starting with ``= + - @`` (or a
tab or carriage return) gets the CSV's leading ``'`` as well. The header row is frozen and filters.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping
from typing import Any

import pendulum
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from batch_monitor.api.queries import WorkflowMeta
from batch_monitor.api.schemas import LogOut
from batch_monitor.api.views import CSV_COLUMNS, cell_text

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLE = "Run history"
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
WIDTHS = {"business_date": 12, "start_time": 20, "end_time": 20, "timezone": 16, "error_text": 60}


def _text(value: str | None) -> str:
    """Formula-safe (as in the CSV), without the control characters a workbook may not hold, within a cell."""
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", cell_text(value))
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "\u2026"


def _local(moment: dt.datetime | None, zone: str) -> dt.datetime | None:
    """The wall-clock time in ``zone`` (naive: a spreadsheet cell holds no zone)."""
    if moment is None:
        return None
    local = pendulum.instance(moment).in_timezone(zone)
    return dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond)


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Cell:
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # a text cell: never read back as a formula
    elif isinstance(value, dt.datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = DATE_FORMAT
    return cell


def _row(item: LogOut, zone: str) -> list[Any]:
    return [
        _text(item.workflow_id),
        item.business_date,
        _text(item.step_id),
        _text(item.batch_cd),
        item.batch_nbr,
        item.rerun_nbr,
        _text(item.status.value),
        _text(item.status_code),
        _local(item.start_time, zone),
        _local(item.end_time, zone),
        _text(zone),
        None if item.duration_s is None else round(item.duration_s, 1),
        item.records,
        item.errors,
        None if item.rps is None else round(item.rps, 2),
        item.threads_total,
        item.threads_done,
        _text(item.error_text) or None,
    ]


def logs_xlsx(items: Iterable[LogOut], metas: Mapping[str, WorkflowMeta]) -> bytes:
    """The run history as an .xlsx file: one header row (frozen, with filters), one row per run."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_TITLE)
    sheet.freeze_panes = "A2"
    for index, name in enumerate(CSV_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(name, max(len(name) + 2, 10))
    bold = Font(bold=True)
    header = []
    for name in CSV_COLUMNS:
        cell = _cell(sheet, name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    rows = 0
    for item in items:
        zone = metas[item.workflow_id].timezone if item.workflow_id in metas else "UTC"
        sheet.append([_cell(sheet, value) for value in _row(item, zone)])
        rows += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(CSV_COLUMNS))}{rows + 1}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
