"""Evol-Instruct: operation draw, prompts, parsing and elimination without an LLM; the
stage with a scripted mock backend (tests/fakes.py); and a small recipe end to end on
the real model."""

from __future__ import annotations

import asyncio
import json

import pytest

from fakes import ScriptedBackend
from helpers import DATA, read_jsonl, read_stats, run_tane
from tane.config.evol_instruct import EvolStep
from tane.config.registry import METHODS
from tane.llm.base import CHAT, Completion, LLMError, ModelInfo
from tane.methods.base import StageContext, StageStats
from tane.methods.evol_instruct import (DROP_REASONS, OPERATIONS, EvolInstruct, copied_markers,
                                        is_refusal, only_punct_stopwords, parse_evolution,
                                        parse_judgement)
from tane.recipe import EvolInstructStage
from tane.schema import Provenance, Record


def make(seed: int = 0, llm=None, **cfg) -> EvolInstruct:
    stage = EvolInstructStage(method="evol_instruct", **cfg)
    ctx = StageContext("evol_instruct", llm, StageStats("evol_instruct"), [], seed)
    return EvolInstruct(stage, ctx)


def rec(rid: str, inst: str, inp: str = "") -> Record:
    return Record(id=rid, instruction=inst, input=inp,
                  provenance=Provenance(method="self_instruct", seed_ids=["ja-001"]))


# -- drawing and prompts ------------------------------------------------------------------

def test_draw_is_deterministic_per_record_and_epoch_and_depends_on_seed():
    a, b = make(seed=1), make(seed=1)
    ids = [f"si-{i}" for i in range(40)]
    draws = [(a.draw(i, e)) for i in ids for e in (1, 2)]
    assert draws == [b.draw(i, e) for i in ids for e in (1, 2)]
    assert set(draws) <= set(OPERATIONS) and len(set(draws)) >= 4
    assert draws != [make(seed=2).draw(i, e) for i in ids for e in (1, 2)]
    # epoch matters, and the draw is confined to the configured operations
    assert [a.draw(i, 1) for i in ids] != [a.draw(i, 2) for i in ids]
    only = make(seed=1, operations=["deepen", "breadth"])
    assert {only.draw(i, 1) for i in ids} == {"deepen", "breadth"}


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("op", OPERATIONS)
def test_prompt_per_operation(lang, op):
    st = make(mode=lang, operations=[op])
    r = rec("si-1", "次の表の合計を求めてください。" if lang == "ja" else "Sum the table.",
            "| a | 1 |\n| b | 2 |")
    text = st.render(r, op)
    assert st.templates[op].id.startswith(f"evol_instruct/{lang}_{op}.j2@")
    assert r.instruction in text and "| a | 1 |\n| b | 2 |" in text
    assert ("入力:\n| a | 1 |" if lang == "ja" else "Input:\n| a | 1 |") in text
    out_marker = {"ja": "#作成したプロンプト#" if op == "breadth" else "#書き換えたプロンプト#",
                  "en": "#Created Prompt#" if op == "breadth" else "#Rewritten Prompt#"}[lang]
    assert text.rstrip().endswith(out_marker)
    # no input: no input section at all
    bare = st.render(rec("si-2", "Say hi." if lang == "en" else "挨拶してください。"), op)
    block = bare.split("#元のプロンプト#" if lang == "ja" else "#Original Prompt#")[-1]
    assert "入力:" not in block and "Input:" not in block
    # chat sends it as the user message; completion as text ending in a newline
    a = st.attempt(r, 1)
    assert a.operation == op and a.prompt == [{"role": "user", "content": text}]
    assert a.params.seed == st.ctx.seed_for("evol", "si-1", 1) and a.params.stop == ()
    c = make(mode=lang, operations=[op], prompt_style="completion").attempt(r, 1)
    assert isinstance(c.prompt, str) and c.prompt.endswith(out_marker + "\n")
    assert "\n\n#" in c.params.stop


def test_operation_specific_wording():
    st = make(mode="ja")
    r = rec("x", "日本の首都はどこですか。")
    assert "表・コード・数式" in st.render(r, "complicate_input")
    assert "推論" in st.render(r, "increase_reasoning")
    assert "珍しい" in st.render(r, "breadth")
    en = make(mode="en")
    assert "condition" in en.render(r, "add_constraints")
    assert "rarer" in en.render(r, "breadth")


