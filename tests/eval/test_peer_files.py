"""flexeval- and Shaberi-shaped files beside ``tane eval report``'s own, run in a
subprocess over an eval directory written here from the file contract; read back the way
those tools read them (flexeval's LLMScore summary keys; Shaberi's results script reads
each judgement file with ``pandas.read_json(lines=True)`` and averages ``score``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_tane

N = 30
CATS = ["math", "writing", "qa"]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def _score(i: int, m: str) -> int | None:
    if m == "tuned" and i == 4:
        return None  # the judge's answer could not be parsed
    return 1 + (i * 3 + (m == "tuned")) % 5


def evaldir(root: Path) -> Path:
    d = root / "ev"
    d.mkdir()
    (d / "eval.json").write_text(json.dumps({
        "bench": "bundled:elyza_ja", "format": "elyza", "lang": "ja", "items": N,
        "models": {m: {"where": "embedded", "model": "m", "license": None}
                   for m in ("tuned", "base")},
        "judges": {"j": {"where": "http://x", "model": "org/judge-7b", "license": None}},
        "steps": {}}), encoding="utf-8")
    items = [{"id": str(i), "category": CATS[i % 3], "turns": [f"質問{i}です。"],
              "reference": [f"模範解答{i}"], "eval_aspect": f"観点{i}"} for i in range(N)]
    _jsonl(d / "items.jsonl", items)
    _jsonl(d / "answers.jsonl", [
        {"item_id": str(i), "model": m, "turns": [f"{m}の答え{i}です。"],
         "finish_reason": "stop", "error": None, "chars": 8} for i in range(N)
        for m in ("tuned", "base")])
    _jsonl(d / "grades.jsonl", [
        {"item_id": str(i), "model": m, "judge": "j", "scale": 5, "turn": 1,
         "score": _score(i, m), "status": "ok" if _score(i, m) else "parse_failed",
         "raw": f"評価{i} [[{_score(i, m)}]]", "retried": False, "error": None}
        for i in range(N) for m in ("tuned", "base")])
    return d


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_flexeval_and_shaberi_files_hold_the_plain_means(tmp_path):
    d = evaldir(tmp_path)
    res = run_tane("eval", "report", str(d), "--n-boot", "1000")
    assert res.returncode == 0, res.stderr
    out = d / "report"
    for m in ("tuned", "base"):
        valid = [(i, _score(i, m)) for i in range(N) if _score(i, m) is not None]
        mean = sum(s for _, s in valid) / len(valid)
        metrics = json.loads((out / "flexeval" / "j" / m / "metrics.json").read_text("utf-8"))
        assert set(metrics) == {"llm_score", "num_failed_score_parses",
                                *(f"llm_score/{c}" for c in CATS)}
        assert metrics["llm_score"] == pytest.approx(mean)
        assert metrics["num_failed_score_parses"] == N - len(valid)
        for k, c in enumerate(CATS):
            v = [s for i, s in valid if i % 3 == k]
            assert metrics[f"llm_score/{c}"] == pytest.approx(sum(v) / len(v))
        lines = (out / "flexeval" / "j" / m / "outputs.jsonl").read_text("utf-8").splitlines()
        first = json.loads(lines[0])
        assert len(lines) == N and first["lm_output"] == f"{m}の答え0です。"
        assert first["references"] == ["模範解答0"] and first["extra_info"]["id"] == "0"
        # Shaberi: data/judgements/judge_<judge>/<dataset>/<model>.json, read as Shaberi does
        pd = pytest.importorskip("pandas")
        path = out / "shaberi" / "judge_org__judge-7b" / "bundled_elyza_ja" / f"{m}.json"
        df = pd.read_json(path, lines=True)
        assert {"Question", "output", "eval_aspect", "ModelAnswer", "score"} <= set(df.columns)
        assert len(df) == N and df.score.mean() == pytest.approx(mean)
        assert df.Question[0] == "質問0です。" and df.eval_aspect[0] == "観点0"
    rep = json.loads((out / "report.json").read_text("utf-8"))
    peer = rep["peer_files"]
    assert peer["judge_prompt"] == [{"judge": "j", "scale": 5,
                                     "prompt": "prompts/eval_grade/ja_5.j2"}]
    md = (out / "report.md").read_text("utf-8")
    assert "## Plain means (as flexeval and Shaberi report them)" in md
    assert "prompts/eval_grade/ja_5.j2" in md
    # tane's own figures stay: the item mean with its interval
    g = rep["scores"][0]["models"]["tuned"]
    assert g["lo"] < g["mean"] < g["hi"]
