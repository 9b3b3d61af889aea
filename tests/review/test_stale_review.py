"""A stale review file must not silently undo a later review: each export records the
review state it was made from, import refuses rows another file revised since then
(naming them) unless --force, and --dry-run shows the changes and writes nothing.
Real .xlsx files (openpyxl), the real CLI, and a LibreOffice re-save where installed."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from review.test_review import _dataset, make_run
from tane.cli import app
from tane.errors import TaneError
from tane.review import export_review, import_review
from tane.review.xlsx import set_text


def _edit(src: Path, dst: Path, edits: dict[str, dict[str, str]]) -> Path:
    """Copy ``src`` to ``dst`` with cells changed: {record id: {column: text}}."""
    wb = load_workbook(src)
    ws = wb["review"]
    head = {c.value: c.column for c in ws[1]}
    for row in ws.iter_rows(min_row=2):
        rid = row[0].value
        for col, text in edits.get(rid, {}).items():
            set_text(ws.cell(row=row[0].row, column=head[col]), text)
    wb.save(dst)
    return dst


def _row_of(path: Path, rec_id: str) -> int:
    ws = load_workbook(path)["review"]
    return next(r[0].row for r in ws.iter_rows(min_row=2) if r[0].value == rec_id)


def _state(run: Path) -> tuple:
    con = sqlite3.connect(run / "run.sqlite")
    try:
        revs = con.execute("SELECT * FROM revisions ORDER BY seq").fetchall()
    finally:
        con.close()
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(run.iterdir()) if p.suffix in (".jsonl", ".json")}
    return revs, files


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def test_stale_file_is_refused_naming_rows_force_applies(run: Path, tmp_path: Path) -> None:
    a = export_review(run, tmp_path / "a.xlsx").path   # reviewer A's copy
    b = export_review(run, tmp_path / "b.xlsx").path   # reviewer B's copy, same state
    b2 = _edit(b, tmp_path / "b_done.xlsx", {"si-0000": {"output": "東京都です。(B)"},
                                             "si-0001": {"status": "drop", "note": "B"}})
    rep = import_review(run, b2)
    assert sorted(r["record_id"] for r in rep.revisions) == ["si-0000", "si-0001"]
    # A edits a row B did not touch and one B did (si-0000); A's file still shows the
    # old output of si-0000 and the old status of si-0001
    a2 = _edit(a, tmp_path / "a_done.xlsx", {"si-0000": {"output": "東京です。(A)"},
                                             "si-0002": {"note": "A"}})
    before = _state(run)
    with pytest.raises(TaneError) as ei:
        import_review(run, a2)
    msg = ei.value.one_line()
    assert "stale review file" in msg and "b_done.xlsx" in msg and "--force" in msg
    assert f"{_row_of(a2, 'si-0000')} (si-0000)" in msg
    assert "si-0002" not in msg  # not revised since A's export: no conflict
    assert ei.value.line == _row_of(a2, "si-0000")
    assert _state(run) == before  # all or nothing: nothing was written
    assert _dataset(run)["si-0000"]["output"] == "東京都です。(B)"
    # the CLI: one line, exit 2
    res = CliRunner().invoke(app, ["review", "import", str(run), str(a2)])
    assert res.exit_code == 2 and "stale review file" in res.output
    # --force: A's file wins on the rows it changes; B's drop of si-0001, a row A left
    # as exported, stays
    res = CliRunner().invoke(app, ["review", "import", str(run), str(a2), "--force"])
    assert res.exit_code == 0, res.output
    assert "overwrite a later review" in res.output
    assert _dataset(run)["si-0000"]["output"] == "東京です。(A)"
    assert "si-0001" not in _dataset(run)


def test_a_continued_copy_adds_new_rows_and_refuses_a_row_edited_again(run: Path,
                                                                        tmp_path: Path
                                                                        ) -> None:
    x = export_review(run, tmp_path / "x.xlsx").path
    first = _edit(x, tmp_path / "x1.xlsx", {"si-0000": {"output": "一回目"}})
    import_review(run, first)
    assert import_review(run, first).revisions == []  # the same file again: no change
    # the same export, continued: its first edit is already in, its new row is new
    more = _edit(first, tmp_path / "x2.xlsx", {"si-0001": {"note": "追記"}})
    rep = import_review(run, more)
    assert [r["record_id"] for r in rep.revisions] == ["si-0001"]
    # a row revised since the export (by this export's own first import) and changed
    # again: the file cannot tell an edit on top from an older copy, so it is refused
    again = _edit(more, tmp_path / "x3.xlsx", {"si-0000": {"output": "二回目"}})
    with pytest.raises(TaneError, match=r"stale review file: rows 2 \(si-0000\) were "
                                        r"changed by a later import \(x1.xlsx\)"):
        import_review(run, again)
    assert _dataset(run)["si-0000"]["output"] == "一回目"
    rep = import_review(run, again, force=True)
    assert [r["record_id"] for r in rep.revisions] == ["si-0000"]
    assert _dataset(run)["si-0000"]["output"] == "二回目"


def test_dry_run_shows_changes_and_writes_nothing(run: Path, tmp_path: Path) -> None:
    x = export_review(run, tmp_path / "x.xlsx").path
    edited = _edit(x, tmp_path / "edited.xlsx", {"si-0000": {"output": "東京都です。"},
                                                 "si-0001": {"status": "drop",
                                                             "note": "重複"}})
    before = _state(run)
    mtimes = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    res = CliRunner().invoke(app, ["review", "import", str(run), str(edited), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert f"row {_row_of(edited, 'si-0000')} si-0000: edit (output)" in res.output
    assert f"row {_row_of(edited, 'si-0001')} si-0001: drop" in res.output
    assert "2 revision(s) would be added" in res.output and "nothing was written" in res.output
    assert _state(run) == before
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == mtimes
    # the real import then adds exactly what the dry run showed
    rep = import_review(run, edited)
    assert sorted((r["record_id"], r["status"]) for r in rep.revisions) == [
        ("si-0000", "edit"), ("si-0001", "drop")]


def test_csv_files_carry_the_review_state_too(run: Path, tmp_path: Path) -> None:
    import csv
    import io

    def edit_csv(src: Path, dst: Path, rec_id: str, col: str, text: str) -> Path:
        rows = list(csv.reader(io.StringIO(src.read_text(encoding="utf-8-sig"), newline="")))
        i = rows[0].index(col)
        for r in rows[1:]:
            if r[0] == rec_id:
                r[i] = text
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        dst.write_text(buf.getvalue(), encoding="utf-8-sig")
        return dst

    a = export_review(run, tmp_path / "a.csv").path
    b = export_review(run, tmp_path / "b.csv").path
    import_review(run, edit_csv(b, tmp_path / "b2.csv", "si-0000", "output", "B"))
    with pytest.raises(TaneError, match=r"stale review file: rows 2 \(si-0000\)"):
        import_review(run, edit_csv(a, tmp_path / "a2.csv", "si-0000", "output", "A"))


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_review_state_survives_a_libreoffice_resave(run: Path, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice not installed")
    a = export_review(run, tmp_path / "a.xlsx").path
    b = export_review(run, tmp_path / "b.xlsx").path
    import_review(run, _edit(b, tmp_path / "b2.xlsx", {"si-0000": {"output": "B"}}))
    a2 = _edit(a, tmp_path / "a2.xlsx", {"si-0000": {"output": "A"}})
    outdir = tmp_path / "lo"
    res = subprocess.run([soffice, f"-env:UserInstallation={(tmp_path / 'p').as_uri()}",
                          "--headless", "--convert-to", "xlsx", "--outdir", str(outdir),
                          str(a2)], capture_output=True, text=True, timeout=180)
    resaved = outdir / "a2.xlsx"
    assert resaved.exists(), res.stdout + res.stderr
    with pytest.raises(TaneError, match="stale review file"):
        import_review(run, resaved)