def test_equal_prompt_and_template_override(tmp_path):
    st = make(mode="en")
    p = st.judge_prompt("Say hi.", "Say hi in French.")[0]["content"]
    assert "#Instruction 1#\nSay hi." in p and "Say hi in French." in p and "Not Equal" in p
    mine = tmp_path / "deep.j2"
    mine.write_text("深く: {{ instruction }}", encoding="utf-8")
    cfg = EvolInstructStage(method="evol_instruct", templates={"ja_deepen": str(mine)})
    ov = EvolInstruct(cfg, StageContext("evol_instruct", None, StageStats("e"), [], 0))
    assert ov.render(rec("x", "説明してください。"), "deepen") == "深く: 説明してください。"
    from tane.errors import TaneError
    with pytest.raises(TaneError):
        EvolInstruct(EvolInstructStage(method="evol_instruct", templates={"ja_nope": "x"}),
                     StageContext("e", None, StageStats("e"), [], 0))


# -- parsing ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,inst,inp", [
    ("#書き換えたプロンプト#\n次の文を100字以内で要約してください。\n入力:\n今日は晴れ。",
     "次の文を100字以内で要約してください。", "今日は晴れ。"),
    ("書き換えたプロンプト：「東京の観光地を3つ挙げてください。」", "東京の観光地を3つ挙げてください。", None),
    ("指示：次の表を読んでください。\n入力データ:\n| a | b |", "次の表を読んでください。", "| a | b |"),
    ("Rewritten Prompt: Explain X in 3 steps.\n\n#Original Prompt#\nfoo", "Explain X in 3 steps.",
     None),
    ("**Rewritten Prompt:** \"Do X.\"", "Do X.", None),
    ("Instructions for use: read the table.\nInput: a|b", "Instructions for use: read the table.",
     "a|b"),
    ("  \n", "", None),
])
def test_parse_evolution(raw, inst, inp):
    assert parse_evolution(raw) == (inst, inp)


@pytest.mark.parametrize("text,lang,want", [
    ("同じ", "ja", True), ("「異なる」", "ja", False), ("同じではない", "ja", False),
    ("違います", "ja", False), ("Equal", "en", True), ("Not Equal", "en", False),
    (" not equal.", "en", False), ("hmm", "en", None), ("わからない", "ja", None)])
def test_parse_judgement(text, lang, want):
    assert parse_judgement(text, lang) is want


# -- elimination rules, positive and negative, per language --------------------------------

@pytest.mark.parametrize("text,lang,want", [
    ("申し訳ありませんが、そのプロンプトを書き換えることはできません。", "ja", True),
    ("すみません、お手伝いできません。", "ja", True),
    ("この依頼にはお答えできません。", "ja", True),
    ("申し訳ない気持ちを伝えるお詫びの手紙を書いてください。", "ja", False),
    ("「対応できません」という表現を使わずに断りのメールを書いてください。", "ja", False),
    ("すみませんと言わずに謝る方法を3つ挙げてください。", "ja", False),
    ("申し訳ありませんが、" + "あ" * 130 + "できません。", "ja", False),  # not short
    ("I'm sorry, but I cannot rewrite this prompt.", "en", True),
    ("As an AI, I am unable to help with that.", "en", True),
    ("Write an apology saying sorry to a customer for a late delivery.", "en", False),
    ("Explain why a car cannot run without oil.", "en", False),
])
def test_apology_short(text, lang, want):
    assert is_refusal(text, lang) is want


@pytest.mark.parametrize("text,lang,want", [
    ("。。、！", "ja", True), ("これはです。", "ja", True), ("東京について説明して", "ja", False),
    ("the of, and!", "en", True), ("...", "en", True), ("Explain it", "en", False)])
def test_only_punctuation_stopwords(text, lang, want):
    assert only_punct_stopwords(text, lang) is want


@pytest.mark.parametrize("text,want", [
    ("与えられたプロンプトに制約を加えてください。", True),
    ("#元のプロンプト#を読んで答えてください。", True),
    ("Make the given prompt harder.", True), ("Here is the #Rewritten Prompt#: x", True),
    ("プロンプトエンジニアリングの基本を説明してください。", False),
    ("Explain prompt engineering in two sentences.", False)])
def test_copied_prompt_markers(text, want):
    assert bool(copied_markers(text)) is want


def _done(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish)


@pytest.mark.parametrize("lang,parent,out,reason", [
    ("ja", "日本の首都を答えてください。", "申し訳ありませんが、できません。", "apology_short"),
    ("ja", "日本の首都を答えてください。", "。、", "only_punctuation_stopwords"),
    ("ja", "日本の首都を答えてください。", "与えられたプロンプトをもっと難しくしてください。",
     "copied_prompt_markers"),
    ("ja", "日本の首都を答えてください。", "日本の首都を答えてください。", "no_information_gain"),
    ("ja", "日本の首都を答えてください。", "", "empty_evolution"),
    ("en", "Name the capital of Japan.", "I'm sorry, I cannot do that.", "apology_short"),
    ("en", "Name the capital of Japan.", "the and of.", "only_punctuation_stopwords"),
    ("en", "Name the capital of Japan.", "Rewrite the given prompt.", "copied_prompt_markers"),
    ("en", "Name the capital of Japan.", "#Rewritten Prompt#\nName the capital of Japan.",
     "no_information_gain"),
])
def test_check_reasons(lang, parent, out, reason):
    st = make(mode=lang)
    bad = st.check(rec("p", parent), _done(out))
    assert bad is not None and bad[0] == reason and reason in DROP_REASONS


