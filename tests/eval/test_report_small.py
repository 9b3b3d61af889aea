"""The eval report on too little evidence: on 2 items it warns that the intervals are too
narrow, withholds the length-controlled win rate, names the judge's model, and flags a
judge whose scores never vary. On enough items with varied scores it warns of nothing and
reports the length-controlled rate. ``tane eval report`` runs in a subprocess over eval
directories written here from the file contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_tane

MIN_ITEMS, MIN_LC_ITEMS = 20, 30  # documented in tane.eval.report

JUDGE_MODEL = "gemma-3-270m-it-Q8_0"


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def evaldir(root: Path, n: int, score, orders) -> Path:
    """``n`` items answered by models a and b, graded by judge ``embedded`` with
    ``score(i, model)`` and compared with ``orders(i) -> (ab, ba)``."""
    d = root / "ev"
    d.mkdir()
    items = [{"id": str(i), "category": None, "turns": [f"質問{i}"], "reference": None,
              "eval_aspect": None, "baseline": None} for i in range(1, n + 1)]
    (d / "eval.json").write_text(json.dumps({
        "bench": "bundled:elyza_ja", "format": "elyza", "lang": "ja", "items": n,
        "models": {"a": {"where": "embedded", "model": "SmolLM2-135M", "license": None},
                   "b": {"where": "embedded", "model": "SmolLM2-135M", "license": None}},
        "judges": {"embedded": {"where": "embedded", "model": JUDGE_MODEL,
                                "license": "gemma"}},
        "steps": {}}), encoding="utf-8")
    _jsonl(d / "items.jsonl", items)
    _jsonl(d / "answers.jsonl", [
        {"item_id": it["id"], "model": m, "turns": ["あ" * (10 + i)], "finish_reason": "stop",
         "error": None, "chars": 10 + i}
        for i, it in enumerate(items) for m in ("a", "b")])
    _jsonl(d / "grades.jsonl", [
        {"item_id": it["id"], "model": m, "judge": "embedded", "scale": 5, "turn": 1,
         "score": score(i, m), "status": "ok", "raw": "", "retried": False, "error": None}
        for i, it in enumerate(items) for m in ("a", "b")])
    comps = []
    for i, it in enumerate(items):
        ab, ba = orders(i)
        comps.append({"item_id": it["id"], "a": "a", "b": "b", "judge": "embedded",
                      "category": None, "ab": ab, "ba": ba, "ab_level": None,
                      "ba_level": None, "final": ab if ab == ba else "tie",
                      "consistent": ab == ba, "len_a": 30 + (i % 7) * 20,
                      "len_b": 40 + (i % 5) * 15, "status": "ok"})
    _jsonl(d / "comparisons.jsonl", comps)
    return d


def report(d: Path) -> tuple[dict, str, str]:
    res = run_tane("eval", "report", str(d), "--n-boot", "1000")
    assert res.returncode == 0, res.stderr
    rep = json.loads((d / "report" / "report.json").read_text(encoding="utf-8"))
    return rep, (d / "report" / "report.md").read_text(encoding="utf-8"), res.stderr


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_two_items_warn_withhold_the_lc_rate_and_flag_a_judge_that_never_varies(tmp_path):
    # every grade 5; item 1 won by a in both orders, item 2 a flip (a tie): raw 75%
    d = evaldir(tmp_path, 2, lambda i, m: 5,
                lambda i: ("a", "a") if i == 0 else ("a", "b"))
    rep, md, stderr = report(d)
    (p,) = rep["pairwise"]
    lc = p["length_controlled"]
    assert lc["win_rate"] is None and lc["lo"] is None and lc["length_coef"] is None
    assert lc["raw_win_rate"] == 0.75 and f"needs {MIN_LC_ITEMS}" in lc["withheld"]
    warnings = rep["warnings"]
    assert any("on 2 items" in w and f"fewer than {MIN_ITEMS}" in w and "scores" in w
               for w in warnings), warnings
    assert any("a vs b" in w and "2 items" in w and "win-rate" in w for w in warnings)
    assert any("no length-controlled win rate" in w for w in warnings)
    assert any(f"judge embedded (model {JUDGE_MODEL})" in w and "same score (5)" in w
               for w in warnings), warnings
    # printed by the command, first in report.md, and in the claims themselves
    for w in warnings:
        assert f"warning: {w}" in " ".join(stderr.split())
        assert f"- **{w}**" in md
    assert md.index("## Warnings") < md.index("## Claims")
    claim = next(c for c in rep["claims"] if c["kind"] == "pairwise")
    assert "only 2 items" in claim["text"] and "no length-controlled rate" in claim["text"]
    assert "length-controlled 11" not in md and "| withheld |" in md
    # the judge is named with its model, not only "embedded"
    assert f"## Scores: judge embedded (model {JUDGE_MODEL}, 1–5)" in md
    assert f"judges: embedded: {JUDGE_MODEL} at embedded" in md
    assert f"judge embedded, model {JUDGE_MODEL}" in claim["text"]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_enough_varied_items_warn_of_nothing_and_report_the_lc_rate(tmp_path):
    n = MIN_LC_ITEMS
    d = evaldir(tmp_path, n, lambda i, m: 1 + (i * 3 + (m == "a")) % 5,
                lambda i: [("a", "a"), ("b", "b"), ("a", "b"), ("a", "a"), ("tie", "tie")][i % 5])
    rep, md, stderr = report(d)
    assert rep["warnings"] == [] and "## Warnings" not in md and "warning:" not in stderr
    lc = rep["pairwise"][0]["length_controlled"]
    assert lc["withheld"] is None and lc["n_items"] == n
    assert 0 <= lc["lo"] <= lc["win_rate"] <= lc["hi"] <= 1
    assert "only" not in " ".join(c["text"] for c in rep["claims"])
