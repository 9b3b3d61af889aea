"""``tane stats`` on a run whose records all come from one method, in one language, with
drops in both rejected.jsonl and stats.json and records cut by the target: each drop
reason is listed once, ``over_target`` is told apart from the quality drops (and not
charted as one), and a distribution of a single value is a line, not a one-bar chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tane.cli import app

ROWS = [{"id": f"r{i}", "instruction": q, "input": "", "output": "答えです。",
         "provenance": {"method": "self_instruct"}}
        for i, q in enumerate(["日本の首都について説明してください。",
                               "猫についての短い詩を書いてください。",
                               "量子コンピュータとは何か説明してください。"])]
REJECTED = [
    {"stage": "self_instruct", "record_id": None, "reason": "near_duplicate", "detail": {},
     "text": "日本の首都について説明して。"},
    {"stage": "self_instruct", "record_id": None, "reason": "near_duplicate", "detail": {},
     "text": "日本の首都を説明してください。"},
    {"stage": "curate", "record_id": "r7", "reason": "repetition:ngram", "detail": {},
     "text": "同じ言葉を繰り返してください。"},
    {"stage": "self_instruct", "record_id": None, "reason": "over_target", "detail": {},
     "text": "富士山の高さは？"},
    {"stage": "self_instruct", "record_id": None, "reason": "over_target", "detail": {},
     "text": "琵琶湖の大きさは？"},
]
STATS = {"target": 3, "kept": 3, "llm": {"failures": {}}, "stages": {
    "self_instruct": {"items_in": 8, "kept": 4,
                      "dropped": {"near_duplicate": 2, "over_target": 2}},
    "curate": {"items_in": 4, "kept": 3, "dropped": {"repetition:ngram": 1}}}}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[str, dict, Path]:
    d = tmp_path_factory.mktemp("run")
    for name, rows in (("dataset.jsonl", ROWS), ("rejected.jsonl", REJECTED)):
        (d / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                              encoding="utf-8")
    (d / "stats.json").write_text(json.dumps(STATS), encoding="utf-8")
    res = CliRunner().invoke(app, ["stats", str(d), "--out", str(d / "stats")])
    assert res.exit_code == 0, res.output
    rep = json.loads((d / "stats" / "report.json").read_text(encoding="utf-8"))
    return res.output, rep, d / "stats"


def test_each_drop_reason_once(report):
    text, rep, _ = report
    rows = [ln for ln in text.splitlines() if "near_duplicate" in ln]
    assert len(rows) == 1, text
    assert sum("repetition:ngram" in ln for ln in text.splitlines()) == 1, text
    assert rep["drops"]["rejected_by_reason"] == {"near_duplicate": 2, "repetition:ngram": 1}


def test_over_target_is_no_quality_drop(report):
    text, rep, _ = report
    lines = [ln for ln in text.splitlines() if "over_target" in ln]
    assert len(lines) == 1 and "not a quality drop" in lines[0], text
    assert "2" in lines[0], lines
    assert rep["drops"]["over_target"]["total"] == 2
    assert "over_target" not in json.dumps(rep["drops"]["rejected_by_stage"])
    assert "over_target" not in json.dumps(rep["drops"]["stats_json_by_stage"])


def test_a_single_value_is_a_line_not_a_chart(report):
    pytest.importorskip("matplotlib")
    text, rep, out = report
    assert "method: self_instruct (3 records)" in text, text
    assert "language: ja (3 records)" in text, text
    assert "counts_method.png" not in rep["charts"]
    assert "counts_language.png" not in rep["charts"]
    assert not (out / "counts_method.png").exists()
    assert "drop_reasons.png" in rep["charts"]  # two reasons: a chart
