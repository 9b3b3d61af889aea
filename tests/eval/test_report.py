"""``write_report`` on small eval directories built here from the file contract: the
figures in report.json against values worked out from the rows, report.md, real PNGs,
and disagreements.xlsx read back with openpyxl."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from tane.errors import TaneError
from tane.eval import stats as S
from tane.eval.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASE, TUNED = "base", "チューニング済み"      # a Japanese model name goes through everything
CATS = ["作文", "計算"]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def _items(n: int = 12) -> list[dict]:
    return [{"id": str(i), "category": CATS[i % 2],
             "turns": [f"質問{i}です。", f"続けて{i}"] if i <= 2 else [f"質問{i}です。"],
             "reference": None, "eval_aspect": None, "baseline": None}
            for i in range(1, n + 1)]


# scores of (model, judge) per item; items 1 and 2 have two turns (turn 2 scored 3)
J1 = {BASE: [2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3], TUNED: [4, 4, 5, 3, 4, 5, 4, 4, 5, 4, 3, 5]}
J2 = {BASE: [2, 3, 1, 3, 2, 4, 2, 3, 2, 3, 3, 3], TUNED: [4, 5, 5, 3, 2, 5, 4, 4, 5, 1, 3, 5]}
# pairwise by judge "j1": (ab, ba) per item, as "which model won"
ORDERS = [("a", "a"), ("a", "a"), ("a", "b"), ("a", "a"), ("tie", "tie"), ("a", "a"),
          ("b", "a"), ("a", "a"), ("a", None), ("a", "a"), ("b", "b"), ("a", "a")]


def build_evaldir(root: Path) -> Path:
    d = root / "ev"
    d.mkdir()
    items = _items()
    (d / "eval.json").write_text(json.dumps({
        "bench": "sample.csv", "format": "elyza", "lang": "ja", "items": len(items),
        "models": {BASE: {"where": "http://x", "model": "m0", "license": None},
                   TUNED: {"where": "http://y", "model": "m1", "license": None}},
        "judges": {"j1": {"where": "http://z", "model": "jm", "license": None}},
        "steps": {}}, ensure_ascii=False), encoding="utf-8")
    _jsonl(d / "items.jsonl", items)
    answers = []
    for it in items:
        n = len(it["turns"])
        i = int(it["id"])
        for model, size in ((BASE, 40 + i), (TUNED, 80 + 3 * i)):
            turns = ["=SUM(A1)" if (model == TUNED and i == 3) else "あ" * size] * n
            answers.append({"item_id": it["id"], "model": model, "turns": turns,
                            "finish_reason": "stop", "error": None,
                            "chars": sum(len(t) for t in turns)})
    answers.append({"item_id": "12", "model": "broken", "turns": None,
                    "finish_reason": None, "error": "HTTP 500", "chars": 0})
    _jsonl(d / "answers.jsonl", answers)
    grades = []
    for judge, table in (("j1", J1), ("j2", J2)):
        for model, scores in table.items():
            for it, s in zip(items, scores):
                for turn in range(1, len(it["turns"]) + 1):
                    grades.append({"item_id": it["id"], "model": model, "judge": judge,
                                   "scale": 5, "turn": turn, "score": s if turn == 1 else 3,
                                   "status": "ok", "raw": f"評価: {s}", "retried": False,
                                   "error": None})
    # item 2 turn 2 of the tuned model could not be parsed by j1: item 2 is left out
    for g in grades:
        if (g["judge"], g["model"], g["item_id"], g["turn"]) == ("j1", TUNED, "2", 2):
            g.update(score=None, status="parse_failed", raw="よくわかりません")
    _jsonl(d / "grades.jsonl", grades)
    comps = []
    for it, (ab, ba) in zip(items, ORDERS):
        final = None if ba is None else (ab if ab == ba else "tie")
        comps.append({"item_id": it["id"], "a": TUNED, "b": BASE, "judge": "j1",
                      "category": it["category"], "ab": ab, "ba": ba, "ab_level": None,
                      "ba_level": None, "final": final,
                      "consistent": None if ba is None else ab == ba,
                      "len_a": 80 + 3 * int(it["id"]), "len_b": 40 + int(it["id"]),
                      "status": "ok" if ba is not None else "parse_failed"})
    _jsonl(d / "comparisons.jsonl", comps)
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = build_evaldir(tmp_path_factory.mktemp("r"))
    rep = write_report(d, seed=0, n_boot=1000)
    return d, rep


def test_scores_per_model_from_the_rows(report):
    _, rep = report
    g1 = next(g for g in rep["scores"] if g["judge"] == "j1")
    assert g1["scale"] == 5
    base, tuned = g1["models"][BASE], g1["models"][TUNED]
    # base: items 1 and 2 are the means of their turns (2, 3 and 3, 3); all 12 items count
    base_items = [(2 + 3) / 2, (3 + 3) / 2] + J1[BASE][2:]
    assert base["n"] == 12 and base["mean"] == pytest.approx(sum(base_items) / 12)
    # tuned: item 2's second turn failed to parse: item 2 is left out, and counted
    tuned_items = [(4 + 3) / 2] + J1[TUNED][2:]
    assert tuned["n"] == 11 and tuned["items_left_out"] == 1 and tuned["parse_failed"] == 1
    assert tuned["mean"] == pytest.approx(sum(tuned_items) / 11)
    assert tuned["lo"] < tuned["mean"] < tuned["hi"]
    # the interval is the documented bootstrap of the item scores (items in id order)
    ordered = {"1": tuned_items[0], **{str(i): J1[TUNED][i - 1] for i in range(3, 13)}}
    ref = S.bootstrap_mean([ordered[k] for k in sorted(ordered)], 1000, 0)
    assert (tuned["lo"], tuned["hi"]) == (ref["lo"], ref["hi"])
    # per category: 作文 holds the even ids
    even = [J1[BASE][i - 1] for i in range(2, 13, 2)]
    assert base["by_category"]["作文"]["mean"] == pytest.approx(sum(even) / 6)
    # the paired difference uses the 11 items both have, and claims the tuned model
    diff = g1["differences"][0]
    assert (diff["a"], diff["b"], diff["n"]) == (BASE, TUNED, 11)
    assert diff["mean"] == pytest.approx(
        sum(b - t for b, t in zip([2.5] + J1[BASE][2:], tuned_items)) / 11)
    assert diff["hi"] < 0 and diff["better"] == TUNED
    claim = next(c for c in rep["claims"] if c["kind"] == "score" and c["judge"] == "j1")
    assert claim["better"] == TUNED and claim["text"].startswith(f"{TUNED} scores higher")


def test_pairwise_summary_consistency_and_lc(report):
    _, rep = report
    (p,) = rep["pairwise"]
    assert (p["a"], p["b"], p["judge"]) == (TUNED, BASE, "j1")
    # finals: a where both orders agree on a (7), tie for 5 and the flips 3 and 7 (3),
    # b for 11, item 9 unparsed
    assert (p["wins"], p["ties"], p["losses"], p["unparsed"], p["n"]) == (7, 3, 1, 1, 11)
    assert p["win_rate"] == pytest.approx((7 + 1.5) / 11)
    assert p["position_consistency"] == {"n": 11, "consistent": 9, "rate": 9 / 11}
    lc = p["length_controlled"]
    assert lc["n_items"] == 12 and lc["n_obs"] == 23
    # 12 items are too few for the length model (30): withheld, the raw rate kept
    assert lc["win_rate"] is None and "needs 30" in lc["withheld"]
    assert 0 < lc["raw_win_rate"] < 1
    assert p["status"] == {"ok": 11, "parse_failed": 1}
    assert set(p["by_category"]) == set(CATS)
    assert sum(v["n"] for v in p["by_category"].values()) == 11


def test_answers_judges_and_agreement(report):
    _, rep = report
    assert rep["models"]["broken"] == {"answers": 1, "errors": 1, "error_rate": 1.0,
                                       "cut_by_length": 0, "length_chars": S.length_stats([])}
    assert rep["models"][BASE]["length_chars"]["n"] == 12
    j1 = rep["judges"]["j1"]
    assert j1["grades"]["parse_failed"] == 1 and j1["grades"]["n"] == 28
    assert j1["grades"]["parse_failure_rate"] == pytest.approx(1 / 28)
    assert j1["comparisons"]["parse_failed"] == 1
    (ag,) = rep["agreement"]
    assert (ag["judge_1"], ag["judge_2"], ag["n"], ag["scale"]) == ("j1", "j2", 27, 5)
    # the same (item, model, turn) pairs, built independently from the tables above
    s1, s2 = [], []
    for model in (BASE, TUNED):
        for i in range(12):
            s1.append(J1[model][i])
            s2.append(J2[model][i])
            if i == 0 or (i == 1 and model == BASE):
                s1.append(3)
                s2.append(3)
    assert ag["kappa_quadratic"] == pytest.approx(S.weighted_kappa(s1, s2, range(1, 6)))
    assert ag["kappa_linear"] == pytest.approx(S.weighted_kappa(s1, s2, range(1, 6), "linear"))
    assert ag["spearman"] == pytest.approx(S.spearman(s1, s2))
    # j2 scores tuned item 5 as 2 (j1: 4) and item 10 as 1 (j1: 4): two disagreements
    assert rep["disagreements"] == {"order_flips": 2, "judge_scores": 2, "judge_verdicts": 0}


def test_files_markdown_pngs_and_workbook(report):
    d, rep = report
    out = d / "report"
    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(rep, ensure_ascii=False))
    assert TUNED in (out / "report.json").read_text(encoding="utf-8")   # no \u escapes
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Scores: judge j1 (model jm, 1–5)" in md and f"## Pairwise: {TUNED} vs {BASE}" in md
    assert "## Judge agreement" in md and "| 作文 |" in md
    assert f"{TUNED} scores higher than {BASE}" in md
    assert rep["plots"]
    for name in rep["plots"]:
        p = out / name
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 2000
        assert f"![{name}]({name})" in md
    assert any(n.startswith("scores_j1") for n in rep["plots"])
    assert any(n.startswith("winrate_") for n in rep["plots"])

    from openpyxl import load_workbook

    wb = load_workbook(out / "disagreements.xlsx")
    assert wb.sheetnames == ["order_flips", "judge_scores", "judge_verdicts"]
    flips = list(wb["order_flips"].iter_rows(values_only=True))
    header = list(flips[0])
    assert header[:8] == ["item_id", "category", "judge", "a", "b", "ab", "ba", "final"]
    assert [(r[0], r[5], r[6], r[7]) for r in flips[1:]] == [("3", "a", "b", "tie"),
                                                             ("7", "b", "a", "tie")]
    row3 = dict(zip(header, flips[1]))
    assert row3["question"] == "質問3です。" and row3["answer_b"] == "あ" * 43
    # an answer that looks like a formula is stored as text, never evaluated
    cell = wb["order_flips"].cell(row=2, column=header.index("answer_a") + 1)
    assert cell.value == "=SUM(A1)" and cell.data_type == "s"
    scores = list(wb["judge_scores"].iter_rows(values_only=True))
    h2 = list(scores[0])
    got = sorted((r[h2.index("item_id")], r[h2.index("score_1")], r[h2.index("score_2")])
                 for r in scores[1:])
    assert got == [("10", 4, 1), ("5", 4, 2)]
    two_turns = dict(zip(h2, next(r for r in scores[1:] if r[0] == "5")))
    assert two_turns["model"] == TUNED and two_turns["raw_2"] == "評価: 2"


def test_same_seed_same_report(report, tmp_path):
    d, rep = report
    again = write_report(d, out=tmp_path / "again", seed=0, n_boot=1000)
    assert json.dumps(again["scores"]) == json.dumps(rep["scores"])
    assert again["pairwise"] == rep["pairwise"]
    other = write_report(d, out=tmp_path / "other", seed=1, n_boot=1000)
    assert other["pairwise"][0]["lo"] != rep["pairwise"][0]["lo"] or \
        other["scores"][0]["models"][TUNED]["lo"] != rep["scores"][0]["models"][TUNED]["lo"]


def test_only_answers(tmp_path):
    d = build_evaldir(tmp_path)
    for name in ("grades.jsonl", "comparisons.jsonl", "items.jsonl", "eval.json"):
        (d / name).unlink()
    rep = write_report(d, n_boot=1000)
    notes = " ".join(rep["notes"])
    for word in ("eval.json is missing", "items.jsonl is missing", "grades.jsonl is missing",
                 "comparisons.jsonl is missing"):
        assert word in notes
    assert rep["scores"] == [] and rep["pairwise"] == [] and rep["claims"] == []
    assert rep["models"][BASE]["answers"] == 12
    md = (d / "report" / "report.md").read_text(encoding="utf-8")
    assert "Nothing to compare yet." in md and "grades.jsonl is missing" in md
    from openpyxl import load_workbook

    wb = load_workbook(d / "report" / "disagreements.xlsx")
    assert all(wb[s].max_row == 1 for s in wb.sheetnames)   # headers only


def test_only_grades_of_one_judge(tmp_path):
    d = build_evaldir(tmp_path)
    (d / "answers.jsonl").unlink()
    (d / "comparisons.jsonl").unlink()
    rows = [json.loads(x) for x in (d / "grades.jsonl").read_text(encoding="utf-8").splitlines()]
    _jsonl(d / "grades.jsonl", [r for r in rows if r["judge"] == "j1"])
    rep = write_report(d, n_boot=1000)
    assert rep["agreement"] == [] and any("one judge only" in n for n in rep["notes"])
    assert rep["models"] == {} and len(rep["scores"]) == 1


def test_bad_rows_are_one_line_errors(tmp_path):
    d = build_evaldir(tmp_path)
    lines = (d / "comparisons.jsonl").read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[2])
    del bad["judge"]
    lines[2] = json.dumps(bad)
    (d / "comparisons.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TaneError) as e:
        write_report(d, n_boot=1000)
    assert str(e.value) == f"{d / 'comparisons.jsonl'}:3: field 'judge': missing"
    assert not (d / "report" / "report.json").exists()
    with pytest.raises(TaneError, match="no such eval directory"):
        write_report(tmp_path / "nope")
    with pytest.raises(TaneError, match="at least 1000"):
        write_report(d, n_boot=10)


def test_without_matplotlib(tmp_path, monkeypatch):
    d = build_evaldir(tmp_path)
    real = builtins.__import__

    def fake(name, globals=None, locals=None, fromlist=(), level=0):
        if name.endswith("report_plots") or (fromlist and "report_plots" in fromlist):
            raise ImportError("no matplotlib")
        return real(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", fake)
    rep = write_report(d, n_boot=1000)
    assert rep["plots"] == [] and any("pip install 'tane[report]'" in n for n in rep["notes"])
    assert (d / "report" / "report.md").exists()
    assert not list((d / "report").glob("*.png"))


def test_cli_report(tmp_path):
    from typer.testing import CliRunner

    from tane.cli import app

    d = build_evaldir(tmp_path)
    r = CliRunner().invoke(app, ["eval", "report", str(d), "--n-boot", "1000", "--seed", "3"])
    assert r.exit_code == 0, r.output
    rep = json.loads((d / "report" / "report.json").read_text(encoding="utf-8"))
    assert (rep["seed"], rep["n_boot"]) == (3, 1000)
    assert (d / "report" / "disagreements.xlsx").exists()


def test_baseline_answers_come_from_the_items(tmp_path):
    """AlpacaEval style: b is the benchmark's baseline, whose outputs are in items.jsonl."""
    d = tmp_path / "ae"
    d.mkdir()
    items = [{"id": str(i), "category": None, "turns": [f"Question {i}"], "reference": None,
              "eval_aspect": None, "baseline": {"model": "ref-model", "output": f"ref {i}"}}
             for i in range(1, 4)]
    _jsonl(d / "items.jsonl", items)
    _jsonl(d / "answers.jsonl", [{"item_id": it["id"], "model": "m", "turns": [f"mine {i}"],
                                  "finish_reason": "stop", "error": None, "chars": 6}
                                 for i, it in enumerate(items, 1)])
    _jsonl(d / "comparisons.jsonl", [
        {"item_id": it["id"], "a": "m", "b": "ref-model", "judge": "j", "category": None,
         "ab": "a", "ba": "b" if it["id"] == "2" else "a", "ab_level": None, "ba_level": None,
         "final": "tie" if it["id"] == "2" else "a", "consistent": it["id"] != "2",
         "len_a": 6, "len_b": 5, "status": "ok"} for it in items])
    rep = write_report(d, n_boot=1000)
    assert (rep["pairwise"][0]["wins"], rep["pairwise"][0]["ties"]) == (2, 1)
    from openpyxl import load_workbook

    rows = list(load_workbook(d / "report" / "disagreements.xlsx")["order_flips"]
                .iter_rows(values_only=True))
    row = dict(zip(rows[0], rows[1]))
    assert (row["item_id"], row["answer_a"], row["answer_b"]) == ("2", "mine 2", "ref 2")


def test_an_estimate_a_hair_outside_its_interval_draws_no_negative_whisker():
    # every verdict a tie: the length-controlled fit lands at 0.49999999999998 with an
    # interval of [0.49999999999999, 0.49999999999999]; matplotlib refuses negative errors
    from tane.eval.report_plots import _errbars

    means, (lo, hi) = _errbars([{"mean": 0.49999999999998374, "lo": 0.4999999999999916,
                                 "hi": 0.49999999999999173},
                                {"mean": 0.7, "lo": 0.6, "hi": 0.75}])
    assert min(lo + hi) >= 0.0
    assert lo[1] == pytest.approx(0.1) and hi[1] == pytest.approx(0.05)
