"""Magpie: chat templates (built-ins, the real SmolLM2 GGUF, tokenizer configs, Jinja),
the GGUF reader, prompt assembly with a seeded RNG, filters and drop reasons; end to end on
the embedded chat model and against a real llama.cpp server (OpenAI path)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import struct
from pathlib import Path

import pytest

from helpers import journal_count, read_jsonl, read_stats, run_tane
from tane.config.magpie import MagpieStage
from tane.errors import TaneError
from tane.llm.base import CHAT, COMPLETION, RAW_CHAT, Completion, GenParams
from tane.llm.cache import CachedBackend
from tane.llm.gguf import chat_template, read_metadata, token_strings
from tane.llm.templates import (BUILTINS, builtin, from_file, from_gguf, from_server_props,
                                from_tokenizer_config)
from tane.methods.base import StageContext, StageStats
from tane.methods.magpie import INSTRUCTION_DROPS, OUTPUT_DROPS, Magpie, degenerate

SMOL_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
H = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]

# Each family's format as its model cards and tokenizer files write it (BOS left to the
# server). (pre-query, pre-query with system "SYS", second-turn pre-query, answer prompt)
FAMILIES = {
    "chatml": ("<|im_start|>user\n",
               "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n",
               "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
               "<|im_start|>user\n",
               "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n"),
    "qwen2": ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
              "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n",
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
              "Q1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\n",
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
              "Q1<|im_end|>\n<|im_start|>assistant\n"),
    "qwen3": ("<|im_start|>user\n",
              "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n",
              "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
              "<|im_start|>user\n",
              "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"),
    "llama3": ("<|start_header_id|>user<|end_header_id|>\n\n",
               "<|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\n",
               "<|start_header_id|>user<|end_header_id|>\n\nQ1<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\n",
               "<|start_header_id|>user<|end_header_id|>\n\nQ1<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "gemma": ("<start_of_turn>user\n",
              "<start_of_turn>user\nSYS\n\n",
              "<start_of_turn>user\nQ1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
              "<start_of_turn>user\n",
              "<start_of_turn>user\nQ1<end_of_turn>\n<start_of_turn>model\n"),
    "mistral": ("[INST] ", "[INST] SYS\n\n", "[INST] Q1 [/INST]A1</s>[INST] ",
                "[INST] Q1 [/INST]"),
    "llm-jp": ("以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n### 指示:\n",
               "SYS\n\n### 指示:\n",
               "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n### 指示:\n"
               "Q1\n\n### 応答:\nA1</s>\n\n### 指示:\n",
               "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n### 指示:\n"
               "Q1\n\n### 応答:\n"),
}
# (must be among the instruction stops, must be among the answer stops)
STOPS = {"chatml": ("<|im_end|>", "<|im_end|>"), "qwen2": ("<|im_end|>", "<|im_end|>"),
         "qwen3": ("<|im_end|>", "<|im_end|>"), "llama3": ("<|eot_id|>", "<|eot_id|>"),
         "gemma": ("<end_of_turn>", "<end_of_turn>"), "mistral": ("[/INST]", "</s>"),
         "llm-jp": ("### 応答:", "### 指示:")}


def test_every_builtin_is_covered():
    assert set(FAMILIES) == set(BUILTINS)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_builtin_pre_query_answer_and_stops(name):
    fmt = builtin(name)
    pre, pre_sys, second, answer = FAMILIES[name]
    assert fmt.pre_query() == pre
    assert fmt.pre_query("SYS") == pre_sys
    assert fmt.pre_query(None, H) == second
    assert fmt.answer_prompt(None, H[:1]) == answer
    # the second turn's pre-query continues the first turn's answer prompt (Qwen3 keeps
    # no think block in the history)
    if name != "qwen3":
        assert second.startswith(answer + "A1")
    q_stop, a_stop = STOPS[name]
    assert q_stop in fmt.instruction_stops and a_stop in fmt.answer_stops
    assert all(s.strip() for s in fmt.instruction_stops + fmt.answer_stops)
    assert q_stop in fmt.markers and a_stop in fmt.markers
    assert fmt.source == "builtin" and fmt.id.startswith(f"{name}@")


def test_builtin_aliases_and_unknown_name():
    assert builtin("Qwen2.5").name == "qwen2" and builtin("tanuki").name == "llm-jp"
    with pytest.raises(TaneError) as e:
        builtin("vicuna")
    assert e.value.field == "template" and "llm-jp" in str(e.value)


# -- the real SmolLM2 GGUF ------------------------------------------------------------------

def smol_path() -> Path:
    from tane.llm.embedded import smollm2_path

    try:
        return smollm2_path()
    except TaneError as e:  # pragma: no cover - installed by `make setup`
        pytest.skip(str(e))


def test_smollm2_gguf_metadata_and_template():
    path = smol_path()
    meta = read_metadata(path, {"general.architecture", "tokenizer.chat_template",
                                "tokenizer.ggml.eos_token_id"})
    assert meta["general.architecture"] == "llama"
    assert "<|im_start|>" in meta["tokenizer.chat_template"]
    assert chat_template(path) == meta["tokenizer.chat_template"]
    assert token_strings(path) == {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    fmt = from_gguf(path)
    assert fmt.source == f"gguf:{path}" and fmt.name == "smollm2-135m"
    # the model's own template adds its default system turn when none is given
    assert fmt.pre_query() == (f"<|im_start|>system\n{SMOL_DEFAULT_SYSTEM}<|im_end|>\n"
                               "<|im_start|>user\n")
    # its BOS text is written literally (not through bos_token), so it is kept
    assert fmt.pre_query("日本語で答えてください。") == (
        "<|im_start|>system\n日本語で答えてください。<|im_end|>\n<|im_start|>user\n")
    assert fmt.answer_prompt("S", H[:1]).endswith("Q1<|im_end|>\n<|im_start|>assistant\n")
    assert fmt.instruction_stops[0] == "<|im_end|>" and "<|im_end|>" in fmt.answer_stops


def test_embedded_backend_reports_the_gguf_template_without_loading_a_model():
    from tane.llm.embedded import EmbeddedBackend

    be = EmbeddedBackend()
    src = asyncio.run(be.chat_template())
    assert src is not None and src.template == chat_template(smol_path())
    assert src.source.startswith("gguf:") and src.eos_token == "<|im_end|>"
    assert be.model_for(RAW_CHAT) == be.model_for(CHAT) != be.model_for(COMPLETION)
    assert RAW_CHAT in be.capabilities and not be._servers


# -- the GGUF reader on files written here -------------------------------------------------

def _gguf_string(s: str, v1: bool = False) -> bytes:
    b = s.encode()
    return struct.pack("<I" if v1 else "<Q", len(b)) + b


def write_gguf(path: Path, kv: list[tuple[str, int, bytes]], version: int = 3) -> Path:
    v1 = version == 1
    n = struct.pack("<I", 0) if v1 else struct.pack("<Q", 0)
    body = b"GGUF" + struct.pack("<I", version) + n + (
        struct.pack("<I" if v1 else "<Q", len(kv)))
    for key, vtype, value in kv:
        body += _gguf_string(key, v1) + struct.pack("<I", vtype) + value
    path.write_bytes(body + b"\0" * 64)  # tensor data would follow
    return path


@pytest.mark.parametrize("version", [1, 2, 3])
def test_gguf_reader_types_and_skipped_arrays(tmp_path, version):
    v1 = version == 1
    cnt = "<I" if v1 else "<Q"
    tokens = [b"<pad>", b"<|im_start|>", b"<|im_end|>"]
    arr = struct.pack("<I", 8) + struct.pack(cnt, 3) + b"".join(
        struct.pack(cnt, len(t)) + t for t in tokens)
    kv = [("general.name", 8, _gguf_string("tiny", v1)),
          ("general.flag", 7, b"\x01"),
          ("general.f", 6, struct.pack("<f", 0.5)),
          ("tokenizer.ggml.tokens", 9, arr),
          ("tokenizer.ggml.scores", 9, struct.pack("<I", 6) + struct.pack(cnt, 2)
           + struct.pack("<ff", 1.0, 2.0)),
          ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
          ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
          ("tokenizer.chat_template", 8, _gguf_string(
              "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
              "{% endfor %}", v1))]
    p = write_gguf(tmp_path / "t.gguf", kv, version)
    meta = read_metadata(p)
    assert meta["general.name"] == "tiny" and meta["general.flag"] is True
    assert meta["general.f"] == 0.5 and meta["tokenizer.ggml.tokens"] is None  # skipped
    assert read_metadata(p, {"tokenizer.ggml.tokens"}, keep_arrays=True) == {
        "tokenizer.ggml.tokens": ["<pad>", "<|im_start|>", "<|im_end|>"]}
    assert token_strings(p) == {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    fmt = from_gguf(p)
    assert fmt.name == "tiny" and fmt.pre_query("S") == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n")


def test_gguf_reader_errors(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGML" + b"\0" * 40)
    with pytest.raises(TaneError, match="no 'GGUF' magic"):
        read_metadata(bad)
    good = write_gguf(tmp_path / "y.gguf", [("general.name", 8, _gguf_string("n"))])
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:30])
    with pytest.raises(TaneError, match="ends early") as e:
        read_metadata(cut)
    assert e.value.path == str(cut)
    with pytest.raises(TaneError, match="no tokenizer.chat_template") as e:
        from_gguf(good)  # a base model's file
    assert e.value.field == "template"


# -- tokenizer_config.json, Jinja files, server props --------------------------------------

LLAMA3_HF = ("{{ bos_token }}{% for message in messages %}{% set content = '<|start_header_id|>'"
             " + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + "
             "'<|eot_id|>' %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
             "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def test_tokenizer_config_template_with_bos_token(tmp_path):
    cfg = tmp_path / "tokenizer_config.json"
    cfg.write_text(json.dumps({"chat_template": LLAMA3_HF, "bos_token": "<|begin_of_text|>",
                               "eos_token": {"content": "<|eot_id|>"},
                               "name_or_path": "org/llama"}), encoding="utf-8")
    fmt = from_tokenizer_config(cfg)
    assert fmt.name == "org/llama" and fmt.eos == "<|eot_id|>"
    # bos_token written by the template is left to the server: not in the prompt
    assert fmt.pre_query() == FAMILIES["llama3"][0]
    assert fmt.pre_query("SYS", H) == builtin("llama3").pre_query("SYS", H)
    assert fmt.answer_prompt(None, H[:1]) == FAMILIES["llama3"][3]
    assert from_file(cfg).source == f"tokenizer_config:{cfg}"


def test_tokenizer_config_named_templates_jinja_file_and_errors(tmp_path):
    cfg = tmp_path / "a.json"
    cfg.write_text(json.dumps({"chat_template": [
        {"name": "tool_use", "template": "x"},
        {"name": "default", "template": builtin("gemma").template}]}), encoding="utf-8")
    assert from_tokenizer_config(cfg).pre_query("S") == "<start_of_turn>user\nS\n\n"
    none = tmp_path / "b.json"
    none.write_text("{}", encoding="utf-8")
    with pytest.raises(TaneError, match="no chat_template") as e:
        from_tokenizer_config(none)
    assert e.value.path == str(none)
    jinja = tmp_path / "tpl.jinja"
    jinja.write_text(builtin("mistral").template, encoding="utf-8")
    assert from_file(jinja).pre_query() == "[INST] "
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for m in messages %}{{ m.content }", encoding="utf-8")
    with pytest.raises(TaneError, match="syntax error") as e:
        from_file(broken)
    assert e.value.path == str(broken)
    strict = tmp_path / "strict.jinja"  # a template that refuses some conversations
    strict.write_text("{% if messages[0]['role'] == 'system' %}{{ raise_exception("
                      "'System role not supported') }}{% endif %}{% for m in messages %}"
                      "<u>{{ m.content }}</u>{% endfor %}", encoding="utf-8")
    fmt = from_file(strict)
    assert fmt.pre_query() == "<u>"
    with pytest.raises(TaneError, match="System role not supported"):
        fmt.pre_query("S")


def test_server_props():
    props = {"chat_template": builtin("chatml").template, "bos_token": "<s>",
             "eos_token": "<|im_end|>", "model_path": "/models/qwen2.5-7b.gguf"}
    fmt = from_server_props(props, "http://h/props")
    assert fmt.name == "qwen2.5-7b" and fmt.source == "server:http://h/props"
    assert fmt.pre_query() == "<|im_start|>user\n"
    with pytest.raises(TaneError, match="no chat_template"):
        from_server_props({}, "http://h/props")


# -- the stage without an LLM ---------------------------------------------------------------

def make(seed: int = 0, base_dir: Path | None = None, **cfg) -> Magpie:
    stage = MagpieStage(method="magpie", **cfg)
    ctx = StageContext("magpie", None, StageStats("magpie"), [], seed, base_dir)
    return Magpie(stage, ctx)


def test_system_prompt_draw_is_seeded_and_prompts_use_it():
    systems = ["あなたは料理の専門家です。", "あなたは数学の先生です。", "あなたは旅行案内係です。"]
    a, b = make(seed=1, template="chatml", system_prompt=systems), \
        make(seed=1, template="chatml", system_prompt=systems)
    picks = [a.start(0, i).system_choice for i in range(30)]
    assert picks == [b.start(0, i).system_choice for i in range(30)]
    assert set(picks) == {0, 1, 2}
    assert picks != [make(seed=2, template="chatml", system_prompt=systems).start(0, i)
                     .system_choice for i in range(30)]
    assert picks != [a.start(1, i).system_choice for i in range(30)]  # round matters
    conv = a.start(0, 4)
    assert conv.system == systems[conv.system_choice]
    assert a.instruction_prompt(a.fmt, conv) == (
        f"<|im_start|>system\n{conv.system}<|im_end|>\n<|im_start|>user\n")
    assert a.answer_prompt(a.fmt, conv, "質問").endswith(
        "<|im_start|>user\n質問<|im_end|>\n<|im_start|>assistant\n")
    # seeds per (round, conversation, turn, call)
    p1 = a.params(a.fmt, conv, 1, "instruction")
    assert p1.seed == a.ctx.seed_for("magpie", 0, 4, 1, "instruction")
    assert p1.seed != a.params(a.fmt, conv, 2, "instruction").seed
    assert p1.temperature == 1.0 and p1.stop[0] == "<|im_end|>"
    assert a.params(a.fmt, conv, 1, "response").stop[0] == "<|im_end|>"


def test_default_system_prompts_per_mode():
    ja = make(template="llm-jp")
    assert ja.systems[0] and "日本語" in ja.systems[0]
    assert ja.instruction_prompt(ja.fmt, ja.start(0, 0)) == (
        f"{ja.systems[0]}\n\n### 指示:\n")
    en = make(template="chatml", mode="en")
    assert en.systems == [None] and en.instruction_prompt(en.fmt, en.start(0, 0)) == (
        "<|im_start|>user\n")
    none = make(template="qwen2", system_prompt="")  # the template's own default stays
    assert none.instruction_prompt(none.fmt, none.start(0, 0)) == FAMILIES["qwen2"][0]


def test_config_errors(tmp_path):
    with pytest.raises(TaneError) as e:
        make(template="vicuna")
    assert e.value.field == "template"
    with pytest.raises(TaneError) as e:
        make(template="chatml", chat_template_path="x.json")
    assert e.value.field == "chat_template_path"
    with pytest.raises(TaneError) as e:
        make(chat_template_path="missing.json", base_dir=tmp_path)
    assert e.value.path == str(tmp_path / "missing.json")
    with pytest.raises(TaneError) as e:
        make(template="chatml", templates={"ja_generate": "x.j2"})
    assert e.value.field == "templates.ja_generate"
    (tmp_path / "t.jinja").write_text(builtin("gemma").template, encoding="utf-8")
    assert make(chat_template_path="t.jinja", base_dir=tmp_path).fmt.pre_query() == (
        "<start_of_turn>user\n")
    assert make().fmt is None  # auto: asked of the backend when the run starts


def test_bad_template_in_a_recipe_is_one_line_exit_2(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nstages:\n  - method: magpie\n    template: vicuna\n",
                      encoding="utf-8")
    res = run_tane("run", str(recipe), "--out", str(tmp_path / "out"), "--no-progress",
                   timeout=120)
    assert res.returncode == 2
    assert "field 'stages.0.template'" in res.stderr and "llm-jp" in res.stderr
    assert not (tmp_path / "out").exists()


def C(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish)


def test_instruction_and_output_checks():
    m = make(template="chatml", mode="en")
    f = m.fmt
    assert m.check_instruction(f, C("How do I boil an egg?")) is None
    assert m.check_instruction(f, C("  \n "))[0] == "empty_instruction"
    bad = m.check_instruction(f, C("Hi there<|im_end|>\n<|im_start|>assistant\nHello"))
    assert bad[0] == "template_tokens" and "<|im_start|>" in bad[1]["markers"]
    # markers of other families count too: the format leaked either way
    assert m.check_instruction(f, C("Tell me [INST] a joke"))[0] == "template_tokens"
    assert m.check_instruction(f, C("Hi?"))== ("degenerate_instruction", {"why": "too_short"})
    assert m.check_instruction(f, C("?!?!…。。。"))[1] == {"why": "no_letters"}
    assert m.check_instruction(f, C("Tell me " + "la la " * 20))[1] == {"why": "repetition"}
    assert m.check_output(f, C("An answer.")) is None
    assert m.check_output(f, C(""))[0] == "empty_output"
    assert m.check_output(f, C("Sure.<|im_start|>user"))[0] == "output_template_tokens"
    assert m.check_output(f, C("ok " * 40))[0] == "degenerate_output"
    assert set(INSTRUCTION_DROPS) >= {"truncated_instruction", "empty_instruction",
                                      "template_tokens", "degenerate_instruction",
                                      "near_duplicate"}
    assert "truncated_output" in OUTPUT_DROPS


def test_degenerate_japanese():
    assert degenerate("東京でおすすめの観光地を教えてください。", 6) is None
    assert degenerate("教えて", 6) == "too_short"
    assert degenerate("はいはいはいはいはいはいはいはいはいはい", 6) == "repetition"


def test_novelty_drops_near_duplicates_with_scores():
    m = make(template="chatml", mode="ja")
    c1, c2, c3 = m.start(0, 0), m.start(0, 1), m.start(0, 2)
    assert m.novel(c1, "東京でおすすめの観光地を三つ教えてください。") is None
    bad = m.novel(c2, "東京でおすすめの観光地を三つ教えて下さい。")
    assert bad[0] == "near_duplicate" and bad[1]["max_rouge"] > 0.7
    assert bad[1]["similar"][0]["text"].startswith("東京で")
    assert m.novel(c3, "二次方程式の解の公式を導いてください。") is None
    assert c3.max_rouge < 0.7 and m.novelty["threshold"] == 0.7
    assert m.novelty["tokenizer"] in ("morph", "char")  # auto for ja: never whitespace


class RecordingJournal:
    """An in-memory journal that answers every key (so no model is called) and keeps
    the requests it was asked about."""

    def __init__(self):
        self.asked: list[tuple[str, dict]] = []

    def get_call(self, key):
        self.asked.append(key)
        return {"text": "x", "finish_reason": "stop"}

    def put_call(self, key, kind, request, response):  # pragma: no cover - never a miss
        raise AssertionError("no call should miss")


def test_raw_chat_has_its_own_journal_key_and_model():
    from tane.llm.base import CallStats
    from tane.llm.embedded import EmbeddedBackend
    from tane.llm.retry import RetryingBackend

    inner = RetryingBackend(EmbeddedBackend(), CallStats())
    j = RecordingJournal()
    llm = CachedBackend(inner, j)
    p = GenParams(seed=1)
    a = asyncio.run(llm.complete("<|im_start|>user\n", p))
    b = asyncio.run(llm.complete("<|im_start|>user\n", p, target=CHAT))
    assert a.cached and b.cached and j.asked[0] != j.asked[1]
    ctx = StageContext("magpie", llm, StageStats("magpie"), [], 0)
    res = asyncio.run(ctx.call(RAW_CHAT, "<|im_start|>user\n", p))
    assert res.cached and j.asked[2] == j.asked[1]
    assert ctx.model_provenance(RAW_CHAT)["model"].startswith("HuggingFaceTB/SmolLM2")
    assert ctx.model_provenance(COMPLETION)["model"].startswith("google/gemma-3")


# -- end to end on real models (slow) --------------------------------------------------------

def _recipe(tmp_path: Path, name: str, stage: str, extra: str = "", target: int = 2,
            seed: int = 11) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(f"name: {name}\nseed: {seed}\ntarget: {target}\nllm: {{backend: embedded}}\n"
                 f"stages:\n{stage}{extra}", encoding="utf-8")
    return p


KNOWN = set(INSTRUCTION_DROPS) | set(OUTPUT_DROPS)


def _check_drops(run: Path, turns: int) -> list[dict]:
    drops = read_jsonl(run / "rejected.jsonl")
    for d in drops:
        assert d["stage"] == "magpie" and d["reason"] in KNOWN, d
        assert 1 <= d["detail"]["turn"] <= turns and d["detail"]["turns"] == turns
    return drops


def _kinds(run: Path) -> dict[str, int]:
    con = sqlite3.connect(run / "run.sqlite")
    try:
        return dict(con.execute("SELECT kind, COUNT(*) FROM calls GROUP BY kind").fetchall())
    finally:
        con.close()


@pytest.mark.slow
def test_end_to_end_embedded_with_judge_and_resume(tmp_path):
    stage = ("  - method: magpie\n    mode: en\n    system_prompt: 'You are a helpful assistant."
             " Every answer is short: two or three sentences.'\n    batch_size: 2\n"
             "    max_rounds: 12\n    instruction_sampling: {max_tokens: 96}\n"
             "    response_sampling: {temperature: 0.7, max_tokens: 256}\n")
    judge = ("  - method: judge\n    mode: en\n    prompt_style: chat\n"
             "    sampling: {max_tokens: 160}\n")
    recipe = _recipe(tmp_path, "mp", stage, judge, target=1)
    run = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(run), "--no-progress", timeout=1800)
    assert res.returncode == 0, res.stderr
    st = read_stats(run)
    rows = read_jsonl(run / "dataset.jsonl")
    drops = _check_drops(run, 1)
    mp = st["stages"]["magpie"]
    assert mp["items_in"] == mp["kept"] + sum(mp["dropped"].values())
    assert len(drops) == sum(mp["dropped"].values())
    assert rows and len(rows) == st["kept"] == 1
    prov = rows[0]["provenance"]
    assert prov["method"] == "magpie" and prov["backend"] == "embedded"
    assert prov["model"].startswith("HuggingFaceTB/SmolLM2")
    assert prov["template_name"] == "smollm2-135m"
    assert prov["template_source"].startswith("gguf:") and prov["template"].startswith(
        "smollm2-135m@")
    assert prov["turns"] == 1 and prov["system_prompt"].startswith("You are a helpful")
    assert prov["messages"] == [{"role": "system", "content": prov["system_prompt"]},
                                {"role": "user", "content": rows[0]["instruction"]},
                                {"role": "assistant", "content": rows[0]["output"]}]
    assert prov["sampling"]["calls"][0]["instruction_finish_reason"] == "stop"
    assert "<|im_" not in rows[0]["instruction"] + rows[0]["output"]
    # tagged by the chained judge stage (scored or unparseable): its step, the last one
    assert prov["steps"][-1]["method"] == "judge" and prov["steps"][-1]["status"]
    kinds = _kinds(run)
    assert kinds.get("raw_chat", 0) == mp["llm_calls"] and "completion" not in kinds
    # a rerun replays every call from the journal and yields the same dataset
    before = journal_count(run)
    again = run_tane("run", str(recipe), "--out", str(run), "--no-progress", timeout=600)
    assert again.returncode == 0, again.stderr
    assert read_stats(run)["llm"]["calls"] == 0 and journal_count(run) == before
    assert read_jsonl(run / "dataset.jsonl") == rows


@pytest.mark.slow
def test_end_to_end_two_turns(tmp_path):
    stage = ("  - method: magpie\n    mode: en\n    system_prompt: ['Every answer is short: two "
             "sentences.', 'You help with cooking. Every answer is short: two sentences.']\n"
             "    turns: 2\n    batch_size: 2\n    max_rounds: 3\n"
             "    instruction_sampling: {max_tokens: 128}\n"
             "    response_sampling: {temperature: 0.3, max_tokens: 256}\n")
    recipe = _recipe(tmp_path, "mp2", stage, target=1, seed=1)
    run = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(run), "--no-progress", timeout=1800)
    assert res.returncode == 0, res.stderr
    drops = _check_drops(run, 2)
    rows = read_jsonl(run / "dataset.jsonl")
    st = read_stats(run)["stages"]["magpie"]
    assert st["items_in"] == len(rows) + len(drops)
    assert len(rows) == 1  # seeded, one slot: reproducible on the embedded model
    for row in rows:
        prov = row["provenance"]
        msgs = prov["messages"]
        assert prov["turns"] == 2 and len(msgs) == 5 and msgs[0]["role"] == "system"
        assert msgs[0]["content"] == prov["system_prompt"]
        assert [m["role"] for m in msgs[1:]] == ["user", "assistant", "user", "assistant"]
        assert (msgs[1]["content"], msgs[2]["content"]) == (row["instruction"], row["output"])
        assert len(prov["sampling"]["calls"]) == 2
    # a second-turn drop names the first instruction of its conversation
    assert all("first_instruction" in d["detail"] for d in drops if d["detail"]["turn"] == 2)


@pytest.mark.slow
def test_end_to_end_llama_server_template_from_props(llama_server, tmp_path):
    """OpenAI path against the real llama.cpp server (Gemma 3 270M base): `template: auto`
    reads /props (llama.cpp reports its ChatML fallback for a model without one)."""
    stage = ("  - method: magpie\n    mode: en\n    system_prompt: ''\n    batch_size: 2\n"
             "    max_rounds: 2\n    instruction_sampling: {max_tokens: 48}\n"
             "    response_sampling: {max_tokens: 64}\n")
    recipe = _recipe(tmp_path, "srv", stage)
    run = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(run), "--llm", llama_server, "--model",
                   "gemma-3-270m", "--no-progress", timeout=900)
    # two rounds of a base model may keep nothing: then the documented exit code 3
    assert res.returncode == (0 if read_stats(run)["kept"] >= 2 else 3), res.stderr
    _check_drops(run, 1)
    kinds = _kinds(run)
    assert kinds.get("raw_chat", 0) >= 2 and set(kinds) == {"raw_chat"}
    con = sqlite3.connect(run / "run.sqlite")
    req = json.loads(con.execute("SELECT request FROM calls LIMIT 1").fetchone()[0])
    con.close()
    assert req["model"] == "gemma-3-270m" and req["prompt"].startswith("<|im_start|>user\n")
    for row in read_jsonl(run / "dataset.jsonl"):
        prov = row["provenance"]
        assert prov["backend"] == "openai" and prov["model"] == "gemma-3-270m"
        assert prov["template_source"] == llama_server.removesuffix("/v1").join(
            ["server:", "/props"])


@pytest.mark.slow
def test_chat_only_endpoint_is_a_clear_error(llama_server, tmp_path):
    """Fault double: the proxy answers 404 to every request, as a server without raw
    /v1/completions (or without /props) does."""
    from faultproxy import FaultProxy

    stage = "  - method: magpie\n    mode: en\n    template: chatml\n    batch_size: 2\n"
    with FaultProxy(llama_server.removesuffix("/v1"), ["404"] * 50) as proxy:
        res = run_tane("run", str(_recipe(tmp_path, "c", stage)), "--out",
                       str(tmp_path / "run"), "--llm", proxy.url + "/v1", "--model", "m",
                       "--no-progress", timeout=300)
        assert res.returncode == 2
        assert "Magpie needs raw text completions" in res.stderr
        assert "chat-only" in res.stderr and "Traceback" not in res.stderr
        # template: auto against a server with no /props: says what to set instead
        auto = "  - method: magpie\n    mode: en\n"
        res = run_tane("run", str(_recipe(tmp_path, "a", auto)), "--out",
                       str(tmp_path / "run2"), "--llm", proxy.url + "/v1", "--model", "m",
                       "--no-progress", timeout=300)
    assert res.returncode == 2
    assert "field 'stages.0.template'" in res.stderr and "chat_template_path" in res.stderr
