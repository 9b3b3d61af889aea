"""The LLM judge: verdict parsing, the one retry, threshold selection and provenance with
fake backends; the JSON-schema plumbing against the real model behind llama.cpp's server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from fakes import Call, ScriptedBackend

from tane.config.judge import JudgeStep
from tane.llm.base import CHAT, COMPLETION, JSON_SCHEMA, GenParams, LLMError, ModelInfo
from tane.llm.cache import CachedBackend
from tane.methods.base import StageContext, StageStats
from tane.methods.judge import Judge, VerdictError, parse_verdict, verdict_schema
from tane.recipe import JudgeStage, Recipe
from tane.schema import Provenance, Record, stable_hash

GOOD = '{"reason": "正確で自然な日本語。", "quality": 4, "difficulty": "easy", ' \
       '"category": "information seeking"}'


def verdict_json(quality=4, difficulty="easy", category="information seeking",
                 reason="ok") -> str:
    return json.dumps({"reason": reason, "quality": quality, "difficulty": difficulty,
                       "category": category}, ensure_ascii=False)


class MemoryJournal:
    def __init__(self):
        self.calls: dict[str, dict] = {}

    def get_call(self, key):
        return self.calls.get(key)

    def put_call(self, key, kind, request, response):
        self.calls[key] = response


JUDGE_CAPS = (COMPLETION, CHAT, JSON_SCHEMA)


def judge_model(reply, capabilities=JUDGE_CAPS) -> ScriptedBackend:
    """A mock judge (no model): ``reply(text, params, n)`` answers each call, text being
    the prompt (or the last chat message) and n the number of earlier calls with it."""
    seen: Counter[str] = Counter()

    def script(kind, prompt, params):
        text = Call(kind, prompt, params).text
        seen[text] += 1
        return reply(text, params, seen[text] - 1)

    return ScriptedBackend(script, capabilities=capabilities, usage=(0, 10),
                           info=ModelInfo(id="fake-judge", license="apache-2.0",
                                          backend="fake"))


def garbage_model(good: str = GOOD, **kw) -> ScriptedBackend:
    """The fault "model returns garbage": the first answer to every prompt is not JSON;
    the second (the retry) is garbage too for prompts containing ``always``."""
    def reply(text, params, n):
        if n == 0 or "always" in text:
            return "判定: とても良いと思います！！ 5点 <|im_end|><|im_end|>"
        return good
    return judge_model(reply, **kw)


def judge_step(r: Record) -> dict:
    """The judge's step of a record, as stored (the last step, method judge)."""
    step = r.provenance.steps[-1]
    assert step["method"] == "judge"
    return step


def rec(rid: str, inst: str, out: str | None = "回答です。") -> Record:
    return Record(id=rid, instruction=inst, output=out,
                  provenance=Provenance(method="self_instruct", seed_ids=["ja-001"]))


def make(backend, **cfg) -> Judge:
    stage = JudgeStage(method="judge", **cfg)
    llm = CachedBackend(backend, MemoryJournal()) if backend is not None else None
    ctx = StageContext("judge", llm, StageStats("judge"), [], 0)  # type: ignore[arg-type]
    return Judge(stage, ctx)


def run(judge: Judge, records):
    return asyncio.run(judge.process(records))


# -- parsing ------------------------------------------------------------------------------

def test_parse_valid_verdict_and_surrounding_text():
    v = parse_verdict("判定: " + GOOD + "\n### 次")
    assert (v.quality, v.difficulty, v.category) == (4, "easy", "information seeking")
    assert v.reason == "正確で自然な日本語。"
    # labels are normalised (case, underscores, spaces); 5.0 is an integer
    v = parse_verdict('{"reason": "x", "quality": 5.0, "difficulty": "Very_Hard", '
                      '"category": "Coding & Debugging"}')
    assert (v.quality, v.difficulty, v.category) == (5, "very hard", "coding & debugging")
    # braces inside strings do not confuse the block extraction
    assert parse_verdict('{"reason": "a {b} }", "quality": 1, "difficulty": "easy", '
                         '"category": "others"} trailing {').reason == "a {b} }"


@pytest.mark.parametrize("text,msg", [
    ("no json here", "no JSON object"),
    ('{"reason": "x", "quality": 4, "difficulty": "easy"', "invalid JSON"),
    ("[1, 2]", "no JSON object"),
    ('{"reason": "x", "quality": 4, "difficulty": "easy"}', "missing fields: category"),
    ('{"reason": "x", "quality": 6, "difficulty": "easy", "category": "math"}', "out of range"),
    ('{"reason": "x", "quality": 0, "difficulty": "easy", "category": "math"}', "out of range"),
    ('{"reason": "x", "quality": 3.5, "difficulty": "easy", "category": "math"}',
     "not an integer"),
    ('{"reason": "x", "quality": "4", "difficulty": "easy", "category": "math"}',
     "not an integer"),
    ('{"reason": "x", "quality": true, "difficulty": "easy", "category": "math"}',
     "not an integer"),
    ('{"reason": "x", "quality": 3, "difficulty": "trivial", "category": "math"}',
     "difficulty"),
    ('{"reason": "x", "quality": 3, "difficulty": "easy", "category": "poetry"}', "category"),
    ('{"reason": "  ", "quality": 3, "difficulty": "easy", "category": "math"}', "reason"),
])
def test_parse_rejects_invalid_and_out_of_range(text, msg):
    with pytest.raises(VerdictError, match=msg):
        parse_verdict(text)


