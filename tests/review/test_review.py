"""tane review export/import: XLSX and CSV round trips on hand-made run dirs (no model),
persistent revisions, formula-injection protection and all-or-nothing validation."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tane.cli import app
from tane.errors import TaneError
from tane.review import MAX_CELL, export_review, import_review
from tane.review.xlsx import set_text
from tane.store.revisions import apply_revisions, machine_output, write_outputs
from tane.store.rundir import RunDir

INJECT = ["=1+1", "+SUM(A1)", "-2+3", "@foo", "\tx"]


def _rec(i: int, output: str) -> dict:
    prov = {"method": "self_instruct", "model": "google/gemma-3-270m", "license": "gemma",
            "backend": "embedded", "seed_ids": [f"ja-{i % 3:03d}"], "parent_id": None,
            "template": "self_instruct/ja_generate.j2@0", "sampling": {"seed": i},
            "steps": []}
    if i == 0:
        prov["judge"] = {"score": 4, "reason": "簡潔で正確"}
    return {"id": f"si-{i:04d}", "instruction": f"日本の首都について説明してください（{i}）",
            "input": "地理" if i % 2 else "", "output": output, "provenance": prov}


def make_run(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    outs = ["東京です。", "大阪ではありません。", "京都は古都です。"] + INJECT
    records = [_rec(i, o) for i, o in enumerate(outs)]
    (d / "dataset.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    drop = {"stage": "self_instruct", "record_id": None, "reason": "rouge_similar",
            "detail": {"rouge_l": 0.9}, "text": "東京はどこですか", }
    (d / "rejected.jsonl").write_text(json.dumps(drop, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    (d / "stats.json").write_text(json.dumps({"target": len(records),
                                              "kept": len(records)}), encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps(
        {"tane_version": "0.1.0", "status": "complete",
         "recipe": {"name": "レビュー", "seed": 1, "target": len(records)}},
        ensure_ascii=False), encoding="utf-8")
    RunDir(d).close()
    return d


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def _dataset(d: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (d / "dataset.jsonl").read_text(
        encoding="utf-8").splitlines())}


def _rejected(d: Path) -> list[dict]:
    return [json.loads(x) for x in (d / "rejected.jsonl").read_text(
        encoding="utf-8").splitlines()]


def _revisions(d: Path) -> list[tuple]:
    db = sqlite3.connect(d / "run.sqlite")
    try:
        return db.execute("SELECT record_id, revision, status, fields, note, source "
                          "FROM revisions ORDER BY seq").fetchall()
    finally:
        db.close()


def _col(ws, name: str) -> int:
    return [c.value for c in ws[1]].index(name) + 1


def _row_of(ws, rec_id: str) -> int:
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, 1).value == rec_id:
            return r
    raise KeyError(rec_id)


def _edit_xlsx(path: Path, out: Path, edits: dict[tuple[str, str], str]) -> Path:
    wb = load_workbook(path)
    ws = wb["review"]
    for (rec_id, col), value in edits.items():
        cell = ws.cell(_row_of(ws, rec_id), _col(ws, col))
        if isinstance(value, str) and value.startswith("="):
            set_text(cell, value)     # what typing '=... in Excel stores: text
        else:
            cell.value = value
    wb.save(out)
    return out


# -- XLSX -----------------------------------------------------------------------------
def test_xlsx_export_layout_and_formula_protection(run: Path, tmp_path: Path) -> None:
    x = tmp_path / "review.xlsx"
    rep = export_review(run, x, include_dropped=True)
    assert rep.rows == 9 and rep.dropped_rows == 1
    wb = load_workbook(x)
    ws = wb["review"]
    assert [c.value for c in ws[1]] == ["id", "instruction", "input", "output", "method",
                                       "judge_score", "judge_reason", "drop_reason",
                                       "status", "note"]
    assert ws.freeze_panes == "B2" and ws.protection.sheet
    assert wb["_meta"].sheet_state == "hidden"
    assert ws.cell(1, 1).comment is not None
    assert any('"keep,drop,edit"' in (dv.formula1 or "")
               for dv in ws.data_validations.dataValidation)
    out_col = _col(ws, "output")
    for i, text in enumerate(INJECT, 3):
        cell = ws.cell(_row_of(ws, f"si-{i:04d}"), out_col)
        assert cell.data_type == "s" and cell.value == text, (text, cell.data_type)
        assert cell.quotePrefix
    row0 = _row_of(ws, "si-0000")
    assert ws.cell(row0, _col(ws, "judge_score")).value == "4"
    assert ws.cell(row0, _col(ws, "judge_reason")).value == "簡潔で正確"
    assert ws.cell(row0, out_col).font.name == "Yu Gothic"
    assert ws.cell(row0, out_col).alignment.wrap_text
    assert not ws.cell(row0, out_col).protection.locked
    assert ws.cell(row0, 1).protection.locked
    drow = _row_of(ws, "rejected:1")
    assert ws.cell(drow, _col(ws, "drop_reason")).value == "rouge_similar"
    assert ws.cell(drow, out_col).protection.locked
    # the raw XML holds no formula element at all
    import zipfile
    with zipfile.ZipFile(x) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode("utf-8")


def test_xlsx_round_trip(run: Path, tmp_path: Path) -> None:
    x = export_review(run, tmp_path / "review.xlsx", include_dropped=True).path
    edited = _edit_xlsx(x, tmp_path / "edited.xlsx", {
        ("si-0000", "output"): "東京都です。",                      # text change, no status
        ("si-0001", "status"): "drop", ("si-0001", "note"): "不正確",
        ("si-0002", "status"): "keep",
        ("si-0003", "status"): "edit", ("si-0003", "instruction"): "=計算してください",
        ("si-0004", "output"): "+SUM(A1) を説明", ("si-0004", "status"): "keep",
    })
    rep = import_review(run, edited)
    revs = _revisions(run)
    assert [(r[0], r[1], r[2]) for r in revs] == [
        ("si-0000", 1, "edit"), ("si-0001", 1, "drop"), ("si-0002", 1, "keep"),
        ("si-0003", 1, "edit"), ("si-0004", 1, "edit")]
    assert all(r[5] == "edited.xlsx" for r in revs)
    assert json.loads(revs[0][3])["output"] == "東京都です。"
    assert rep.kept == 7 and rep.dropped == 1

    ds = _dataset(run)
    assert "si-0001" not in ds and len(ds) == 7
    assert ds["si-0000"]["output"] == "東京都です。"
    hr = ds["si-0000"]["provenance"]["human_review"]
    assert hr["status"] == "edit" and hr["revision"] == 1 and hr["source"] == "edited.xlsx"
    assert hr["original"]["output"] == "東京です。"
    assert ds["si-0002"]["provenance"]["human_review"]["status"] == "keep"
    assert "original" not in ds["si-0002"]["provenance"]["human_review"]
    assert ds["si-0003"]["instruction"] == "=計算してください"
    assert ds["si-0003"]["output"] == "=1+1"          # untouched
    assert ds["si-0006"]["output"] == "@foo" and ds["si-0007"]["output"] == "\tx"
    assert "human_review" not in ds["si-0005"]["provenance"]
    human = [d for d in _rejected(run) if d["reason"] == "human"]
    assert len(human) == 1 and human[0]["stage"] == "review"
    assert human[0]["record_id"] == "si-0001"
    assert human[0]["detail"]["note"] == "不正確" and human[0]["detail"]["revision"] == 1
    assert [d["reason"] for d in _rejected(run)] == ["rouge_similar", "human"]
    assert (run / "dataset.machine.jsonl").exists()

    # the same file again: nothing changes
    before = ((run / "dataset.jsonl").read_bytes(), (run / "rejected.jsonl").read_bytes())
    rep2 = import_review(run, edited)
    assert rep2.revisions == [] and len(_revisions(run)) == 5
    assert before == ((run / "dataset.jsonl").read_bytes(),
                      (run / "rejected.jsonl").read_bytes())

    # a fresh export shows the reviewed state; importing it unchanged adds nothing
    x2 = export_review(run, tmp_path / "again.xlsx").path
    ws = load_workbook(x2)["review"]
    assert ws.cell(_row_of(ws, "si-0000"), _col(ws, "output")).value == "東京都です。"
    assert ws.cell(_row_of(ws, "si-0001"), _col(ws, "status")).value == "drop"
    assert import_review(run, x2).revisions == []
    # a second round: undo the drop
    again = _edit_xlsx(x2, tmp_path / "undo.xlsx", {("si-0001", "status"): "keep"})
    assert [r["revision"] for r in import_review(run, again).revisions] == [2]
    assert "si-0001" in _dataset(run)
    assert not [d for d in _rejected(run) if d["reason"] == "human"]

    # a resumed run writes outputs the same way: the reviewed dataset survives
    recs, drops = machine_output(run)
    rd = RunDir(run)
    rd.reset_ledger()     # the ledger is rebuilt, the revisions are not
    write_outputs(rd, recs, drops)
    rd.close()
    assert _dataset(run)["si-0000"]["output"] == "東京都です。"

    # tane export reads the reviewed dataset
    res = CliRunner().invoke(app, ["export", str(run), "-f", "alpaca", "--to",
                                   str(tmp_path / "alpaca.jsonl"), "--no-card"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (tmp_path / "alpaca.jsonl").read_text(
        encoding="utf-8").splitlines()]
    assert "東京都です。" in [r["output"] for r in rows]
    assert "=計算してください" in [r["instruction"] for r in rows]

    # the dataset card counts the review from the revisions table
    res = CliRunner().invoke(app, ["export", str(run), "-f", "alpaca", "--to",
                                   str(tmp_path / "carded" / "a.jsonl")])
    assert res.exit_code == 0, res.output
    card = (tmp_path / "carded" / "README.md").read_text(encoding="utf-8")
    assert "5 records reviewed by a person: keep 2, edit 3, drop 0." in card
    assert "| edited.xlsx |" in card and "| undo.xlsx |" in card
    assert "A person reviewed 5 records" in card and "0 records reviewed" not in card


def test_apply_revisions_unit() -> None:
    recs = [_rec(0, "A"), _rec(1, None)]
    revs = {"si-0000": {"revision": 3, "status": "edit", "note": "n", "source": "f.xlsx",
                        "fields": {"instruction": recs[0]["instruction"], "input": "",
                                   "output": "B"}},
            "si-0001": {"revision": 1, "status": "keep", "note": "", "source": "f.xlsx",
                        "fields": {"instruction": recs[1]["instruction"], "input": "地理",
                                   "output": ""}},
            "gone": {"revision": 1, "status": "drop", "note": "", "fields": {}}}
    out, drops = apply_revisions(recs, [], revs)
    assert out[0]["output"] == "B" and out[0]["provenance"]["human_review"]["original"] == {
        "instruction": recs[0]["instruction"], "input": "", "output": "A"}
    assert out[1]["output"] is None            # blank cell keeps a missing output missing
    assert recs[0]["output"] == "A" and drops == []


def test_cli_review_round_trip_and_exit_2(run: Path, tmp_path: Path) -> None:
    r = CliRunner()
    x = tmp_path / "r.xlsx"
    res = r.invoke(app, ["review", "export", str(run), "-o", str(x)])
    assert res.exit_code == 0, res.output
    _edit_xlsx(x, x, {("si-0002", "status"): "drop"})
    res = r.invoke(app, ["review", "import", str(run), str(x)])
    assert res.exit_code == 0, res.output
    assert "1 new revision" in res.output
    bad = _edit_xlsx(x, tmp_path / "bad.xlsx", {("si-0002", "status"): "maybe"})
    res = r.invoke(app, ["review", "import", str(run), str(bad)])
    assert res.exit_code == 2
    assert "bad.xlsx:4" in res.output and "review!status" in res.output


# -- errors: all or nothing -----------------------------------------------------------
def _mutate(kind: str, ws, wb):
    if kind == "other_run":
        wb["_meta"]["B2"].value = "0" * 64
        return 2, "_meta!run_id", "another run"
    if kind == "renamed_column":
        ws.cell(1, _col(ws, "output")).value = "answer"
        return 1, "review!output", "missing column 'output'"
    if kind == "removed_column":
        ws.delete_cols(_col(ws, "note"))
        return 1, "review!note", "missing column 'note'"
    if kind == "changed_id":
        ws.cell(_row_of(ws, "si-0004"), 1).value = "si-9999"
        return 6, "review!id", "unknown id 'si-9999'"
    if kind == "duplicate_id":
        ws.cell(_row_of(ws, "si-0004"), 1).value = "si-0003"
        return 6, "review!id", "duplicate id 'si-0003'"
    if kind == "invalid_status":
        ws.cell(_row_of(ws, "si-0005"), _col(ws, "status")).value = "OK"
        return 7, "review!status", "invalid status 'OK'"
    if kind == "too_long":
        ws.cell(_row_of(ws, "si-0006"), _col(ws, "output")).value = "あ" * (MAX_CELL + 1)
        return 8, "review!output", "more than the limit"
    if kind == "formula_typed":
        ws.cell(_row_of(ws, "si-0006"), _col(ws, "note")).value = "=HYPERLINK(\"x\")"
        return 8, "review!note", "formula"
    if kind == "revive_dropped":
        ws.cell(_row_of(ws, "rejected:1"), _col(ws, "status")).value = "keep"
        return 10, "review!status", "cannot be revived"
    if kind == "empty_id":
        ws.cell(_row_of(ws, "si-0003"), 1).value = None
        return 5, "review!id", "empty id"
    raise AssertionError(kind)


ERRORS = ["other_run", "renamed_column", "removed_column", "changed_id", "duplicate_id",
          "invalid_status", "too_long", "formula_typed", "revive_dropped", "empty_id"]


@pytest.mark.parametrize("kind", ERRORS)
def test_xlsx_import_errors_apply_nothing(run: Path, tmp_path: Path, kind: str) -> None:
    x = export_review(run, tmp_path / "review.xlsx", include_dropped=True).path
    wb = load_workbook(x)
    ws = wb["review"]
    # valid edits on earlier rows: must not be applied either
    ws.cell(_row_of(ws, "si-0000"), _col(ws, "output")).value = "変更"
    ws.cell(_row_of(ws, "si-0001"), _col(ws, "status")).value = "drop"
    line, field, msg = _mutate(kind, ws, wb)
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    before = (run / "dataset.jsonl").read_bytes()
    with pytest.raises(TaneError) as ei:
        import_review(run, bad)
    e = ei.value
    assert e.path == str(bad) and e.line == line and e.field == field, e.one_line()
    assert msg in e.message
    assert (run / "dataset.jsonl").read_bytes() == before
    assert _revisions(run) == []
    assert not (run / "dataset.machine.jsonl").exists()


def test_xlsx_missing_sheet_and_not_xlsx(run: Path, tmp_path: Path) -> None:
    x = export_review(run, tmp_path / "review.xlsx").path
    wb = load_workbook(x)
    wb["review"].title = "レビュー"
    wb.save(tmp_path / "renamed.xlsx")
    with pytest.raises(TaneError, match="no sheet named 'review'"):
        import_review(run, tmp_path / "renamed.xlsx")
    (tmp_path / "junk.xlsx").write_text("not a zip", encoding="utf-8")
    with pytest.raises(TaneError, match="cannot read as .xlsx"):
        import_review(run, tmp_path / "junk.xlsx")
    with pytest.raises(TaneError, match=".xlsx or .csv"):
        export_review(run, tmp_path / "review.ods")


def test_other_run_after_rerun_changes_records(run: Path, tmp_path: Path) -> None:
    x = export_review(run, tmp_path / "review.xlsx").path
    other = make_run(tmp_path / "other")
    lines = (other / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    (other / "dataset.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(TaneError, match="another run"):
        import_review(other, x)


def test_long_cell_truncated_on_export_is_not_an_edit(tmp_path: Path) -> None:
    d = make_run(tmp_path / "run")
    recs = [json.loads(x) for x in (d / "dataset.jsonl").read_text(
        encoding="utf-8").splitlines()]
    recs[0]["output"] = "長" * (MAX_CELL + 500)
    (d / "dataset.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in recs), encoding="utf-8")
    x = export_review(d, tmp_path / "r.xlsx").path
    _edit_xlsx(x, x, {("si-0000", "status"): "keep"})
    import_review(d, x)
    assert _dataset(d)["si-0000"]["output"] == "長" * (MAX_CELL + 500)
    assert _dataset(d)["si-0000"]["provenance"]["human_review"]["status"] == "keep"


# -- CSV ------------------------------------------------------------------------------
def _csv_rows(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def _write_csv(path: Path, rows: list[list[str]], encoding: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def test_csv_round_trip_bom_and_injection(run: Path, tmp_path: Path) -> None:
    c = export_review(run, tmp_path / "review.csv").path
    raw = c.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "東京です。".encode("utf-8") in raw
    rows = _csv_rows(c)
    head = rows[0]
    assert head[-1] == "run_id" and head[:4] == ["id", "instruction", "input", "output"]
    outs = {r[0]: r[3] for r in rows[1:]}
    for i, text in enumerate(INJECT, 3):
        assert outs[f"si-{i:04d}"] == "'" + text
    st, no, out_ = head.index("status"), head.index("note"), head.index("output")
    by_id = {r[0]: r for r in rows[1:]}
    by_id["si-0000"][out_] = "'=2+2 と答える"       # quote-protected edit
    by_id["si-0001"][st], by_id["si-0001"][no] = "drop", "重複"
    by_id["si-0002"][st] = "KEEP"
    edited = _write_csv(tmp_path / "edited.csv", rows, "utf-8-sig")
    rep = import_review(run, edited)
    assert sorted((r["record_id"], r["status"]) for r in rep.revisions) == [
        ("si-0000", "edit"), ("si-0001", "drop"), ("si-0002", "keep")]
    ds = _dataset(run)
    assert ds["si-0000"]["output"] == "=2+2 と答える"
    assert ds["si-0003"]["output"] == "=1+1" and ds["si-0007"]["output"] == "\tx"
    assert [d["detail"]["note"] for d in _rejected(run) if d["reason"] == "human"] == ["重複"]
    assert import_review(run, edited).revisions == []
    # the same decisions saved without BOM, and as CP932 (Japanese Excel): no new revisions
    assert import_review(run, _write_csv(tmp_path / "nobom.csv", rows, "utf-8")).revisions == []
    assert import_review(run, _write_csv(tmp_path / "sjis.csv", rows, "cp932")).revisions == []


def test_csv_cp932_import_applies_edits(run: Path, tmp_path: Path) -> None:
    c = export_review(run, tmp_path / "review.csv").path
    rows = _csv_rows(c)
    out_ = rows[0].index("output")
    rows[1][out_] = "東京都（とうきょうと）です。"
    sj = _write_csv(tmp_path / "sjis.csv", rows, "cp932")
    with pytest.raises(UnicodeDecodeError):
        sj.read_bytes().decode("utf-8")
    import_review(run, sj)
    assert _dataset(run)["si-0000"]["output"] == "東京都（とうきょうと）です。"


def test_csv_errors(run: Path, tmp_path: Path) -> None:
    c = export_review(run, tmp_path / "review.csv").path
    rows = _csv_rows(c)
    bad = [list(r) for r in rows]
    bad[3][rows[0].index("status")] = "はい"
    p = _write_csv(tmp_path / "bad.csv", bad, "utf-8-sig")
    with pytest.raises(TaneError) as ei:
        import_review(run, p)
    assert (ei.value.line, ei.value.field) == (4, "bad.csv!status")
    bad = [list(r) for r in rows]
    bad[2][-1] = "f" * 64
    p = _write_csv(tmp_path / "mixed.csv", bad, "utf-8-sig")
    with pytest.raises(TaneError, match="different runs"):
        import_review(run, p)
    bad = [r[:-1] for r in rows]
    p = _write_csv(tmp_path / "norun.csv", bad, "utf-8-sig")
    with pytest.raises(TaneError, match="no run id"):
        import_review(run, p)
    (tmp_path / "latin.csv").write_bytes(b"id\xff\xfe\x80\x81")
    with pytest.raises(TaneError):
        import_review(run, tmp_path / "latin.csv")
    assert _revisions(run) == []


# -- LibreOffice ----------------------------------------------------------------------
def test_libreoffice_does_not_evaluate_injected_text(run: Path, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice not installed: install libreoffice-calc-nogui to check "
                    "that exported formulas are not evaluated")
    x = export_review(run, tmp_path / "review.xlsx").path
    outdir = tmp_path / "lo"
    profile = (tmp_path / "lo-profile").as_uri()
    # 76 = comma, 34 = double quote, 76 = UTF-8: a CSV we can read back exactly
    res = subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless",
                          "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76",
                          "--outdir", str(outdir), str(x)],
                         capture_output=True, text=True, timeout=180)
    out = outdir / "review.csv"
    assert out.exists(), res.stdout + res.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    outs = {r[0]: r[3] for r in rows[1:]}
    for i, text in enumerate(INJECT, 3):
        assert outs[f"si-{i:04d}"] == text, (text, outs[f"si-{i:04d}"])
    assert outs["si-0000"] == "東京です。"


def test_judge_quality_from_the_judge_stage_fills_the_score_column():
    from tane.provenance import Provenance
    from tane.verdicts import recorded_verdict

    def judged(prov: dict) -> tuple[str, str]:
        return recorded_verdict(Provenance.read(prov))

    prov = {"judge": {"status": "ok", "quality": 4, "reason": "自然な日本語",
                      "difficulty": "easy", "category": "editing"}}
    assert judged(prov) == ("4", "自然な日本語")  # as written before verdicts were steps
    assert judged({"judge": {"status": "unparseable", "raw": "??"}}) == ("", "")
    step = {"method": "self_instruct", "steps": [{"method": "judge", "status": "ok",
                                                  "quality": 2, "reason": "短い"}]}
    assert judged(step) == ("2", "短い")
