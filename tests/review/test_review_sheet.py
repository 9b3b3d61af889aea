"""The review sheet's layout, read back with openpyxl: row heights that fit wrapped
Japanese text, and a landscape print layout one page wide."""

from __future__ import annotations

from openpyxl import load_workbook

from tane.review import Row
from tane.review.xlsx import (
    LINE_PT,
    MAX_ROW_PT,
    WIDTHS,
    display_width,
    wrapped_lines,
    write_xlsx,
)


def test_display_width_counts_wide_characters_twice():
    assert display_width("abc") == 3
    assert display_width("日本語") == 6
    assert display_width("ＡＢ") == 4  # full-width
    assert display_width("ｱｲ") == 2  # half-width kana


def test_wrapped_lines():
    w = WIDTHS["instruction"]  # 50: 49 columns of text a line
    assert wrapped_lines("", w) == 1
    assert wrapped_lines("あ" * 24, w) == 1
    assert wrapped_lines("あ" * 25, w) == 2  # 50 columns
    assert wrapped_lines("a" * 49, w) == 1 and wrapped_lines("a" * 50, w) == 2
    assert wrapped_lines("一行目\n二行目\n\n四行目", w) == 4


def test_row_heights_and_print_layout(tmp_path):
    rows = [Row(id="short", values={"id": "short", "instruction": "短い指示", "output": "はい"}),
            Row(id="long", values={"id": "long", "instruction": "指示",
                                   "output": "これは長い日本語の出力です。" * 30}),
            Row(id="lines", values={"id": "lines", "input": "一\n二\n三\n四\n五",
                                    "output": "x"}),
            Row(id="huge", values={"id": "huge", "output": "長" * 20000})]
    out = write_xlsx(tmp_path / "r.xlsx", "run-1", rows)
    ws = load_workbook(out)["review"]
    h = {ws.cell(row=r, column=1).value: ws.row_dimensions[r].height for r in range(2, 6)}
    assert h["short"] == LINE_PT + 4
    # 420 wide characters = 840 columns in a 70-wide output column: 69 a line -> 13 lines
    assert h["long"] == LINE_PT * 13 + 4
    assert h["lines"] == LINE_PT * 5 + 4
    assert h["huge"] == MAX_ROW_PT
    ps = ws.page_setup
    assert ps.orientation == "landscape"
    assert (ps.fitToWidth, ps.fitToHeight) == (1, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.print_title_rows == "$1:$1"
    assert ps.paperSize == 9  # A4