def test_check_passes_real_evolutions_and_names_truncation():
    ja = make(mode="ja")
    p = rec("p", "日本の首都を答えてください。")
    assert ja.check(p, _done("日本の首都を答え、その都市が首都になった経緯を100字以内で説明してください。")) is None
    en = make(mode="en")
    assert en.check(rec("p", "Name the capital of Japan."),
                    _done("Name the capital of Japan and explain in two sentences how it "
                          "became the capital.")) is None
    # a cut rewrite is the engine's drop: the request names it, and shows the cut text
    req = ja.prompt(p)
    assert req.truncated == "truncated_evolution" and req.record_id == "p"
    assert req.cut_text("#書き換えたプロンプト#\n日本の首都を") == "日本の首都を"


# -- the stage, with a scripted backend ---------------------------------------------------

def evolver(replies: dict[str, list[str]], judge: str = "異なる") -> ScriptedBackend:
    """A mock backend (no model) that answers by looking at the chat prompt: judge prompts
    get ``judge``, evolution prompts the next scripted reply for the instruction they
    carry ("ERROR": the error of a failed call)."""
    left = {k: list(v) for k, v in replies.items()}

    def script(kind, messages, params):
        assert kind == CHAT, kind
        text = messages[-1]["content"]
        if "#指示1#" in text or "#Instruction 1#" in text:
            return _done(judge)
        for key, queue in left.items():
            if f"#\n{key}\n" in text:
                reply = queue.pop(0)
                if reply == "ERROR":
                    return LLMError("http_500", retryable=True)
                return _done(reply)
        raise AssertionError(f"unexpected prompt: {text[-200:]}")

    return ScriptedBackend(script, info=ModelInfo(id="fake-model", revision="r1",
                                                  license="apache-2.0", backend="fake"))


def _run(st: EvolInstruct, records):
    return asyncio.run(st.process(records))


def test_process_two_epochs_chain_provenance_and_drops():
    a = rec("si-a", "日本の首都を答えてください。")
    b = rec("si-b", "好きな果物を一つ挙げてください。", "りんご、みかん")
    a1 = "日本の首都を答え、その都市が首都になった理由を100字以内で説明してください。"
    a2 = "日本の首都を答え、首都になった理由を歴史・経済の二つの観点から100字以内で説明してください。"
    llm = evolver({a.instruction: [a1], a1: [a2],
                   b.instruction: ["申し訳ありませんが、できません。",
                                   "好きな果物を一つ挙げ、旬の季節と選んだ理由を50字以内で書いてください。"]})
    st = make(seed=3, llm=llm, epochs=2)
    batch = _run(st, [a, b])
    ids = [r.id for r in batch.records]
    assert ids[:2] == ["si-a", "si-b"]  # keep_parents: incoming first
    evolved = batch.records[2:]
    assert [r.instruction for r in evolved][:2] == [a1, a2]
    e1, e2, b2 = evolved
    assert all(r.id.startswith("ev-") and r.output is None for r in evolved)
    assert e1.provenance.parent() == "si-a" and e2.provenance.parent() == e1.id
    p = e2.provenance
    step = p.step(EvolStep)
    assert step is not None and p.made_by().id == step.id == e2.id
    assert step.epoch == 2 and step.operation in OPERATIONS
    assert p.lineage() == ["si-a", e1.id, e2.id]
    assert [s.epoch for s in p.steps_of(EvolStep)] == [1, 2]
    assert step.model == "fake-model" and step.license == "apache-2.0"
    assert p.method == "self_instruct" and p.seed_ids == ["ja-001"]  # the origin, untouched
    assert step.sampling["seed"] == st.ctx.seed_for("evol", e1.id, 2)
    assert step.template.startswith("evol_instruct/ja_")
    assert step.equality_judge is not None and step.equality_judge["equal"] is False
    assert EvolStep.unknown(p.steps[-1]) == set()  # it wrote only what its shape declares
    # b failed in epoch 1 (refusal), was retried in epoch 2 from the same parent
    b2_step = b2.provenance.step(EvolStep)
    assert b2.provenance.parent() == "si-b" and b2_step is not None and b2_step.epoch == 2
    if b2_step.operation != "breadth":
        assert b2.input == "りんご、みかん"  # the given input is kept
    assert [(d.reason, d.record_id, d.detail["epoch"]) for d in batch.drops] == \
        [("apology_short", "si-b", 1)]
    # accounting: parents + 4 attempts == kept + dropped
    assert 2 + 4 == len(batch.records) + len(batch.drops)


