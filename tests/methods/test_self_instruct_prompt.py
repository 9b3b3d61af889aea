"""Self-Instruct without a model: prompt building, completion parsing, instance parsing,
the bundled templates and their overrides, and Alpaca's task parser."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import pytest

from tane.errors import TaneError
from tane.methods.alpaca import parse_tasks
from tane.methods.base import StageContext, StageStats
from tane.methods.self_instruct import SelfInstruct, normalise_en, parse_instructions
from tane.prompts import load_template
from tane.recipe import SelfInstructStage
from tane.seeds.loader import load_seeds

SEEDS_JA = load_seeds("bundled:ja")
SEEDS_EN = load_seeds("bundled:en")
BY_ID = {s.id: s for s in SEEDS_JA}
LINE = re.compile(r"^(\d+)\. (.*)$")


def make(recipe_seed: int = 1, base_dir: Path | None = None, seeds=None,
         **cfg) -> SelfInstruct:
    seeds = SEEDS_JA if seeds is None else seeds
    ctx = StageContext(name="self_instruct", llm=None, stats=StageStats("self_instruct"),
                       seeds=seeds, recipe_seed=recipe_seed, base_dir=base_dir)
    cfg.setdefault("mode", "ja")
    return SelfInstruct(SelfInstructStage(method="self_instruct", **cfg), ctx)


def machine_pool(n: int) -> list[tuple[str, str]]:
    return [(f"機械が作った{k}番目の指示に答えてください。", f"si-m{k}") for k in range(n)]


def numbered(prompt: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for ln in prompt.split("\n")
            if (m := LINE.match(ln))]


# ------------------------------------------------------------------------- build_prompt

def test_prompt_with_empty_machine_pool_lists_eight_seeds_and_ends_with_9():
    si = make()
    assert si.machine == []
    prompt, ids = si.build_prompt(0, 0)
    assert prompt.endswith("\n9.")
    assert not prompt.endswith("\n")
    items = numbered(prompt)
    assert [n for n, _ in items] == list(range(1, 9))
    assert len(ids) == 8 and len(set(ids)) == 8
    assert all(i in BY_ID for i in ids)
    # each numbered line is the seed its id names, in the same order
    for (_, text), sid in zip(items, ids):
        assert text == re.sub(r"\s+", " ", BY_ID[sid].instruction).strip()
    assert prompt.split("\n")[0] == "以下は、さまざまな種類のタスクを番号付きで並べた一覧です。"


def test_prompt_with_machine_pool_has_two_machine_and_six_human():
    si = make()
    pool = machine_pool(5)
    si.machine = list(pool)
    prompt, ids = si.build_prompt(3, 1)
    machine = [i for i in ids if i.startswith("machine:")]
    human = [i for i in ids if not i.startswith("machine:")]
    assert len(machine) == 2 and len(human) == 6
    assert {m.split(":", 1)[1] for m in machine} <= {rid for _, rid in pool}
    assert all(h in BY_ID for h in human)
    texts = dict(pool)
    by_rid = {rid: inst for inst, rid in pool}
    items = numbered(prompt)
    assert len(items) == 8 and prompt.endswith("\n9.")
    for (_, text), pid in zip(items, ids):
        if pid.startswith("machine:"):
            assert text == by_rid[pid.split(":", 1)[1]]
        else:
            assert text not in texts
            assert text == re.sub(r"\s+", " ", BY_ID[pid].instruction).strip()


def test_machine_examples_are_shuffled_among_the_seeds():
    si = make()
    si.machine = machine_pool(5)
    positions = set()
    for i in range(30):
        _, ids = si.build_prompt(1, i)
        positions.update(k for k, pid in enumerate(ids) if pid.startswith("machine:"))
    # not always appended at the end or put at the front
    assert len(positions) >= 5


def test_small_machine_pool_and_config_limits():
    si = make()
    si.machine = machine_pool(1)
    _, ids = si.build_prompt(1, 0)
    assert sum(i.startswith("machine:") for i in ids) == 1 and len(ids) == 8

    none = make(num_machine_instructions=0)
    none.machine = machine_pool(5)
    _, ids = none.build_prompt(1, 0)
    assert not any(i.startswith("machine:") for i in ids) and len(ids) == 8

    small = make(num_prompt_instructions=4, num_machine_instructions=3)
    small.machine = machine_pool(5)
    prompt, ids = small.build_prompt(1, 0)
    assert sum(i.startswith("machine:") for i in ids) == 3 and len(ids) == 4
    assert prompt.endswith("\n5.")


def test_fewer_seeds_than_asked_uses_all_seeds():
    si = make(seeds=SEEDS_JA[:3])
    prompt, ids = si.build_prompt(0, 0)
    assert sorted(ids) == sorted(s.id for s in SEEDS_JA[:3])
    assert prompt.endswith("\n4.")


def test_build_prompt_is_deterministic_per_seed_round_and_index():
    a, b = make(recipe_seed=1), make(recipe_seed=1)
    for si in (a, b):
        si.machine = machine_pool(5)
    assert a.build_prompt(2, 3) == b.build_prompt(2, 3)
    assert a.build_prompt(2, 3) == a.build_prompt(2, 3)  # no hidden RNG state
    _p, ids = a.build_prompt(2, 3)
    assert a.build_prompt(2, 4)[1] != ids
    assert a.build_prompt(3, 3)[1] != ids
    other = make(recipe_seed=2)
    other.machine = machine_pool(5)
    assert other.build_prompt(2, 3)[1] != ids


def test_build_prompt_without_pool_differs_across_requests():
    si = make()
    prompts = {si.build_prompt(0, i)[0] for i in range(4)}
    assert len(prompts) == 4


def test_en_prompt_and_chat_prompt():
    en = make(mode="en", seeds=SEEDS_EN)
    prompt, _ids = en.build_prompt(0, 0)
    assert prompt.startswith("Come up with a series of tasks:\n1. ")
    assert prompt.endswith("\n9.")
    chat = make(prompt_style="chat")
    prompt, _ = chat.build_prompt(0, 0)
    assert "9番から15番まで" in prompt
    assert [n for n, _ in numbered(prompt)] == list(range(1, 9))


# ------------------------------------------------------------------- parse_instructions

def test_parse_realistic_continuation():
    text = (" 次の文を英語に訳してください。\n10. 日本の首都はどこですか。\n"
            "11. 俳句を一つ作ってください。")
    assert parse_instructions(text) == ["次の文を英語に訳してください。", "日本の首都はどこですか。",
                                        "俳句を一つ作ってください。"]


def test_parse_collapses_whitespace_inside_an_item():
    text = " 次の文章を\n  要約してください。\n10.   次の  語を説明してください。 "
    assert parse_instructions(text) == ["次の文章を 要約してください。", "次の 語を説明してください。"]


@pytest.mark.parametrize("text", ["10.\n11.", "\n10.\n11.", " \n10. \n11. ", "", "  "])
def test_parse_items_that_are_only_numbers_yield_nothing(text):
    assert parse_instructions(text) == []


def test_parse_empty_first_item_then_items():
    assert parse_instructions("\n10. 一つ目の指示です。\n11.\n12. 三つ目の指示です。") == \
        ["一つ目の指示です。", "三つ目の指示です。"]


def test_parse_fullwidth_period():
    assert parse_instructions(" 一つ目の指示。\n10．二つ目の指示。\n11． 三つ目の指示。") == \
        ["一つ目の指示。", "二つ目の指示。", "三つ目の指示。"]


def test_parse_english_with_space_before_period():
    assert parse_instructions(" Sort the list of numbers.\n10 . Task two is here\n11. Third") \
        == ["Sort the list of numbers.", "Task two is here", "Third"]


def test_parse_keeps_numbers_inside_items():
    text = " 次の和を求めてください。\n10. 2.5と3.5の和を求めてください。\n11. 1. の意味は？"
    assert parse_instructions(text) == ["次の和を求めてください。", "2.5と3.5の和を求めてください。",
                                        "1. の意味は？"]


def test_parse_first_item_starting_with_a_decimal():
    assert parse_instructions(" 2.5と3.5の和を求めてください。\n10. 次です。") == \
        ["2.5と3.5の和を求めてください。", "次です。"]


def test_normalise_en_only_upper_cases_the_first_letter():
    assert normalise_en("write a Python function for JSON parsing.") == \
        "Write a Python function for JSON parsing."
    assert normalise_en("Explain NASA's role.") == "Explain NASA's role."
    assert normalise_en("") == ""
    assert normalise_en("3 ideas for SQL") == "3 ideas for SQL"


# --------------------------------------------------------------- classify and instances

@pytest.mark.parametrize("text, expected", [
    ("はい", True), (" はい。\n", True), (" いいえ", False), ("いいえ\nはい", False),
    ("Yes", True), (" yes\n", True), ("No", False), ("NO.", False),
    ("garbage", None), ("", None), ("分かりません", None), ("\nはい", True),
])
def test_is_yes_ja(text, expected):
    assert make()._is_yes(text) is expected


def test_is_yes_en_does_not_know_japanese():
    en = make(mode="en", seeds=SEEDS_EN, classify="seeds")
    assert en._is_yes("Yes") is True and en._is_yes("no") is False
    assert en._is_yes("はい") is None
    # upstream's rule: the stripped reply is Yes/yes/YES, anything else is "no"
    up = make(mode="en", seeds=SEEDS_EN)
    assert up._is_yes(" Yes") is True and up._is_yes("No") is False
    assert up._is_yes("Yes.") is False and up._is_yes("はい") is False


def test_parse_instance_input_first_with_noinput():
    si = make(instances="full")
    assert si._parse_instance(" <noinput>\n出力: 東京です。", False) == ("", "東京です。")
    assert si._parse_instance(" 明日は雨かな\n出力: 明日は雨でしょうか。", False) == \
        ("明日は雨かな", "明日は雨でしょうか。")


def test_parse_instance_multiline_input():
    si = make(instances="full")
    text = "\n1行目\n2行目\n出力:\n答え\n続き"
    assert si._parse_instance(text, False) == ("1行目\n2行目", "答え\n続き")


def test_parse_instance_output_first_for_classification():
    si = make(instances="full")
    assert si._parse_instance(" 肯定\n入力: とても良い商品でした。", True) == \
        ("とても良い商品でした。", "肯定")
    assert si._parse_instance(" 否定\n入力: <noinput>", True) == ("", "否定")


def test_parse_instance_en():
    en = make(mode="en", seeds=SEEDS_EN, instances="full")
    assert en._parse_instance(" <noinput>\nOutput: Paris.", False) == ("", "Paris.")
    assert en._parse_instance(" Positive\nInput: Loved it.", True) == ("Loved it.", "Positive")


def test_parse_instance_input_only_mode():
    si = make(instances="input_only")
    assert si._parse_instance(" 東京の天気について", False) == ("東京の天気について", None)
    assert si._parse_instance(" <noinput>", False) == ("", None)
    # an output the model wrote anyway is discarded: the answer stage writes it
    assert si._parse_instance(" 入力文\n出力: 余計な出力", False) == ("入力文", None)
    # nor does a classification task: its label only steered the input
    assert si._parse_instance(" 肯定\n入力: 良い", True) == ("良い", None)
    assert si._label(" 肯定\n入力: 良い") == "肯定"


@pytest.mark.parametrize("text, clf", [
    ("ただの文章で区切りがない", False),
    (" 入力だけ\n", False),
    (" 入力\n出力:   ", False),      # empty output
    ("ラベルだけ", True),
    ("\n入力: 良い", True),          # empty label
])
def test_parse_instance_unparseable_is_none(text, clf):
    assert make(instances="full")._parse_instance(text, clf) is None


def test_parse_instance_label_with_empty_input():
    assert make(instances="full")._parse_instance(" 肯定\n入力:", True) == ("", "肯定")


def test_parse_instance_input_only_classification_without_sep_is_none():
    assert make(instances="input_only")._parse_instance("肯定だけ", True) is None


def test_parse_instance_ja_accepts_fullwidth_colon():
    assert make(instances="full")._parse_instance(" 東京\n出力：首都です。", False) == \
        ("東京", "首都です。")


# ----------------------------------------------------------------------------- templates

def bundled_source(method: str, name: str) -> str:
    ref = resources.files("tane.prompts") / method / f"{name}.j2"
    return ref.read_text(encoding="utf-8")


SEED_CLF = next(s for s in SEEDS_JA if s.is_classification)
SEED_GEN = next(s for s in SEEDS_JA if not s.is_classification and s.input)
EXAMPLES = [SEED_CLF, SEED_GEN]

TEMPLATES = [
    ("self_instruct", f"{lang}_{kind}", ctx, must)
    for lang in ("ja", "en")
    for kind, ctx, must in [
        ("generate", {"instructions": ["AAA", "BBB"]}, ["1. AAA", "2. BBB", "3."]),
        ("generate_chat", {"instructions": ["AAA", "BBB"], "last": 15}, ["1. AAA", "2. BBB", "15"]),
        ("classify", {"examples": EXAMPLES, "instruction": "QQQ"}, ["QQQ"]),
        ("instance_input_first", {"examples": EXAMPLES, "instruction": "QQQ"}, ["QQQ"]),
        ("instance_output_first", {"examples": EXAMPLES, "instruction": "QQQ"}, ["QQQ"]),
    ]
] + [
    ("answer", f"{lang}_{style}", {"examples": EXAMPLES, "instruction": "QQQ", "input": "III"},
     ["QQQ", "III"])
    for lang in ("ja", "en") for style in ("completion", "chat")
] + [
    ("alpaca", lang, {"examples": EXAMPLES, "n": 20}, ["20", "3."]) for lang in ("ja", "en")
]


@pytest.mark.parametrize("method, name, ctx, must", TEMPLATES,
                         ids=[f"{m}/{n}" for m, n, _, _ in TEMPLATES])
def test_bundled_template_renders_with_stable_id(method, name, ctx, must):
    tpl = load_template(method, name)
    digest = hashlib.sha256(bundled_source(method, name).encode("utf-8")).hexdigest()[:8]
    assert tpl.id == f"{method}/{name}.j2@{digest}"
    assert load_template(method, name).id == tpl.id
    text = tpl.render(**ctx)
    assert text and not text.endswith("\n")
    for m in must:
        assert m in text, (m, text)
    if "examples" in ctx and not name.endswith("_chat"):
        # demonstrations come from the examples passed in
        assert SEED_CLF.instruction in text and SEED_GEN.instruction in text


def test_classify_template_labels_examples():
    text = load_template("self_instruct", "ja_classify").render(examples=EXAMPLES,
                                                                instruction="QQQ")
    assert f"タスク: {SEED_CLF.instruction}\n分類タスク: はい" in text
    assert f"タスク: {SEED_GEN.instruction}\n分類タスク: いいえ" in text
    assert text.endswith("タスク: QQQ\n分類タスク:")


def test_instance_templates_end_where_the_parser_starts():
    ins = load_template("self_instruct", "ja_instance_input_first").render(
        examples=EXAMPLES, instruction="QQQ")
    out = load_template("self_instruct", "ja_instance_output_first").render(
        examples=EXAMPLES, instruction="QQQ")
    assert ins.endswith("タスク: QQQ\n入力:")
    assert out.endswith("タスク: QQQ\nラベル:")
    no_input = next(s for s in SEEDS_JA if not s.input)
    ins = load_template("self_instruct", "ja_instance_input_first").render(
        examples=[no_input], instruction="QQQ")
    assert f"タスク: {no_input.instruction}\n入力: <noinput>\n出力: {no_input.output}" in ins


def test_answer_chat_without_input():
    text = load_template("answer", "ja_chat").render(examples=[], instruction="QQQ", input="")
    assert text.startswith("QQQ\n\n日本語で")


def test_template_missing_variable_is_an_error():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        load_template("self_instruct", "ja_generate").render()


def test_unknown_bundled_template():
    with pytest.raises(TaneError, match="no bundled template self_instruct/xx_generate.j2"):
        load_template("self_instruct", "xx_generate")


def test_override_relative_to_base_dir(tmp_path):
    (tmp_path / "prompts").mkdir()
    src = "MY LIST\n{% for i in instructions %}{{ loop.index }}) {{ i }}\n{% endfor %}NEXT"
    (tmp_path / "prompts" / "mine.j2").write_text(src, encoding="utf-8")
    tpl = load_template("self_instruct", "ja_generate", {"ja_generate": "prompts/mine.j2"},
                        tmp_path)
    digest = hashlib.sha256(src.encode()).hexdigest()[:8]
    assert tpl.id == f"prompts/mine.j2@{digest}"  # as the recipe names it
    assert tpl.render(instructions=["A", "B"]) == "MY LIST\n1) A\n2) B\nNEXT"
    # other names are untouched by this override
    assert load_template("self_instruct", "ja_classify", {"ja_generate": "prompts/mine.j2"},
                         tmp_path).id.startswith("self_instruct/ja_classify.j2@")


def test_override_used_by_self_instruct(tmp_path):
    (tmp_path / "g.j2").write_text("CUSTOM {{ instructions|length }}", encoding="utf-8")
    si = make(base_dir=tmp_path, templates={"ja_generate": "g.j2"})
    prompt, ids = si.build_prompt(0, 0)
    assert prompt == "CUSTOM 8" and len(ids) == 8
    assert si.tpl_generate.id.startswith("g.j2@")  # as the recipe names it


def test_absolute_override_ignores_base_dir(tmp_path):
    p = tmp_path / "abs.j2"
    p.write_text("ABS", encoding="utf-8")
    tpl = load_template("alpaca", "ja", {"ja": str(p)}, tmp_path / "elsewhere")
    assert tpl.render() == "ABS"


def test_missing_override_names_the_template_field(tmp_path):
    with pytest.raises(TaneError) as info:
        load_template("self_instruct", "ja_generate", {"ja_generate": "nope.j2"}, tmp_path)
    e = info.value
    assert e.field == "templates.ja_generate"
    assert e.path == str(tmp_path / "nope.j2")
    assert "templates.ja_generate" in e.one_line() and "not found" in e.one_line()
    with pytest.raises(TaneError, match="templates.ja_instance_input_first"):
        make(base_dir=tmp_path, templates={"ja_instance_input_first": "gone.j2"})


def test_override_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "bad.j2").write_text("line one\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(TaneError) as info:
        load_template("self_instruct", "ja_generate", {"ja_generate": "bad.j2"}, tmp_path)
    assert info.value.line == 2
    assert info.value.one_line().startswith(f"{tmp_path / 'bad.j2'}:2: template syntax error")


def test_documented_short_template_key_is_not_silently_ignored(tmp_path):
    (tmp_path / "g.j2").write_text("CUSTOM {{ instructions|length }}", encoding="utf-8")
    try:
        si = make(base_dir=tmp_path, templates={"generate": "g.j2"})
    except TaneError:
        return  # rejecting the unknown name would also be fine
    assert si.build_prompt(0, 0)[0] == "CUSTOM 8"


# ------------------------------------------------------------------ alpaca.parse_tasks

ALPACA_COMPLETION = """ 次の文を丁寧語に直してください。
4. 入力:
明日行くよ。
4. 出力:
明日伺います。
###
5. 指示: 日本で一番高い山は何ですか。
5. 入力:
<noinput>
5. 出力:
富士山です。
###
6. 指示: 壊れた項目です。
6. 出力: 入力が抜けています。
###
7. 指示：次の数の合計を求めてください。
7. 入力：
1, 2, 3
7. 出力：
6"""


def test_alpaca_parse_tasks_ja():
    items = parse_tasks(ALPACA_COMPLETION, 4, "ja")
    assert items == [
        (4, "次の文を丁寧語に直してください。", "明日行くよ。", "明日伺います。"),
        (5, "日本で一番高い山は何ですか。", "", "富士山です。"),
        None,
        (7, "次の数の合計を求めてください。", "1, 2, 3", "6"),
    ]


def test_alpaca_parse_tasks_en_and_numbering():
    text = (" Give a synonym for happy.\n2. Input:\n<noinput>\n2. Output:\nglad\n###\n"
            "3. Instruction: Translate to French.\n3. Input:\nThank you\n3. Output:\nMerci\n"
            "###\n9. Instruction: Wrong number.\n9. Input:\nx\n9. Output:\ny")
    items = parse_tasks(text, 2, "en")
    assert items[0] == (2, "Give a synonym for happy.", "", "glad")
    assert items[1] == (3, "Translate to French.", "Thank you", "Merci")
    assert items[2] is None  # numbered 9 where 4 was expected


def test_alpaca_parse_tasks_trailing_separator_and_garbage():
    text = " 指示文です。\n2. 入力:\n<noinput>\n2. 出力:\n答え\n###\n"
    assert parse_tasks(text, 2, "ja") == [(2, "指示文です。", "", "答え")]
    assert parse_tasks("全く形式に合わない文章", 2, "ja") == [None]
