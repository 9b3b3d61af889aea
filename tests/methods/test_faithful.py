"""Self-Instruct ``en`` and Alpaca ``en`` against the published upstream code.

The expected strings are written out here from upstream's own text
(yizhongw/self-instruct at 0b26cca: bootstrap_instructions.py, identify_clf_or_not.py,
templates/clf_task_template.py, templates/instance_gen_template.py, generate_instances.py,
prepare_for_finetuning.py; tatsu-lab/stanford_alpaca at 761dc5b: prompt.txt,
generate_instruction.py). Where a reply is needed, ``ScriptedBackend`` (a mock) gives a fixed
one so the requests and the parsing can be checked exactly; it runs no model.
"""

from __future__ import annotations

import asyncio

import pytest
from fakes import ScriptedBackend

from tane.llm.base import Completion
from tane.methods.alpaca import Alpaca, parse_tasks
from tane.methods.base import StageContext, StageStats
from tane.methods.self_instruct import (
    SelfInstruct,
    split_chat_reply,
    upstream_instances,
)
from tane.recipe import AlpacaStage, SelfInstructStage
from tane.seeds.formats import Seed
from tane.seeds.loader import load_seeds

SEEDS_EN = load_seeds("bundled:en")
SEEDS_JA = load_seeds("bundled:ja")

# upstream's first and last lines of each fixed template (the whole text is in the .j2)
CLF_HEAD = ("Can the following task be regarded as a classification task with finite output "
            "labels?\n\nTask: Given my personality and the job, tell me if I would be suitable."
            "\nIs it classification? Yes\n\n")
CLF_TAIL = ("Task: Given a set of numbers, find all possible subsets that sum to a given number."
            "\nIs it classification? No\n\nTask:")
GEN_HEAD = ("Come up with examples for the following tasks. Try to generate multiple examples "
            "when possible. If the task doesn't require additional input, you can generate the "
            "output directly.\n\n")
GEN_TAIL = "Thanks again,\n[Your Name]\n\nTask:"
OUT_HEAD = ("Given the classification task definition and the class labels, generate an input "
            "that corresponds to each of the class labels. If the task doesn't require input, "
            "just generate possible class labels.\n\nTask: Classify the sentiment of the sentence"
            " into positive, negative, or mixed.\nClass label: mixed\n")
ALPACA_HEAD = (
    "You are asked to come up with a set of 20 diverse task instructions. These task "
    "instructions will be given to a GPT model and we will evaluate the GPT model for "
    "completing the instructions.\n\nHere are the requirements:\n1. Try not to repeat the "
    "verb for each instruction to maximize diversity.\n2. The language used for the "
    "instruction also should be diverse. For example, you should combine questions with "
    "imperative instrucitons.\n")
ALPACA_LIST = "7. The output should be an appropriate response to the instruction and the " \
    "input. Make sure the output is less than 100 words.\n\nList of 20 tasks:\n###\n1. Instruction: "


def ctx_for(llm=None, seeds=None, name="self_instruct") -> StageContext:
    return StageContext(name=name, llm=llm, stats=StageStats(name),
                        seeds=SEEDS_EN if seeds is None else seeds, recipe_seed=1)


def make(llm=None, seeds=None, **cfg) -> SelfInstruct:
    cfg.setdefault("mode", "en")
    return SelfInstruct(SelfInstructStage(method="self_instruct", **cfg), ctx_for(llm, seeds))


# --------------------------------------------------------------------- configuration

def test_en_defaults_are_upstreams_and_ja_keeps_its_own():
    en = SelfInstructStage(method="self_instruct", mode="en")
    assert (en.classify, en.instance_prompt, en.instances_per_task) == ("upstream", "upstream", 5)
    assert en.request_batch_size == 5  # bootstrap_instructions.py --request_batch_size
    s = en.sampling
    assert (s.temperature, s.top_p, s.max_tokens, s.presence_penalty, s.frequency_penalty) == \
        (0.7, 0.5, 1024, 2.0, 0.0)
    i = en.instance_sampling
    assert (i.temperature, i.presence_penalty, i.frequency_penalty, i.max_tokens) == \
        (0.0, 1.5, 0.0, None)
    ja = SelfInstructStage(method="self_instruct", mode="ja")
    assert (ja.classify, ja.instance_prompt, ja.instances_per_task) == ("seeds", "seeds", 1)
    assert ja.instance_sampling.presence_penalty == 0.0 and ja.request_batch_size == 4
    # our improvements stay available by name; booleans still read
    mine = SelfInstructStage(method="self_instruct", mode="en", classify=True,
                             instance_prompt="seeds")
    assert mine.classify == "upstream" and mine.instances_per_task == 1
    assert SelfInstructStage(method="self_instruct", mode="en", classify=False).classify == "off"
    kept = SelfInstructStage(method="self_instruct", mode="en",
                             instance_sampling={"max_tokens": 500})
    assert kept.instance_sampling.presence_penalty == 1.5  # merged, not replaced
    chat = SelfInstructStage(method="self_instruct", mode="en", prompt_style="chat")
    assert (chat.classify, chat.instance_prompt) == ("seeds", "seeds")


