"""The report reads what the engine writes: answer, grade (two judges) and compare run on the
bundled ELYZA-style sample, then write_report. The models and judges are ScriptedBackends,
a stand-in forcing known scores and a verdict that flips with the order (the same steps run
against a real model in test_eval_models.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from fakes import ScriptedBackend

from tane.eval import engine
from tane.eval import stats as S
from tane.eval.answer import AnswerOptions, run_answer
from tane.eval.bench import load_bench
from tane.eval.compare import run_compare
from tane.eval.evaldir import EvalDir
from tane.eval.grade import JudgeOptions, run_grade
from tane.eval.models import parse_judge, parse_models
from tane.eval.report import write_report
from tane.llm.base import CHAT, JSON_SCHEMA

N = 4
SCORES = {"j1": {"m1": [4, 5, 4, 3], "m2": [2, 3, 2, 2]},
          "j2": {"m1": [4, 4, 5, 3], "m2": [2, 1, 4, 2]}}


def _rows(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def evaldir(tmp_path, monkeypatch):
    backends: dict[str, ScriptedBackend] = {}
    monkeypatch.setattr(engine, "build_backend", lambda cfg, stats: backends[cfg.model])
    bench = load_bench("bundled:elyza_ja")
    bench.items = bench.items[:N]
    questions = [it.turns[0] for it in bench.items]
    for m in ("m1", "m2"):
        backends[m] = ScriptedBackend(lambda kind, p, params, m=m: f"{m}の答え" + "。" *
                                      (10 if m == "m1" else 3))

    def item_of(text: str) -> int:
        return next(i for i, q in enumerate(questions) if q in text)

    def grader(judge: str):
        def reply(kind, messages, params):
            text = messages[-1]["content"]
            model = "m1" if "m1の答え" in text else "m2"
            return json.dumps({"reason": "理由", "score": SCORES[judge][model][item_of(text)]},
                              ensure_ascii=False)
        return reply

    def comparer(kind, messages, params):
        text = messages[-1]["content"]
        first_is_m1 = text.index("m1の答え") < text.index("m2の答え")
        if item_of(text) == 1:           # position bias on item 2: the first shown wins
            return '{"reason": "先", "verdict": "A"}'
        return '{"reason": "m1", "verdict": "%s"}' % ("A" if first_is_m1 else "B")

    for j in ("j1", "j2"):
        backends[j] = ScriptedBackend(grader(j), capabilities=(CHAT, JSON_SCHEMA))
    ev = tmp_path / "ev"
    models = parse_models([f"{m}=http://127.0.0.1:9/v1,model={m}" for m in ("m1", "m2")])
    with EvalDir(ev, create=True) as ed:
        asyncio.run(run_answer(ed, bench, models, AnswerOptions(), progress=False))
    for j in ("j1", "j2"):
        with EvalDir(ev) as ed:
            asyncio.run(run_grade(ed, parse_judge("http://127.0.0.1:9/v1", model=j), None,
                                  None, JudgeOptions(), progress=False))
    backends["j1"] = ScriptedBackend(comparer, capabilities=(CHAT, JSON_SCHEMA))
    with EvalDir(ev) as ed:
        asyncio.run(run_compare(ed, parse_judge("http://127.0.0.1:9/v1", model="j1"), "m1",
                                "m2", 3, JudgeOptions(), progress=False))
    return ev


def test_report_from_engine_files(evaldir):
    rep = write_report(evaldir, n_boot=1000)
    grades = _rows(evaldir / "grades.jsonl")
    assert {(g["judge"], g["status"]) for g in grades} == {("j1", "ok"), ("j2", "ok")}
    by = {g["judge"]: g for g in rep["scores"]}
    for j in ("j1", "j2"):
        for m in ("m1", "m2"):
            got = by[j]["models"][m]
            assert got["n"] == N and got["mean"] == pytest.approx(sum(SCORES[j][m]) / N)
        assert by[j]["differences"][0]["mean"] == pytest.approx(
            sum(a - b for a, b in zip(SCORES[j]["m1"], SCORES[j]["m2"])) / N)
    (ag,) = rep["agreement"]
    s1 = SCORES["j1"]["m1"] + SCORES["j1"]["m2"]
    s2 = SCORES["j2"]["m1"] + SCORES["j2"]["m2"]
    assert ag["n"] == 2 * N
    # the item order does not change kappa or rho: the paired lists above suffice
    assert ag["kappa_quadratic"] == pytest.approx(S.weighted_kappa(s1, s2, range(1, 6)))
    assert ag["spearman"] == pytest.approx(S.spearman(s1, s2))
    (p,) = rep["pairwise"]
    assert (p["a"], p["b"], p["judge"]) == ("m1", "m2", "j1")
    assert (p["wins"], p["ties"], p["losses"]) == (N - 1, 1, 0)
    assert p["position_consistency"] == {"n": N, "consistent": N - 1, "rate": (N - 1) / N}
    comps = _rows(evaldir / "comparisons.jsonl")
    assert p["mean_len_a"] == pytest.approx(sum(c["len_a"] for c in comps) / N)
    assert rep["disagreements"]["order_flips"] == 1
    assert rep["disagreements"]["judge_scores"] == 2   # m2 on items 2 and 3: 3 vs 1, 2 vs 4
    from openpyxl import load_workbook

    flips = list(load_workbook(evaldir / "report" / "disagreements.xlsx")["order_flips"]
                 .iter_rows(values_only=True))
    assert len(flips) == 2 and flips[1][0] == "2"
    assert "m1の答え" in flips[1][list(flips[0]).index("answer_a")]
    assert (evaldir / "report" / "report.md").read_text(encoding="utf-8").count("## ") >= 5