def test_process_judge_equal_llm_error_and_no_parents():
    a = rec("si-a", "Name the capital of Japan.")
    b = rec("si-b", "List three fruits.")
    llm = evolver({a.instruction: ["Name the capital city of Japan, please."],
                   b.instruction: ["ERROR"]}, judge="Equal")
    st = make(llm=llm, mode="en", keep_parents=False, epochs=1)
    batch = _run(st, [a, b])
    assert batch.records == []
    assert sorted(d.reason for d in batch.drops) == ["llm_error:http_500", "no_information_gain"]
    assert len(batch.records) + len(batch.drops) == 2
    # without the judge the same evolution is kept, and no judge call is made
    llm2 = evolver({a.instruction: ["Name the capital city of Japan, please."]}, judge="Equal")
    st2 = make(llm=llm2, mode="en", keep_parents=False, judge_equality=False)
    out = _run(st2, [a])
    assert len(out.records) == 1 and len(llm2.calls) == 1
    made = out.records[0].provenance.step(EvolStep)
    assert made is not None and made.equality_judge is None


def test_process_is_reproducible():
    a = rec("si-a", "日本の首都を答えてください。")
    reply = "日本の首都を答え、その理由を説明してください。"
    runs = [_run(make(seed=5, llm=evolver({a.instruction: [reply]})), [a]) for _ in range(2)]
    dumps = [[r.model_dump() for r in b.records] for b in runs]
    assert dumps[0] == dumps[1]
    assert json.dumps(dumps[0], ensure_ascii=False).count("日本の首都") >= 2


# -- end to end on the real model ---------------------------------------------------------

RECIPE = """\
name: evol-e2e
seed: 5
target: 2
source: {path: {FEW_JA}}
stages:
  - method: evol_instruct
    mode: ja
    prompt_style: completion
    epochs: 1
    stop: ["\n\n"]
    sampling: {temperature: 0.7, top_p: 0.9, max_tokens: 96, frequency_penalty: 0.5}
  - method: answer
    mode: ja
    num_examples: 2
    sampling: {temperature: 0.3, top_p: 0.9, max_tokens: 64}
  - method: curate
    lang: ja
    steps:
      - name: exact_dup
      - name: meta_text
"""


@pytest.mark.slow
def test_evol_recipe_end_to_end(llama_server, tmp_path):
    recipe = tmp_path / "evol.yaml"
    # six short questions from a file, not a generator: the evolution is what is tested
    recipe.write_text(RECIPE.replace("{FEW_JA}", str(DATA / "few_ja.jsonl")), encoding="utf-8")
    out = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(out), "--llm", llama_server,
                   "--model", "gemma-3-270m", "--no-progress", timeout=600)
    assert res.returncode == 0, res.stderr
    st = read_stats(out)
    for s in st["stages"].values():
        assert s["items_in"] == s["kept"] + sum(s["dropped"].values())
    assert list(st["stages"]) == ["evol_instruct", "answer", "curate"]
    assert st["stages"]["curate"]["items_in"] == st["stages"]["answer"]["kept"]
    ev = st["stages"]["evol_instruct"]
    assert ev["items_in"] > 0 and ev["llm_calls"] >= 1
    drops = read_jsonl(out / "rejected.jsonl")
    assert len(drops) == sum(sum(s["dropped"].values()) for s in st["stages"].values())
    # records past the target are neither evolved nor answered, but for what the feed
    # rule lets fly past it at a low measured keep rate: under a window (the server's 4
    # slots) of answers to a record each
    assert st["stages"]["curate"]["dropped"].get("over_target", 0) <= 3, st["stages"]
    for d in drops:
        if d["stage"] != "evol_instruct":
            continue
        if d["reason"] == "over_target":  # held back by the feed rule, uncalled
            assert d["detail"]["before"] in ("evol_instruct", "answer"), d
        else:
            assert d["reason"] in DROP_REASONS or d["reason"].startswith("llm_error:"), d
            assert d["detail"]["operation"] in OPERATIONS and d["detail"]["epoch"] == 1
    rows = read_jsonl(out / "dataset.jsonl")
    assert rows
    for row in rows:
        prov = Provenance.read(row["provenance"])
        step = prov.step(EvolStep)
        if step is not None:  # a rewrite: a step on its parent's provenance
            assert row["id"].startswith("ev-") and prov.parent()
            assert step.operation in OPERATIONS and step.epoch == 1
            assert prov.lineage() == [prov.parent(), row["id"]]
        else:
            assert prov.method == "source"  # the parent, kept
        for stored in row["provenance"]["steps"]:  # evol, answer: declared keys only
            assert METHODS[stored["method"]].provenance.unknown(stored) == set(), stored
    text = (out / "dataset.jsonl").read_text(encoding="utf-8")
    assert "\\u3" not in text  # Japanese written as text, not escapes
