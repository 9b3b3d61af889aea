"""The review workbook: a ``review`` sheet (one row per record) and a hidden ``_meta``
sheet with the run id.

The literal-text cells and the font come from :mod:`tane.store.sheets` (shared with
``tane eval report``'s workbook). Every text cell is written with an explicit string type
(never a formula, whatever it starts with) and text starting with ``= + - @``, tab or CR also gets Excel's quotePrefix,
so neither Excel nor LibreOffice evaluates LLM output. Read-only columns are grey, locked
(sheet protection without password) and explained by a header comment.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..store.files import atomic_write
from ..store.sheets import FONT, set_text
from .table import COLUMNS, EDITABLE, HELP, META_SHEET, SHEET, FormulaText, Row, Table

__all__ = ["FONT", "read_xlsx", "set_text", "write_xlsx"]
WIDTHS = {"id": 16, "instruction": 50, "input": 36, "output": 70, "method": 14,
          "judge_score": 11, "judge_reason": 30, "drop_reason": 20, "status": 10,
          "note": 30}
META_VERSION = "1"
LINE_PT = 13.0   # one wrapped line of the 10-point font, in points
MAX_ROW_PT = 409.0  # Excel's largest row height


def display_width(text: str) -> int:
    """Columns a line takes: East Asian wide and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrapped_lines(text: str, width: float) -> int:
    """Lines ``text`` wraps to in a column ``width`` characters wide (Excel's unit: the
    width of a digit). Neither Excel nor LibreOffice writes row heights for wrapped text
    into the file, and LibreOffice draws rows without one at one line."""
    per_line = max(int(width) - 1, 1)
    return sum(max(1, -(-display_width(line) // per_line)) for line in text.split("\n"))


def row_height(values: dict[str, str], columns: tuple[str, ...] = COLUMNS) -> float:
    lines = max((wrapped_lines(values.get(c) or "", WIDTHS.get(c, 20)) for c in columns),
                default=1)
    return min(MAX_ROW_PT, LINE_PT * lines + 4)


def write_xlsx(out: Path, run_id: str, rows: list[Row], review_base: str = "",
               columns: tuple[str, ...] = COLUMNS) -> Path:
    """``columns``: :data:`COLUMNS`, and read-only ones after them (``answers``)."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    font, bold = Font(name=FONT, size=10), Font(name=FONT, size=10, bold=True)
    grey = PatternFill("solid", fgColor="E7E6E6")
    header_fill = PatternFill("solid", fgColor="BDD7EE")
    wrap = Alignment(wrap_text=True, vertical="top")
    unlocked, locked = Protection(locked=False), Protection(locked=True)

    for j, col in enumerate(columns, 1):
        c = ws.cell(row=1, column=j)
        set_text(c, col)
        c.font, c.fill, c.alignment, c.protection = bold, header_fill, wrap, locked
        note = HELP.get(col, "editable" if col in EDITABLE else "read only")
        if col not in EDITABLE:
            note += "; grey cells are read only"
        c.comment = Comment(note, "tane")
        ws.column_dimensions[get_column_letter(j)].width = WIDTHS.get(col, 20)

    for i, row in enumerate(rows, 2):
        for j, col in enumerate(columns, 1):
            c = ws.cell(row=i, column=j)
            set_text(c, row.values.get(col, "") or "")
            c.font, c.alignment = font, wrap
            editable = col in EDITABLE and not row.locked
            c.protection = unlocked if editable else locked
            if not editable:
                c.fill = grey
        ws.row_dimensions[i].height = row_height(row.values, columns)

    last = max(len(rows) + 1, 2)
    status_col = get_column_letter(COLUMNS.index("status") + 1)
    dv = DataValidation(type="list", formula1='"keep,drop,edit"', allow_blank=True,
                        showErrorMessage=True, errorTitle="status",
                        error="keep, drop or edit (or blank)")
    dv.add(f"{status_col}2:{status_col}{last}")
    ws.add_data_validation(dv)
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last}"
    ws.protection.sheet = True
    ws.protection.formatColumns = False   # allowed: resize columns/rows, filter, sort
    ws.protection.formatRows = False
    ws.protection.autoFilter = False
    ws.protection.sort = False
    # print: landscape A4, all columns on one page wide, the header on every page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5

    meta = wb.create_sheet(META_SHEET)
    for r, (k, v) in enumerate([("key", "value"), ("run_id", run_id),
                                ("format", f"tane-review/{META_VERSION}"),
                                ("exported", _dt.datetime.now(_dt.UTC)
                                 .isoformat(timespec="seconds")),
                                ("review_base", review_base)], 1):
        set_text(meta.cell(row=r, column=1), k)
        set_text(meta.cell(row=r, column=2), v)
    meta.sheet_state = "hidden"
    meta.protection.sheet = True

    atomic_write(out, wb.save)
    return out


def _value(cell: Any) -> Any:
    v = cell.value
    if v is None:
        return None
    if cell.data_type == "f" or (hasattr(v, "text") and not isinstance(v, str)):
        return FormulaText(str(getattr(v, "text", v)))
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    return str(v)


def read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, data_only=False)
    except Exception as e:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise TaneError(f"cannot read as .xlsx: {type(e).__name__}: {e}",
                        path=str(path)) from None
    if SHEET not in wb.sheetnames:
        raise TaneError(f"no sheet named '{SHEET}' (found: {', '.join(wb.sheetnames)}); "
                        "sheets must not be renamed", path=str(path), field=SHEET)
    rid = base = None
    if META_SHEET in wb.sheetnames:
        for key, val in wb[META_SHEET].iter_rows(min_row=1, max_col=2, values_only=True):
            if key == "run_id":
                rid = None if val is None else str(val)
            elif key == "review_base":
                base = None if val is None else str(val)
    ws = wb[SHEET]
    it = ws.iter_rows()
    header_cells = next(it, ())
    header = [_value(c) or "" for c in header_cells]
    rows = [(cells[0].row, [_value(c) for c in cells]) for cells in it if cells]
    return Table(path, SHEET, [str(h) for h in header], rows, rid,
                 (2, f"{META_SHEET}!run_id"), review_base=base)