@pytest.mark.parametrize("cfg, msg", [
    ({"mode": "ja", "classify": "upstream"}, "mode: en only"),
    ({"mode": "ja", "instance_prompt": "upstream"}, "mode: en only"),
    ({"mode": "en", "instances": "input_only", "instance_prompt": "upstream"}, "input_only"),
    ({"mode": "en", "instance_prompt": "seeds", "instances_per_task": 3}, "instances_per_task"),
])
def test_settings_that_cannot_work_are_refused(cfg, msg):
    with pytest.raises(ValueError, match=msg):
        SelfInstructStage(method="self_instruct", **cfg)


# ------------------------------------------------------------------- rendered prompts

def test_generation_prompt_is_encode_prompt():
    si = make()
    prompt, ids = si.build_prompt(0, 0)
    insts = [next(s for s in SEEDS_EN if s.id == i).instruction for i in ids]
    # encode_prompt(): header, each instruction with whitespace collapsed and ":" stripped
    expected = "Come up with a series of tasks:\n"
    for k, inst in enumerate(insts):
        expected += f"{k + 1}. {' '.join(inst.split()).rstrip(':')}\n"
    expected += f"{len(insts) + 1}."
    assert prompt == expected


def test_classification_prompt_is_template_1_plus_the_task():
    si = make()
    from tane.methods.self_instruct import Candidate
    c = Candidate("Tell me if the review is positive.", [], 0, [], 0.0, None)
    p = si._classify_prompt(c, "si-x")
    assert p.startswith(CLF_HEAD)
    assert p.endswith(CLF_TAIL + " Tell me if the review is positive.\nIs it classification?")
    assert p.count("\nIs it classification? ") == 31  # upstream's 31 examples


def test_instance_prompts_are_upstreams_templates_plus_the_task():
    si = make()
    from tane.methods.self_instruct import Candidate
    c = Candidate("Sort the numbers.", [], 0, [], 0.0, None)
    gen = si._instance_prompt(c, "si-x", False)
    assert gen.startswith(GEN_HEAD) and gen.endswith(GEN_TAIL + " Sort the numbers.\n")
    clf = si._instance_prompt(c, "si-x", True)
    assert clf.startswith(OUT_HEAD) and clf.endswith(
        "Class label: (e)\n\nTask: Sort the numbers.\n")


# ----------------------------------------------------------------- request parameters

def reply(kind, prompt, params):
    text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    if text.startswith("Come up with a series of tasks:"):
        return (" Tell me whether the sentence is positive or negative.\n"
                "10. Write a short poem about the sea and the wind.\n"
                "11. Give three reasons to learn a new language.")
    if text.endswith("Is it classification?"):
        return " Yes" if "positive or negative" in text else " No"
    if text.startswith(OUT_HEAD[:40]):
        return ("Class label: Positive\nSentence: I love it.\nClass label: Negative\nSentence: I hate it.\n"
                "Class label: Positive\nSentence: I love it.\n\n")
    return ("Example 1\nOutput: The sea is wide,\nthe wind is free.\nExample 2\n"
            "Output: Waves and gusts.\n\n")


def test_round_sends_upstreams_requests_and_keeps_several_instances():
    llm = ScriptedBackend(reply)
    si = make(llm, request_batch_size=1, novelty={"tokenizer": "rouge"})
    batch = asyncio.run(si.round(0, 100))
    gen, clf, inst = ([c for c in llm.calls if p(c.text)] for p in (
        lambda t: t.startswith("Come up"), lambda t: t.endswith("classification?"),
        lambda t: t.startswith((GEN_HEAD[:30], OUT_HEAD[:30]))))
    g = gen[0].params
    # bootstrap_instructions.py
    assert (g.temperature, g.top_p, g.max_tokens, g.presence_penalty, g.frequency_penalty) == \
        (0.7, 0.5, 1024, 2.0, 0.0)
    assert g.stop == ("\n\n", "\n16", "16.", "16 .")
    # identify_clf_or_not.py: max_tokens 3, temperature 0, stops "\n" and "Task"
    assert len(clf) == 3
    for c in clf:
        assert (c.params.max_tokens, c.params.temperature, c.params.stop) == (3, 0.0,
                                                                              ("\n", "Task"))
    # generate_instances.py: temperature 0, presence penalty 1.5, stops "Example 6" and
    # "Task:", 300 tokens as the batch holds a classification task
    assert len(inst) == 3
    for c in inst:
        q = c.params
        assert (q.temperature, q.presence_penalty, q.frequency_penalty, q.stop) == \
            (0.0, 1.5, 0.0, ("Example 6", "Task:"))
        assert q.max_tokens == 300
    by_inst: dict[str, list] = {}
    for rec in batch.records:
        by_inst.setdefault(rec.instruction, []).append(rec)
    clf_recs = by_inst["Tell me whether the sentence is positive or negative."]
    # output first: the label is the output; the repeated pair is dropped as a duplicate
    assert sorted((r.input, r.output) for r in clf_recs) == [
        ("Sentence: I hate it.", "Negative"), ("Sentence: I love it.", "Positive")]
    assert [d.reason for d in batch.drops].count("duplicate_instance") == 1
    poem = by_inst["Write a short poem about the sea and the wind."]
    assert [(r.input, r.output) for r in sorted(poem, key=lambda r: r.id)] == [
        ("", "The sea is wide,\nthe wind is free."), ("", "Waves and gusts.")] or \
        sorted((r.input, r.output) for r in poem) == [
            ("", "The sea is wide,\nthe wind is free."), ("", "Waves and gusts.")]
    assert len({r.id for r in batch.records}) == len(batch.records)
    # the pool gets each instruction once, however many instances it has
    assert len(si.machine) == 3


