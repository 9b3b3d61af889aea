"""Import compares each row three ways: the row as its file exported it, the row in the
file, and the record now. A row the file leaves as exported is no decision, so another
review of that record stays; a row the file changes whose record another import changed
since the export is refused unless --force; --force applies only the rows the file
changes. Real .xlsx files and the real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_tane
from review.test_review import _dataset, _revisions, make_run
from review.test_stale_review import _edit, _row_of, _state
from tane.review import export_review, import_review


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def _error_line(res) -> str:
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_second_copy_of_an_imported_export_does_not_undo_it(run: Path,
                                                              tmp_path: Path) -> None:
    x = export_review(run, tmp_path / "x.xlsx").path
    first = _edit(x, tmp_path / "first.xlsx", {"si-0000": {"output": "一回目の答え"}})
    import_review(run, first)
    # another copy of the same export: si-0000 still shows the text as exported
    second = _edit(x, tmp_path / "second.xlsx", {"si-0001": {"output": "二人目の答え"}})
    res = run_tane("review", "import", str(run), str(second), "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "si-0000" not in res.stdout, res.stdout
    assert f"row {_row_of(second, 'si-0001')} si-0001: edit (output)" in res.stdout
    assert "1 revision(s) would be added" in res.stdout
    res = run_tane("review", "import", str(run), str(second))
    assert res.returncode == 0, res.stderr
    ds = _dataset(run)
    assert ds["si-0000"]["output"] == "一回目の答え"
    assert ds["si-0001"]["output"] == "二人目の答え"
    assert [r[0] for r in _revisions(run)] == ["si-0000", "si-0001"]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_copy_changing_a_row_imported_since_its_export_is_refused(run: Path,
                                                                    tmp_path: Path) -> None:
    x = export_review(run, tmp_path / "x.xlsx").path
    first = _edit(x, tmp_path / "first.xlsx", {"si-0000": {"output": "一回目の答え"}})
    import_review(run, first)
    other = _edit(x, tmp_path / "other.xlsx", {"si-0000": {"output": "別の答え"}})
    before = _state(run)
    res = run_tane("review", "import", str(run), str(other))
    assert res.returncode == 2, res.stderr
    line = _error_line(res)
    assert "stale review file" in line and "first.xlsx" in line and "--force" in line
    assert f"{_row_of(other, 'si-0000')} (si-0000)" in line
    assert _state(run) == before
    res = run_tane("review", "import", str(run), str(other), "--force")
    assert res.returncode == 0, res.stderr
    assert "overwrite a later review" in res.stderr
    assert _dataset(run)["si-0000"]["output"] == "別の答え"


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_force_applies_only_the_rows_the_file_changes(run: Path, tmp_path: Path) -> None:
    a = export_review(run, tmp_path / "a.xlsx").path
    b = export_review(run, tmp_path / "b.xlsx").path
    import_review(run, _edit(b, tmp_path / "b_done.xlsx",
                             {"si-0000": {"output": "B の答え"},
                              "si-0002": {"output": "B の三番"}}))
    # A changes only si-0001, which nobody changed since A's export: nothing is stale
    a1 = _edit(a, tmp_path / "a1.xlsx", {"si-0001": {"output": "A の二番"}})
    res = run_tane("review", "import", str(run), str(a1))
    assert res.returncode == 0, res.stderr
    assert "1 new revision(s)" in res.stdout, res.stdout
    ds = _dataset(run)
    assert ds["si-0000"]["output"] == "B の答え"
    assert ds["si-0001"]["output"] == "A の二番"
    # another copy of A's export changes si-0003 and si-0002, which B changed
    a2 = _edit(a, tmp_path / "a2.xlsx", {"si-0003": {"output": "A の四番"},
                                         "si-0002": {"output": "A の三番"}})
    res = run_tane("review", "import", str(run), str(a2))
    assert res.returncode == 2, res.stderr
    line = _error_line(res)
    assert f"rows {_row_of(a2, 'si-0002')} (si-0002) were changed" in line, line
    assert "si-0000" not in line and "si-0001" not in line and "si-0003" not in line
    res = run_tane("review", "import", str(run), str(a2), "--force")
    assert res.returncode == 0, res.stderr
    assert "2 new revision(s)" in res.stdout, res.stdout
    ds = _dataset(run)
    assert ds["si-0000"]["output"] == "B の答え"   # B's, untouched by A's file
    assert ds["si-0001"]["output"] == "A の二番"   # A's first copy, untouched by the second
    assert ds["si-0002"]["output"] == "A の三番"
    assert ds["si-0003"]["output"] == "A の四番"