def test_schema_describes_what_the_parser_accepts():
    s = verdict_schema(50)
    assert s["required"] == ["reason", "quality", "difficulty", "category"]
    assert s["properties"]["quality"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert s["properties"]["reason"]["maxLength"] == 50
    assert len(s["properties"]["category"]["enum"]) == 12


# -- GenParams and the cache key ----------------------------------------------------------

def test_json_schema_in_params_request_and_cache_key():
    schema = verdict_schema()
    plain, constrained = GenParams(seed=1), GenParams(seed=1, json_schema=schema)
    assert "json_schema" not in plain.to_dict()  # old cache keys are unchanged
    assert constrained.to_dict()["json_schema"] == schema
    hash(constrained)  # still a hashable frozen dataclass
    assert constrained == GenParams(seed=1, json_schema=json.loads(json.dumps(schema)))
    assert list(constrained.schema["properties"]) == ["reason", "quality", "difficulty",
                                                      "category"]  # order kept
    key = lambda p: stable_hash({"kind": "completion", "prompt": "x", "params": p.to_dict()})
    assert key(plain) != key(constrained)
    assert key(constrained) != key(GenParams(seed=1, json_schema=verdict_schema(60)))
    req = constrained.to_request()
    assert req["json_schema"] == schema  # llama.cpp /completions
    assert req["response_format"] == {"type": "json_schema",
                                      "json_schema": {"name": "verdict", "schema": schema}}
    chat = constrained.to_request(chat=True)
    assert "json_schema" not in chat and chat["response_format"]["type"] == "json_schema"
    assert "response_format" not in plain.to_request()


def test_cached_backend_keys_differ_with_schema():
    backend = judge_model(lambda t, p, n: GOOD)
    journal = MemoryJournal()
    llm = CachedBackend(backend, journal)
    asyncio.run(llm.complete("x", GenParams(seed=1)))
    asyncio.run(llm.complete("x", GenParams(seed=1, json_schema=verdict_schema())))
    asyncio.run(llm.complete("x", GenParams(seed=1, json_schema=verdict_schema())))
    assert len(journal.calls) == 2 and len(backend.calls) == 2


# -- the stage with fakes -----------------------------------------------------------------

def test_garbage_is_retried_once_with_another_seed():
    backend = garbage_model()
    j = make(backend)
    batch = run(j, [rec("a", "日本の首都は？"), rec("b", "always broken")])
    assert [r.id for r in batch.records] == ["a", "b"] and not batch.drops  # no threshold
    assert len(backend.calls) == 4  # one first try + exactly one retry each
    first, retry = backend.calls[0].params, backend.calls[2].params
    assert first.seed != retry.seed
    assert first.temperature == 0.0 and retry.temperature == 0.7  # greedy would repeat
    assert first.json_schema is not None  # constrained where the backend allows it
    a, b = (judge_step(r) for r in batch.records)
    assert a["status"] == "ok" and a["quality"] == 4 and len(a["attempts"]) == 2
    assert "parse_error" in a["attempts"][0] and "parse_error" not in a["attempts"][1]
    assert b["status"] == "unparseable" and "quality" not in b
    assert b["raw"].startswith("判定: とても良い") and len(b["attempts"]) == 2


def test_unparseable_dropped_only_with_a_threshold():
    batch = run(make(garbage_model(), min_quality=3),
                [rec("a", "ok"), rec("b", "always broken")])
    assert [r.id for r in batch.records] == ["a"]
    assert [d.reason for d in batch.drops] == ["judge_unparseable"]
    assert batch.drops[0].record_id == "b" and "raw" in batch.drops[0].detail


def test_no_schema_when_backend_lacks_it_or_disabled():
    caps = frozenset({COMPLETION, CHAT})
    backend = judge_model(lambda t, p, n: GOOD, capabilities=caps)
    run(make(backend), [rec("a", "x")])
    assert backend.calls[0].params.json_schema is None
    backend = judge_model(lambda t, p, n: GOOD)
    run(make(backend, json_schema=False), [rec("a", "x")])
    assert backend.calls[0].params.json_schema is None


def test_thresholds_select_rows():
    scores = {"q1": verdict_json(1, reason="指示に応えていない"), "q3": verdict_json(3),
              "q5": verdict_json(5), "hard": verdict_json(5, difficulty="very hard"),
              "code": verdict_json(5, category="coding & debugging")}

    def script(text, params, n):
        return next(v for k, v in scores.items() if f"[{k}]" in text)

    records = [rec(k, f"指示 [{k}]") for k in scores]
    batch = run(make(judge_model(script), min_quality=3, max_difficulty="hard",
                     categories=["information seeking", "math"]), records)
    assert [r.id for r in batch.records] == ["q3", "q5"]
    drops = {d.record_id: d for d in batch.drops}
    assert drops["q1"].reason == "judge_low_quality"
    assert drops["q1"].detail == {"score": 1, "min_quality": 3, "reason": "指示に応えていない",
                                  "record": {"output": "回答です。"}}
    assert drops["hard"].reason == "judge_difficulty"
    assert drops["code"].reason == "judge_category"
    assert drops["code"].detail["category"] == "coding & debugging"


def test_llm_error_kept_unscored_or_dropped_with_threshold():
    def error(text, params, n):
        return LLMError("http_400", "bad", retryable=False)

    backend = judge_model(error)
    batch = run(make(backend), [rec("a", "x")])
    j = judge_step(batch.records[0])
    assert j["status"] == "error" and j["error"] == "http_400" and "quality" not in j
    assert len(backend.calls) == 1  # call failures are the retry wrapper's business
    batch = run(make(judge_model(error), min_quality=2), [rec("a", "x")])
    assert [d.reason for d in batch.drops] == ["llm_error:http_400"]


def test_provenance_content_completion_and_chat():
    backend = judge_model(lambda t, p, n: "判定: " + GOOD)
    r = run(make(backend), [rec("a", "日本の首都は？", "東京です。")]).records[0]
    j = judge_step(r)
    assert j["template"].startswith("judge/ja_completion.j2@")
    assert "日本の首都は？" in j["prompt"] and "東京です。" in j["prompt"]
    assert j["prompt"].rstrip().endswith("判定:")
    assert j["raw"] == "判定: " + GOOD and j["model"] == "fake-judge"
    assert j["sampling"]["temperature"] == 0.0 and j["stage"] == "judge"
    assert len(r.provenance.steps) == 1  # the verdict is the record's one step
    verdict = r.provenance.step(JudgeStep)
    assert verdict is not None and verdict.scored and verdict.quality == j["quality"]
    assert JudgeStep.unknown(j) == set()  # it wrote only what its shape declares
    assert "正確で自然な日本語。" in r.to_json()  # ensure_ascii=False
    # chat style, English, instruction without an output
    backend = judge_model(lambda t, p, n: GOOD)
    r = run(make(backend, mode="en", prompt_style="chat"),
            [rec("b", "Name a colour.", None)]).records[0]
    j = judge_step(r)
    assert j["template"].startswith("judge/en_chat.j2@")
    assert j["prompt"][0]["role"] == "user" and "There is no response" in j["prompt"][0]["content"]


def test_recipe_accepts_judge_stage_and_rejects_bad_values():
    r = Recipe.model_validate({"stages": [
        {"method": "self_instruct", "instances": "input_only"}, {"method": "answer"},
        {"method": "judge", "min_quality": 3, "categories": ["math"]}]})
    assert r.stages[2].method == "judge"
    for bad in ({"min_quality": 6}, {"categories": ["poetry"]}, {"max_difficulty": "x"}):
        with pytest.raises(Exception):
            JudgeStage(method="judge", **bad)


def test_runner_registers_judge():
    from tane.config.registry import method
    assert method("judge").stage_class() is Judge


def test_example_recipe_loads():
    from pathlib import Path
    from tane.recipe import load_recipe
    r = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "curate_judge_ja.yaml")
    assert [s.method for s in r.stages][-1] == "judge"


