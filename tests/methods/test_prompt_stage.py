"""The prompt stage: replies read into fields or validated against a schema, keep_if, one
retry, drops with the raw reply; then real runs against the llama.cpp server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

import tane
from tane.config.judge import JudgeStep
from tane.config.prompt import PromptStep
from tane.llm.base import Completion
from tane.methods.base import Request, StageContext, StageStats
from tane.methods.prompt_stage import PromptTransform
from tane.schema import Drop, Provenance, Record


def _stage(tmp_path: Path, **cfg) -> PromptTransform:
    from tane.config.prompt import PromptStage as Cfg

    c = Cfg.model_validate({"method": "prompt"} | cfg)
    ctx = StageContext(name="prompt", llm=None, stats=StageStats("prompt"), seeds=[],
                       recipe_seed=0, base_dir=tmp_path)
    return PromptTransform(c, ctx)


def _rec(**kw) -> Record:
    kw.setdefault("provenance", Provenance(method="source"))
    return Record(id="r1", instruction=kw.pop("instruction", "何か"), **kw)


def _reply(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish)


def test_schema_fields_land_in_the_record_and_keep_if_selects(tmp_path):
    st = _stage(tmp_path, template="{{ instruction }}", keep_if="quality >= 3",
                output_schema={"quality": "int", "instruction": "str"})
    rec = _rec(output="答え")
    req = st.prompt(rec)
    assert req.meta["output_schema"]["required"] == ["quality", "instruction"]
    out = st.parse(rec, req, _reply('ok {"quality": 4.0, "instruction": "新しい問い"} '))
    assert isinstance(out, Record)
    assert out.instruction == "新しい問い" and out.provenance.fields == {"quality": 4}
    assert type(out.provenance.fields["quality"]) is int
    assert req.meta["previous"] == {"instruction": "何か"}
    assert PromptStep.unknown(req.meta) == set()  # the step: only what its shape declares
    low = st.parse(rec, st.prompt(rec), _reply('{"quality": 2, "instruction": "x"}'))
    assert isinstance(low, Drop) and low.reason == "keep_if"
    assert low.detail["values"] == {"quality": 2, "instruction": "x"}


def test_a_reply_that_fails_the_schema_is_schema_invalid_with_the_raw_reply(tmp_path):
    st = _stage(tmp_path, template="{{ instruction }}",
                output_schema={"level": ["easy", "hard"]})
    for text, why in [("easy", "no JSON object"), ('{"level": "medium"}', "not one of"),
                      ('{"level": "easy", "x": 1}', "x is not a field")]:
        first = st.prompt(_rec())
        again = st.parse(_rec(), first, _reply(text))  # asked once more, another seed
        assert isinstance(again, Request) and again.meta["attempt"] == 2
        assert again.params.seed != first.params.seed
        d = st.parse(_rec(), again, _reply(text))
        assert isinstance(d, Drop) and d.reason == "schema_invalid"
        assert why in d.detail["error"] and d.detail["raw"] == text
        assert d.detail["first"] == {"error": d.detail["error"], "raw": text}
        assert d.detail["attempts"] == 2


def test_field_mode_writes_a_named_field_and_keeps_what_it_replaced(tmp_path):
    st = _stage(tmp_path, template="{{ fields.summary }} / {{ provenance.method }}",
                field="summary")
    rec = _rec(provenance=Provenance(method="source", fields={"summary": "古い"}))
    req = st.prompt(rec)
    assert req.prompt[0]["content"] == "古い / source"  # chat: the user turn
    out = st.parse(rec, req, _reply("  新しい要約\n"))
    assert out.provenance.fields == {"summary": "新しい要約"} and out.output is None
    assert req.meta["previous"] == {"fields.summary": "古い"}
    assert PromptStep.unknown(req.meta) == set()
    cut = st.parse(rec, st.prompt(rec), _reply("途中で", "length"))
    assert isinstance(cut, Drop) and cut.reason == "truncated"
    empty = st.parse(rec, st.prompt(rec), _reply("  "))
    assert isinstance(empty, Drop) and empty.reason == "empty_reply"


def test_a_template_reads_the_last_judge_step_as_provenance_judge(tmp_path):
    st = _stage(tmp_path, template="{{ provenance.judge.quality }}", field="note")
    prov = Provenance(method="source").with_step(JudgeStep(stage="judge", status="ok",
                                                           quality=2))
    prov = prov.with_step(JudgeStep(stage="judge#2", status="ok", quality=4))
    assert st.prompt(_rec(provenance=prov)).prompt[0]["content"] == "4"


def test_a_record_the_template_cannot_render_is_a_drop(tmp_path):
    st = _stage(tmp_path, template="{{ fields.summary }}", field="output")
    batch = asyncio.run(st.process([_rec()]))  # no call: it fails before the model is asked
    assert [d.reason for d in batch.drops] == ["template_error"]
    assert "summary" in batch.drops[0].detail["error"]


def test_a_template_file_is_read_beside_the_recipe_and_checked(tmp_path):
    (tmp_path / "t.j2").write_text("丁寧に: {{ output }}", encoding="utf-8")
    st = _stage(tmp_path, template_file="t.j2", field="output", prompt_style="completion")
    assert st.prompt(_rec(output="だ")).prompt == "丁寧に: だ"
    assert st.prompt(_rec()).meta["template"].startswith("t.j2@")
    (tmp_path / "bad.j2").write_text("{{ outptu }}", encoding="utf-8")
    with pytest.raises(tane.TaneError, match="the template names outptu"):
        _stage(tmp_path, template_file="bad.j2", field="output")
    with pytest.raises(tane.TaneError, match="template file not found"):
        _stage(tmp_path, template_file="missing.j2", field="output")


# -- real runs: the llama.cpp server (Gemma 3 270M) ------------------------------------

ROWS = [{"instruction": "1たす1はいくつですか。", "output": "2である。"},
        {"instruction": "日本の首都はどこですか。", "output": "東京だ。"}]


def _recipe(tmp_path: Path, stage: dict) -> Path:
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"name": "prompt-test", "seed": 1,
                                 "source": {"path": "rows.jsonl"},
                                 "stages": [{"method": "prompt", "prompt_style": "completion",
                                             **stage}]}, allow_unicode=True),
                 encoding="utf-8")
    return p


@pytest.mark.slow
def test_a_constrained_schema_with_the_real_server(llama_server, tmp_path):
    recipe = _recipe(tmp_path, {
        "template": "指示: {{ instruction }}\n回答: {{ output }}\n分類をJSONで:",
        "output_schema": {"category": ["math", "knowledge", "other"],
                          "difficulty": ["easy", "hard"]},
        "keep_if": 'category in ["math", "knowledge", "other"]',
        "sampling": {"temperature": 0.0, "max_tokens": 40}})
    res = tane.run(recipe, tmp_path / "run", llm=llama_server, model="gemma")
    assert res.kept == 2, res.stats["stages"]
    for r in res.load().kept:
        f = r["provenance"]["fields"]
        assert f["category"] in ("math", "knowledge", "other")
        assert f["difficulty"] in ("easy", "hard")
        step = r["provenance"]["steps"][-1]
        assert step["constrained"] is True and step["keep_if"]
        assert step["output_schema"]["properties"]["difficulty"]["enum"] == ["easy", "hard"]
        assert "{{ instruction }}" in step["prompt_template"]
    again = tane.run(recipe, tmp_path / "run", llm=llama_server, model="gemma")
    assert again.stats["llm"]["calls"] == 0 and again.stats["llm"]["cache_hits"] == 2
    # the dataset card shows the template, the schema and keep_if
    tane.export(res, format="jsonl", to=tmp_path / "out" / "data.jsonl")
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    section = card[card.index("## Prompt stages"):card.index("## Human review")]
    assert "分類をJSONで:" in section and '"enum": ["easy", "hard"]' in section
    assert 'category in ["math", "knowledge", "other"]' in section


@pytest.mark.slow
def test_an_unconstrained_reply_that_is_not_json_is_retried_once_then_dropped(
        llama_server, tmp_path):
    recipe = _recipe(tmp_path, {
        "template": "次の文を読んで、感想を一言で書いてください。\n{{ output }}\n感想:",
        "output_schema": {"score": "int"}, "json_schema": False,
        "stop": ["{", "\n"], "sampling": {"temperature": 0.0, "max_tokens": 12}})
    res = tane.run(recipe, tmp_path / "run", llm=llama_server, model="gemma")
    st = res.stats["stages"]["prompt"]
    assert st["dropped"] == {"schema_invalid": 2} and st["llm_calls"] == 4
    for d in res.load().dropped:
        assert d["detail"]["attempts"] == 2 and "no JSON object" in d["detail"]["error"]
        assert "raw" in d["detail"] and "raw" in d["detail"]["first"]
