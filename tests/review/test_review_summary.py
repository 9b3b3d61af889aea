"""After a review, every summary counts what dataset.jsonl holds: a rerun of `tane run`
(the pipeline kept 4, the review dropped 1: the file holds 3) and a fresh review export
(which still lists the dropped record, so it can be restored)."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from tane.cli import app

runner = CliRunner()
ROWS = ["日本の首都はどこですか。", "富士山の高さを教えてください。", "俳句を一つ作ってください。",
        "次の文を英語に訳してください。"]


def _run(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": t, "output": "答えです。"},
                                      ensure_ascii=False) + "\n" for t in ROWS),
                   encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: summary\nsource: {path: in.jsonl}\nstages:\n"
                      "  - method: curate\n    lang: ja\n    steps: [{name: length}]\n",
                      encoding="utf-8")
    return recipe, tmp_path / "run"


def test_summaries_after_a_review_count_the_file(tmp_path):
    recipe, run = _run(tmp_path)
    res = runner.invoke(app, ["run", str(recipe), "-o", str(run), "--no-progress"],
                        terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "(4 records)" in " ".join(res.output.split())  # rich wraps long paths
    x = tmp_path / "r.xlsx"
    assert runner.invoke(app, ["review", "export", str(run), "-o", str(x)]).exit_code == 0
    wb = load_workbook(x)
    ws = wb["review"]
    status = [c.value for c in ws[1]].index("status") + 1
    ws.cell(row=2, column=status).value = "drop"
    wb.save(x)
    res = runner.invoke(app, ["review", "import", str(run), str(x)])
    assert res.exit_code == 0, res.output
    held = len((run / "dataset.jsonl").read_text(encoding="utf-8").splitlines())
    assert held == 3
    res = runner.invoke(app, ["run", str(recipe), "-o", str(run), "--no-progress"],
                        terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "(3 records: 4 kept, 1 dropped by review)" in " ".join(res.output.split())
    assert json.loads((run / "stats.json").read_text(encoding="utf-8"))["dataset_records"] == 3
    res = runner.invoke(app, ["review", "export", str(run), "-o", str(tmp_path / "r2.xlsx")])
    assert "(3 records in the dataset, 1 dropped by an earlier review)" in \
        " ".join(res.output.split())
