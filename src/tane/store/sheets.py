"""Excel workbooks written by tane (``tane review``, ``tane eval report``): cells that are
always literal text, one font, a styled header row.

Every text cell is written with an explicit string type (never a formula, whatever it
starts with) and text starting with ``= + - @``, tab or CR also gets Excel's quotePrefix,
so neither Excel nor LibreOffice evaluates LLM output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import atomic_write

FONT = "Yu Gothic"   # Windows 10+/macOS Japanese UI font; LibreOffice falls back to Noto CJK
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_000    # Excel holds at most 32,767 characters in a cell
TRUNCATED = "…[truncated by tane: too long for a spreadsheet cell]"


def set_text(cell: Any, text: str) -> None:
    """A literal string cell: never evaluated, whatever the text starts with."""
    cell.value = text
    cell.data_type = "s"
    if text.startswith(DANGEROUS):
        cell.quotePrefix = True


def clean(text: Any) -> str:
    """What a cell can hold: no XML-illegal control characters, at most MAX_CELL chars
    (a cut is marked with TRUNCATED)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    s = "" if text is None else str(text)
    s = ILLEGAL_CHARACTERS_RE.sub("", s)
    if len(s) > MAX_CELL:
        s = s[:MAX_CELL - len(TRUNCATED)] + TRUNCATED
    return s


@dataclass
class Sheet:
    """One sheet: a header row, then rows of values (numbers stay numbers, the rest is
    literal text). ``notes``: header comments per column; ``widths``: column widths."""
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    widths: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def write_workbook(out: Path, sheets: list[Sheet]) -> Path:
    """Write ``sheets`` to ``out`` atomically: bold blue header with comments, wrapped
    top-aligned cells, frozen header and first column, an auto-filter on every sheet."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    font, bold = Font(name=FONT, size=10), Font(name=FONT, size=10, bold=True)
    header_fill = PatternFill("solid", fgColor="BDD7EE")
    wrap = Alignment(wrap_text=True, vertical="top")
    for sh in sheets:
        ws = wb.create_sheet(sh.name[:31])
        for j, col in enumerate(sh.columns, 1):
            c = ws.cell(row=1, column=j)
            set_text(c, col)
            c.font, c.fill, c.alignment = bold, header_fill, wrap
            if col in sh.notes:
                c.comment = Comment(sh.notes[col], "tane")
            ws.column_dimensions[get_column_letter(j)].width = sh.widths.get(col, 16)
        for i, row in enumerate(sh.rows, 2):
            for j, value in enumerate(row, 1):
                c = ws.cell(row=i, column=j)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    c.value = value
                else:
                    set_text(c, clean(value))
                c.font, c.alignment = font, wrap
        ws.freeze_panes = "B2"
        last = max(len(sh.rows) + 1, 2)
        ws.auto_filter.ref = f"A1:{get_column_letter(max(len(sh.columns), 1))}{last}"
    atomic_write(out, wb.save)
    return out