def test_instance_limit_is_350_for_a_batch_of_five_without_classification():
    si = make()
    params = si._instance_params([f"si-{k}" for k in range(7)],
                                 [False] * 5 + [True, False])
    assert [p.max_tokens for p in params] == [350] * 5 + [300, 300]
    assert SelfInstruct(SelfInstructStage(method="self_instruct", mode="en",
                                          instance_sampling={"max_tokens": 200}),
                        ctx_for())._instance_params(["a"], [False])[0].max_tokens == 200


# ------------------------------------------------------- parsing (prepare_for_finetuning)

def test_upstream_instances_generation_task():
    text = ("Example 1\nInput: 2 + 2\nOutput: 4\nExample 2\nInput: 3 + 3\nOutput: 6\n"
            "Example 3\nInput: 5 + 5\nOutput: 1")
    found, drops = upstream_instances(text, False, cut=False)
    assert found == [("2 + 2", "4"), ("3 + 3", "6"), ("5 + 5", "1")]
    found, drops = upstream_instances(text, False, cut=True)  # the cut one is lost
    assert found == [("2 + 2", "4"), ("3 + 3", "6")]
    assert drops == [("truncated_instance", "5 + 5", "1")]
    assert upstream_instances(" Output: Just this.", False, False)[0] == [("", "Just this.")]
    assert upstream_instances(" nothing to parse", False, False) == ([], [])


def test_upstream_instances_filters():
    same = "Example 1\nInput: a\nOutput: a\nExample 2\nInput: b\nOutput: ends with:"
    found, drops = upstream_instances(same, False, False)
    assert found == [] and [d[0] for d in drops] == ["instance_input_is_output",
                                                      "instance_ends_with_colon"]
    conflict = "Example 1\nInput: x\nOutput: 1\nExample 2\nInput: x\nOutput: 2"
    found, drops = upstream_instances(conflict, False, False)
    assert found == [] and {d[0] for d in drops} == {"conflicting_instances"}
    # upstream splits on "Class label:" and drops what comes before the first one
    clf = "Class label: Yes\nText: fine\nClass label: Yes\nClass label: No\nText: nope"
    assert upstream_instances("junk\n" + clf, True, False)[0] == [
        ("Text: fine", "Yes"), ("", "Yes"), ("Text: nope", "No")]


# ------------------------------------------------------------------------ chat replies

def test_chat_mode_gets_reply_stops_not_completion_stops():
    llm = ScriptedBackend(lambda k, p, q: "9. Translate the sentence into French please.")
    si = make(llm, prompt_style="chat", request_batch_size=1, classify="off")
    asyncio.run(si.round(0, 1))
    stops = llm.calls[0].params.stop
    assert "\n\n" not in stops and "16." not in stops and "\n16." in stops


@pytest.mark.parametrize("text, items, extra", [
    (("Here is a numbered list of new tasks:\n\n9. Summarize the article in two lines.\n"
     "10. Name three rivers in Asia and their lengths.\n\nI hope these help!"),
     ["Summarize the article in two lines.", "Name three rivers in Asia and their lengths."],
     ["Here is a numbered list of new tasks:", "I hope these help!"]),
    ("9. Here are seven more tasks:\n10. Explain how rainbows form in the sky.",
     ["Explain how rainbows form in the sky."], ["Here are seven more tasks:"]),
    ("以下は新しいタスクの一覧です。\n9. 次の文を英語に翻訳してください。\n10. 俳句を一つ作ってください。",
     ["次の文を英語に翻訳してください。", "俳句を一つ作ってください。"], ["以下は新しいタスクの一覧です。"]),
    ("Sure! Here are some tasks.", [], ["Sure! Here are some tasks."]),
    ("**9.** Write a haiku about autumn leaves falling.",
     ["Write a haiku about autumn leaves falling."], []),
])
def test_split_chat_reply(text, items, extra):
    assert split_chat_reply(text) == (items, extra)