# -- the real model -----------------------------------------------------------------------

@pytest.mark.slow
def test_schema_constraint_with_real_model(llama_server):
    """Plumbing only: with the schema every verdict of the 270M model is valid JSON that
    parses on the first attempt, and provenance keeps the raw output. Scores of a model
    this small mean nothing and are not asserted."""
    from tane.llm.openai import OpenAIBackend

    async def go():
        backend = OpenAIBackend(llama_server, "gemma3-270m", timeout=120)
        try:
            records = [rec("a", "日本の首都はどこですか。", "日本の首都は東京です。"),
                       rec("b", "りんごを使ったお菓子を一つ挙げてください。", "アップルパイです。"),
                       rec("c", "1から10までの和を求めてください。", None)]
            judge = make(backend, reason_max_chars=24, sampling={"max_tokens": 96})
            batch = await judge.process(records)
            assert judge._constrained()
            return batch, backend
        finally:
            await backend.aclose()

    batch, _ = asyncio.run(go())
    assert len(batch.records) == 3 and not batch.drops
    for r in batch.records:
        j = judge_step(r)
        assert j["status"] == "ok", j
        assert len(j["attempts"]) == 1 and j["attempts"][0]["constrained"]
        assert list(json.loads(j["raw"])) == ["reason", "quality", "difficulty", "category"]
        assert 1 <= j["quality"] <= 5 and j["raw"]
