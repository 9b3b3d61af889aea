"""An export that would hold no record is an error (exit 2, one line saying why, nothing
written), not an empty training file with exit 0. Real runs from a source file through a
curate stage (no model), then the real CLI."""

from __future__ import annotations

import json

import pytest

from helpers import run_tane


def _run(tmp_path, rows, step):
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: empty\nsource: {path: rows.jsonl}\nstages:\n"
                      f"  - method: curate\n    steps: [{step}]\n", encoding="utf-8")
    run = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(run), "--no-progress")
    assert res.returncode == 0, res.stderr
    return run


QA = [{"instruction": "日本の首都はどこですか？", "output": "東京です。"},
      {"instruction": "富士山の高さは何メートルですか？", "output": "3776 メートルです。"}]


@pytest.mark.parametrize("rows, step, why", [
    (QA, "{name: length, instruction_min: 1000}", "the run kept no records; see why with "
                                                 "tane show {run} --no-kept"),
    ([{"instruction": r["instruction"]} for r in QA], "{name: length}",
     "none of its 2 record(s) has an output (a recipe without an answer stage?)"),
])
@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_an_export_of_no_record_is_refused(tmp_path, rows, step, why):
    run = _run(tmp_path, rows, step)
    out = tmp_path / "ex"
    out.mkdir()
    res = run_tane("export", str(run), "-f", "alpaca", "--to", str(out / "train.jsonl"),
                   "--for", "llamafactory", "--base-model", "org/base")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == (f"error: {run / 'dataset.jsonl'}: nothing to export: "
                                  f"{why.format(run=run)}; nothing was written")
    assert list(out.iterdir()) == []


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_one_record_still_exports(tmp_path):
    run = _run(tmp_path, QA[:1], "{name: length}")
    res = run_tane("export", str(run), "-f", "messages", "--to", str(tmp_path / "t.jsonl"))
    assert res.returncode == 0, res.stderr
    assert len((tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()) == 1