def test_chat_preambles_are_dropped_with_a_reason():
    llm = ScriptedBackend(lambda k, p, q: (
        "Here is a numbered list of new tasks:\n\n9. Describe the main causes of volcanic "
        "eruptions on islands.\n10. Here are more:"))
    si = make(llm, prompt_style="chat", request_batch_size=1, classify="off",
              instances="input_only")
    batch = asyncio.run(si.round(0, 5))
    pre = [d for d in batch.drops if d.reason == "preamble"]
    assert [d.text for d in pre] == ["Here is a numbered list of new tasks:", "Here are more:"]
    assert [r.instruction for r in batch.records] == [
        "Describe the main causes of volcanic eruptions on islands."]


# ------------------------------------------------------------------------------ Alpaca

def alpaca(llm=None, **cfg) -> Alpaca:
    cfg.setdefault("mode", "en")
    return Alpaca(AlpacaStage(method="alpaca", **cfg), ctx_for(llm, name="alpaca"))


def test_alpaca_prompt_is_encode_prompt():
    seeds = [Seed(id="a", instruction="  Give   three tips\nfor staying healthy:  ", instances=[{
                  "input": "", "output": "1. Eat well.\n2. Sleep."}]),
             Seed(id="b", instruction="Classify the sentiment.", instances=[{"input": "I loved it ",
                  "output": "Positive"}])]
    llm = ScriptedBackend(lambda k, p, q: "")
    al = Alpaca(AlpacaStage(method="alpaca", mode="en", num_prompt_instructions=2),
                ctx_for(llm, seeds=seeds, name="alpaca"))
    asyncio.run(al.round(0, 5))
    prompts = {c.prompt for c in llm.calls}
    assert len(llm.calls) == 5  # request_batch_size 5, as upstream
    for prompt in prompts:
        assert prompt.startswith(ALPACA_HEAD)
        assert ALPACA_LIST in prompt
        # seeds in sampled order: instruction normalised, input "<noinput>" when empty,
        # input and output verbatim; then "###\n3. Instruction:"
        a = ("###\n{k}. Instruction: Give three tips for staying healthy\n{k}. Input:\n"
             "<noinput>\n{k}. Output:\n1. Eat well.\n2. Sleep.\n")
        b = "###\n{k}. Instruction: Classify the sentiment.\n{k}. Input:\nI loved it \n" \
            "{k}. Output:\nPositive\n"
        assert prompt.endswith((a.format(k=1) + b.format(k=2) + "###\n3. Instruction:", b.format(k=1) + a.format(k=2) + "###\n3. Instruction:"))
    p = llm.calls[0].params
    assert (p.temperature, p.top_p, p.max_tokens) == (1.0, 1.0, 3072)
    assert p.stop == ("\n20", "20.")


def test_alpaca_parse_en_is_upstreams():
    text = (" Give a synonym for  happy.\n4. Input:\n<noinput>\n4. Output:\nglad\n###\n"
            "5. Instruction:Missing space.\n5. Input:\nx\n5. Output:\ny")
    items = parse_tasks(text, 4, "en")
    # the instruction is only stripped; "N.Field:" without a space after the dot parses
    # neither in upstream's regex (\.\s+) — here "5. Instruction:" has its space
    assert items[0] == (4, "Give a synonym for  happy.", "", "glad")
    assert items[1] == (5, "Missing space.", "x", "y")
    assert parse_tasks(" A.\n4.Input:\nx\n4.Output:\ny", 4, "en") == [None]


def test_alpaca_cut_reply_loses_its_last_chunk_and_empty_output_is_an_option():
    text = (" Give a synonym for the word happy.\n4. Input:\n<noinput>\n4. Output:\n\n###\n"
            "5. Instruction: Name the largest ocean on Earth.\n5. Input:\n<noinput>\n"
            "5. Output:\nThe Pacific")
    cut = Completion(text=text, finish_reason="length")
    llm = ScriptedBackend(lambda k, p, q: cut)
    batch = asyncio.run(alpaca(llm, request_batch_size=1).round(0, 10))
    assert sorted(d.reason for d in batch.drops) == ["empty_output", "truncated"]
    llm = ScriptedBackend(lambda k, p, q: cut)
    batch = asyncio.run(alpaca(llm, request_batch_size=1, drop_empty_output=False).round(0, 10))
    assert [r.instruction for r in batch.records] == ["Give a synonym for the word happy."]
