"""Answer, grade and compare logic with a scripted backend.

ScriptedBackend is a fault stand-in here: it forces what a real judge cannot be made to
give on demand (an unparseable verdict, a verdict that flips with the order, a failed
call) and fixed answers whose prompts can be checked word for word. The same steps run
against the real model in test_eval_models.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fakes import ScriptedBackend

import tane.eval.engine as engine
from tane.errors import ServerError
from tane.eval.answer import AnswerOptions, run_answer
from tane.eval.bench import load_bench
from tane.eval.compare import combine, run_compare
from tane.eval.evaldir import EvalDir
from tane.eval.grade import JudgeOptions, run_grade
from tane.eval.models import parse_judge, parse_models
from tane.eval.verdict import VerdictError, parse_score, parse_verdict
from tane.llm.base import CHAT, JSON_SCHEMA, LLMError


@pytest.fixture
def scripted(monkeypatch):
    """name -> ScriptedBackend used for that model or judge (instead of a server)."""
    backends: dict[str, ScriptedBackend] = {}

    def build(cfg, stats):
        return backends[cfg.model]

    monkeypatch.setattr(engine, "build_backend", build)
    return backends


def served(name: str):
    return parse_models([f"{name}=http://127.0.0.1:9/v1,model={name}"])[name]


def judge_spec(name: str = "j"):
    return parse_judge("http://127.0.0.1:9/v1", model=name)


def run(coro):
    return asyncio.run(coro)


def answers_for(tmp_path, scripted, bench="bundled:mt_bench_ja", n=2, models=("m1", "m2")):
    """An eval directory with fixed answers of ``models`` to the first ``n`` items."""
    b = load_bench(bench)
    b.items = b.items[:n]
    for m in models:
        scripted[m] = ScriptedBackend(lambda kind, p, params, m=m: f"{m}の答え{len(p)}")
    with EvalDir(tmp_path / "ev", create=True) as ed:
        info = run(run_answer(ed, b, {m: served(m) for m in models}, AnswerOptions(),
                              progress=False))
    assert info["ok"] == n * len(models)
    return tmp_path / "ev"


def rows(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_turn_two_is_answered_with_turn_one_in_the_conversation(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, n=1, models=("m1",))
    calls = scripted["m1"].calls
    assert [c.kind for c in calls] == [CHAT, CHAT]
    item = load_bench("bundled:mt_bench_ja").items[0]
    assert calls[0].prompt == [{"role": "user", "content": item.turns[0]}]
    assert calls[1].prompt == [{"role": "user", "content": item.turns[0]},
                               {"role": "assistant", "content": "m1の答え1"},
                               {"role": "user", "content": item.turns[1]}]
    assert calls[0].params.seed != calls[1].params.seed
    (row,) = rows(ev / "answers.jsonl")
    assert row == {"item_id": "1", "model": "m1", "turns": ["m1の答え1", "m1の答え3"],
                   "finish_reason": "stop", "error": None, "chars": 12}


def test_unparseable_verdicts_are_retried_once_then_recorded_never_scored(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, bench="bundled:elyza_ja", n=3, models=("m1",))
    replies = {
        "1": ['{"reason": "良い", "score": 4}'],
        "2": ["よい回答です。4点", '{"reason": "二度目", "score": 3}'],
        "3": ["点数は4です", '{"reason": "範囲外", "score": 7}'],
    }

    def judge(kind, messages, params):
        text = messages[-1]["content"]
        item = next(i for i, t in zip("123", load_bench("bundled:elyza_ja").items)
                    if t.turns[0] in text)
        return replies[item].pop(0)

    scripted["j"] = ScriptedBackend(judge, capabilities=(CHAT, JSON_SCHEMA))
    with EvalDir(ev) as ed:
        info = run(run_grade(ed, judge_spec(), None, None, JudgeOptions(), progress=False))
    got = {r["item_id"]: r for r in rows(ev / "grades.jsonl")}
    assert (got["1"]["score"], got["1"]["status"], got["1"]["retried"]) == (4, "ok", False)
    assert (got["2"]["score"], got["2"]["status"], got["2"]["retried"]) == (3, "ok", True)
    assert got["2"]["reason"] == "二度目"
    assert (got["3"]["score"], got["3"]["status"], got["3"]["retried"]) == \
        (None, "parse_failed", True)
    assert "out of range 1-5" in got["3"]["error"] and "範囲外" in got["3"]["raw"]
    assert all(r["scale"] == 5 and r["judge"] == "j" and r["turn"] == 1 for r in got.values())
    assert (info["ok"], info["parse_failed"], info["error"], info["retried"]) == (2, 1, 0, 2)
    meta = json.loads((ev / "eval.json").read_text(encoding="utf-8"))
    assert meta["steps"]["grade"]["by_judge"]["j"]["parse_failed"] == 1
    assert meta["judges"]["j"]["model"] == "scripted"
    calls = scripted["j"].calls
    # constrained where the backend can: the schema bounds the score to the scale
    assert all(c.params.schema["properties"]["score"]["maximum"] == 5 for c in calls)
    # the retry asks again with another seed, sampled (the first ask was greedy)
    first, again = [c for c in calls if "よい" not in c.text and
                    load_bench("bundled:elyza_ja").items[1].turns[0] in c.text]
    assert first.params.temperature == 0.0 and again.params.temperature > 0
    assert first.params.seed != again.params.seed
    # the ELYZA rubric carries the item's own eval_aspect and reference
    item = load_bench("bundled:elyza_ja").items[0]
    text = next(c.text for c in calls if item.turns[0] in c.text)
    assert item.eval_aspect in text and item.reference[0] in text and "2点以下" in text


def test_failed_calls_are_rows_with_the_servers_message(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, bench="bundled:elyza_ja", n=2, models=("m1",))
    scripted["j"] = ScriptedBackend([LLMError("http_400", "context too long"),
                                     LLMError("http_400", "context too long")])
    with EvalDir(ev) as ed:
        info = run(run_grade(ed, judge_spec(), 5, ["m1"], JudgeOptions(), progress=False))
    assert (info["error"], info["rows"], info["status"]) == (2, 2, "incomplete")
    for r in rows(ev / "grades.jsonl"):
        assert r["status"] == "error" and r["score"] is None
        assert r["error"] == "http_400: context too long"


def test_a_fatal_error_stops_the_step(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, bench="bundled:elyza_ja", n=2, models=("m1",))
    scripted["j"] = ScriptedBackend([], when_done=LLMError("http_401", "bad key"))
    with EvalDir(ev) as ed, pytest.raises(ServerError, match="http_401"):
        run(run_grade(ed, judge_spec(), 5, None, JudgeOptions(), progress=False))
    assert not (ev / "grades.jsonl").exists()


def test_mt_bench_turn_two_is_graded_with_turn_one_and_references_for_maths(tmp_path,
                                                                           scripted):
    ev = answers_for(tmp_path, scripted, n=4, models=("m1",))  # items 1-4: writing .. math
    scripted["j"] = ScriptedBackend(lambda k, m, p: '{"reason": "ok", "score": 8}')
    with EvalDir(ev) as ed:
        info = run(run_grade(ed, judge_spec(), None, None, JudgeOptions(), progress=False))
    assert info["scale"] == 10 and info["ok"] == 8
    items = load_bench("bundled:mt_bench_ja").items
    texts = scripted["j"].texts
    maths_t2 = next(t for t in texts if items[3].turns[1] in t)
    assert items[3].turns[0] in maths_t2 and "m1の答え1" in maths_t2  # turn 1 as context
    assert items[3].reference[1] in maths_t2
    writing = [t for t in texts if items[0].turns[0] in t]
    assert writing and all("参考解答" not in t for t in writing)  # no reference: writing
    assert sorted((r["item_id"], r["turn"]) for r in rows(ev / "grades.jsonl")) == \
        [(str(i), t) for i in range(1, 5) for t in (1, 2)]


def test_both_orders_and_a_verdict_that_flips_is_a_tie(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, bench="bundled:elyza_ja", n=3)
    items = load_bench("bundled:elyza_ja").items

    def judge(kind, messages, params):
        text = messages[-1]["content"]
        first = "m1" if text.index("m1の答え") < text.index("m2の答え") else "m2"
        if items[0].turns[0] in text:   # always the answer shown first: position bias
            return '{"reason": "先", "verdict": "A"}'
        if items[1].turns[0] in text:   # always m2, whichever place it has
            return '{"reason": "m2", "verdict": "%s"}' % ("B" if first == "m1" else "A")
        return '{"reason": "同じ", "verdict": "tie"}' if first == "m1" else "判定できません"

    scripted["j"] = ScriptedBackend(judge)
    with EvalDir(ev) as ed:
        info = run(run_compare(ed, judge_spec(), "m1", "m2", 3, JudgeOptions(),
                               progress=False))
    got = {r["item_id"]: r for r in rows(ev / "comparisons.jsonl")}
    assert {k: got["1"][k] for k in ("ab", "ba", "final", "consistent", "status")} == \
        {"ab": "a", "ba": "b", "final": "tie", "consistent": False, "status": "ok"}
    assert {k: got["2"][k] for k in ("ab", "ba", "final", "consistent")} == \
        {"ab": "b", "ba": "b", "final": "b", "consistent": True}
    assert got["3"]["status"] == "parse_failed" and got["3"]["final"] is None
    assert got["3"]["ab"] == "tie" and got["3"]["ba"] is None and got["3"]["retried"]
    assert got["1"]["len_a"] == len("m1の答え1") and got["1"]["ab_level"] is None
    assert (info["consistent"], info["inconsistent"], info["parse_failed"]) == (1, 1, 1)
    assert len(scripted["j"].calls) == 7  # 3 items x 2 orders + one retry


def test_five_levels_against_a_baseline(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, bench="bundled:alpaca_eval_en", n=2, models=("m1",))
    scripted["j"] = ScriptedBackend(['{"reason": "x", "verdict": "A>>B"}',
                                     '{"reason": "x", "verdict": "A>B"}'] * 2)
    with EvalDir(ev) as ed:
        run(run_compare(ed, judge_spec(), "m1", "baseline", 5, JudgeOptions(),
                        progress=False))
    for r in rows(ev / "comparisons.jsonl"):
        assert r["b"] == "tane-sample-baseline" and r["levels"] == 5
        assert (r["ab_level"], r["ba_level"], r["consistent"], r["final"]) == (2, -1, False,
                                                                              "tie")
    baseline = load_bench("bundled:alpaca_eval_en").items[0].baseline["output"]
    assert any(baseline in t for t in scripted["j"].texts)


def test_a_rerun_replays_every_call_from_the_journal(tmp_path, scripted):
    ev = answers_for(tmp_path, scripted, bench="bundled:elyza_ja", n=3, models=("m1",))
    scripted["j"] = ScriptedBackend(lambda k, m, p: '{"reason": "r", "score": 2}')
    with EvalDir(ev) as ed:
        run(run_grade(ed, judge_spec(), 5, None, JudgeOptions(), progress=False))
    before = (ev / "grades.jsonl").read_bytes()
    scripted["j"] = ScriptedBackend([])  # any call would fail the test
    with EvalDir(ev) as ed:
        info = run(run_grade(ed, judge_spec(), 5, None, JudgeOptions(), progress=False))
    assert (info["calls"], info["cache_hits"]) == (0, 3)
    assert (ev / "grades.jsonl").read_bytes() == before
    # a second judge adds its rows and keeps the first one's
    scripted["k"] = ScriptedBackend(lambda k, m, p: '{"reason": "r", "score": 5}')
    with EvalDir(ev) as ed:
        info = run(run_grade(ed, judge_spec("k"), 5, None, JudgeOptions(), progress=False))
    got = rows(ev / "grades.jsonl")
    assert sorted({r["judge"] for r in got}) == ["j", "k"] and len(got) == 6
    assert info["by_judge"] == {"j": {"rows": 3, "ok": 3, "parse_failed": 0, "error": 0,
                                      "retried": 0},
                                "k": {"rows": 3, "ok": 3, "parse_failed": 0, "error": 0,
                                      "retried": 0}}


def test_strict_parsing():
    assert parse_score('前置き {"reason": "よい", "score": 5} 後書き', 5) == (5, "よい")
    assert parse_score('{"score": 9.0, "reason": ""}', 10) == (9, "")
    for bad in ["5", '{"score": "5"}', '{"score": true}', '{"score": 4.5}',
                '{"reason": "x"}', '{"score": 0}', "[1]", '{"score": 5']:
        with pytest.raises(VerdictError):
            parse_score(bad, 5)
    assert parse_verdict('{"verdict": "A"}', 3) == 1
    assert parse_verdict('{"verdict": " Tie "}', 3) == 0
    assert parse_verdict('{"verdict": "A≫B"}', 5) == 2
    assert parse_verdict('{"verdict": "B > A"}', 5) == -1
    for bad in ['{"verdict": "C"}', '{"verdict": "A>B"}', '{"verdict": 1}', "A"]:
        with pytest.raises(VerdictError):
            parse_verdict(bad, 3)
    assert combine(1, -1) == {"ab": "a", "ba": "b", "final": "tie", "consistent": False}
    assert combine(0, 0) == {"ab": "tie", "ba": "tie", "final": "tie", "consistent": True}
    assert combine(-2, -1)["final"] == "b"
    assert combine(None, 1) == {"ab": None, "ba": "a", "final": None, "consistent": None}
