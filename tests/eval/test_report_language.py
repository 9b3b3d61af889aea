"""Wrong-language answers on a Japanese benchmark: ``tane eval report`` flags each answer's
Japanese share by curation's rules, counts the flags per model, and with ``--ja-min``
scores them as failures. Runs the CLI in a subprocess over eval directories written
here from the file contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_tane

JA = "東京は日本の首都で、多くの人が暮らしています。交通も便利です。"
EN = "Tokyo is the capital of Japan and many people live there. Transport is convenient."
ZH = "东京是日本的首都，很多人在这里生活，交通非常方便。"
N = 30
ENGLISH_ITEMS = {"3", "8", "13", "18", "23"}  # "model" answers these in English
CHINESE_ITEMS = {"5", "25"}                     # and these in Chinese
ASKS_ENGLISH = "29"                              # a question asking for English


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def _answer(item: str, model: str) -> str:
    if model == "model" and item in ENGLISH_ITEMS | {ASKS_ENGLISH}:
        return EN
    if model == "model" and item in CHINESE_ITEMS:
        return ZH
    return JA


def evaldir(root: Path, lang: str = "ja") -> Path:
    d = root / "ev"
    d.mkdir()
    (d / "eval.json").write_text(json.dumps({
        "bench": "bundled:elyza_ja", "format": "elyza", "lang": lang, "items": N,
        "models": {m: {"where": "embedded", "model": "m", "license": None}
                   for m in ("model", "base")},
        "judges": {"j": {"where": "embedded", "model": "judge", "license": None}},
        "steps": {}}), encoding="utf-8")
    items = [{"id": str(i), "category": None,
              "turns": ["次の文を英語に翻訳してください。" if str(i) == ASKS_ENGLISH
                        else f"東京について説明してください。{i}"]} for i in range(N)]
    _jsonl(d / "items.jsonl", items)
    _jsonl(d / "answers.jsonl", [
        {"item_id": it["id"], "model": m, "turns": [_answer(it["id"], m)],
         "finish_reason": "stop", "error": None, "chars": len(_answer(it["id"], m))}
        for it in items for m in ("model", "base")])
    # a judge that misses the language: 5 for model, 4 for base, model wins every pair
    _jsonl(d / "grades.jsonl", [
        {"item_id": it["id"], "model": m, "judge": "j", "scale": 5, "turn": 1,
         "score": 5 if m == "model" else 4, "status": "ok", "raw": "", "retried": False,
         "error": None} for it in items for m in ("model", "base")])
    _jsonl(d / "comparisons.jsonl", [
        {"item_id": it["id"], "a": "model", "b": "base", "judge": "j", "category": None,
         "ab": "a", "ba": "a", "final": "a", "consistent": True,
         "len_a": len(_answer(it["id"], "model")), "len_b": len(JA), "status": "ok"}
        for it in items])
    return d


def _report(d: Path, *extra: str) -> tuple[dict, str, str]:
    res = run_tane("eval", "report", str(d), "--n-boot", "1000", *extra)
    assert res.returncode == 0, res.stderr
    rep = json.loads((d / "report" / "report.json").read_text(encoding="utf-8"))
    return rep, (d / "report" / "report.md").read_text(encoding="utf-8"), res.stderr


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_flags_are_counted_per_model_and_warned_about(tmp_path):
    rep, md, stderr = _report(evaldir(tmp_path))
    lang = rep["language"]
    assert lang["ja_min"] == 0.4 and lang["scored_as_failures"] is False
    m, b = lang["models"]["model"], lang["models"]["base"]
    assert (m["answers"], m["flagged"], m["low_japanese"], m["low_kana"]) == (N, 7, 5, 2)
    assert m["flagged_items"] == sorted(ENGLISH_ITEMS | CHINESE_ITEMS)
    assert b["flagged"] == 0 and b["mean_japanese_share"] > 0.9
    # counted only: the judge's figures stand
    assert rep["scores"][0]["models"]["model"]["mean"] == 5.0
    (w,) = [w for w in rep["warnings"] if "not in Japanese" in w]
    assert w.startswith("model: 7 of 30 answers") and "--ja-min" in w
    assert "not in Japanese" in stderr
    assert "## Language" in md and "| model | 30 | 7 | 5 | 2 |" in md


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_ja_min_scores_the_flags_as_failures(tmp_path):
    rep, md, _ = _report(evaldir(tmp_path), "--ja-min", "0.4")
    assert rep["language"]["scored_as_failures"] is True
    # 23 answers keep 5, the 7 flagged get 1
    assert rep["scores"][0]["models"]["model"]["mean"] == (23 * 5 + 7 * 1) / N
    (p,) = rep["pairwise"]
    assert (p["wins"], p["losses"]) == (23, 7)
    # what describes the judge stays its own: it agreed with itself on every item and
    # gave every grade; the length-controlled rate models its verdicts in each order
    assert p["position_consistency"]["rate"] == 1.0
    assert rep["judges"]["j"]["grades"]["parse_failed"] == 0
    assert p["length_controlled"]["raw_win_rate"] == 1.0
    assert "scored as failures" in md


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_ja_min_on_an_english_benchmark_is_one_line(tmp_path):
    d = evaldir(tmp_path, lang="en")
    res = run_tane("eval", "report", str(d), "--n-boot", "1000", "--ja-min", "0.4")
    assert res.returncode == 2
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "ja_min" in lines[0] and "Japanese" in lines[0]
    assert not (d / "report").exists()
    rep, _, _ = _report(d)
    assert rep["language"] is None
