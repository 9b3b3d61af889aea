"""Curate steps read ``input`` too: repetition runs, input length, copies between fields,
and ``fields: [instruction, input, output]`` accepted in a recipe's curate stage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tane.curate.steps import Fields, make_step
from tane.curate.steps.repetition import longest_run
from tane.errors import TaneError
from tane.recipe import load_recipe

INST = "次の数列の合計を求めてください。"


def check(name, f, **params):
    return make_step(name, "ja", **params).check(f)


def test_repetition_reads_the_input_and_names_the_field():
    res = check("repetition", Fields(INST, "0" * 299, "合計は0です。"))
    assert res is not None and res[0].startswith("repetition:")
    assert res[1]["field"] == "input"


def test_repetition_run_catches_short_loops_the_ngram_rule_cannot_see():
    # 17 characters: below the n-gram rule's 50-token minimum
    f = Fields(INST, "", "1. 1. 1. 1. 1. 1.")
    assert check("repetition", f, fields=["output"], min_run_repeats=7) is None
    res = check("repetition", f, fields=["output"])
    assert res[0] == "repetition:run"
    assert res[1]["unit"] == "1." and res[1]["times"] == 6 and res[1]["field"] == "output"


@pytest.mark.parametrize("text", ["1000000円です。", "|---|---|---|---|---|---|---|",
                                  "日本の首都は東京です。東京は大きな都市です。",
                                  "1. りんご\n1. みかん\n1. ぶどう"])
def test_repetition_run_keeps_ordinary_text(text):
    assert check("repetition", Fields(INST, "", text), fields=["output"]) is None


def test_longest_run_measures_unit_times_and_span():
    assert longest_run("0" * 20, 6) == ("0", 20, 20)
    assert longest_run("はいはいはいはいはいはい", 6) == ("はい", 6, 12)
    assert longest_run("------------", 6) is None  # punctuation alone is not a unit


def test_empty_input_is_never_judged():
    for name in ("repetition", "meta_text", "language", "script_ratio"):
        assert check(name, Fields(INST, "", None), fields=["input"]) is None, name


def test_length_input_max():
    res = check("length", Fields(INST, "あ" * 401, "はい。"), input_max=400)
    assert res == ("length:input_too_long", {"chars": 401, "max": 400})
    assert check("length", Fields(INST, "あ" * 400, "はい。"), input_max=400) is None
    assert check("length", Fields(INST, "", "はい。"), input_max=1) is None


def test_copies_between_fields():
    same = "東京の人口を教えてください。"
    assert check("copies", Fields(same, same, same))[0] == "copies:input_is_instruction"
    assert check("copies", Fields(INST, "長い文章です。", "長い文章です。")) == \
        ("copies:output_is_input", {"equal": True})
    res = check("copies", Fields(same, "", "東京の人口を教えてください"))
    assert res[0] == "copies:output_is_instruction"
    assert check("copies", Fields(same, "", "約1400万人です。")) is None
    assert check("copies", Fields(same, "", None)) is None  # not answered yet


def test_meta_text_in_the_input():
    res = check("meta_text", Fields(INST, "### Input:\n1, 2, 3", "6"))
    assert res[0] == "meta_text:pattern" and res[1]["field"] == "input"


def test_recipe_curate_stage_takes_input_fields(tmp_path: Path):
    p = tmp_path / "r.yaml"
    p.write_text("""
seeds: {path: bundled:ja}
stages:
  - {method: self_instruct, mode: ja, classify: false, instances: input_only}
  - method: curate
    steps:
      - {name: repetition, fields: [instruction, input, output]}
      - {name: script_ratio, fields: [input]}
      - {name: copies}
""", encoding="utf-8")
    rec = load_recipe(p)
    assert rec.stages[1].steps[0].model_extra["fields"] == ["instruction", "input", "output"]
    p.write_text(p.read_text(encoding="utf-8").replace("fields: [input]", "fields: [inptu]"),
                 encoding="utf-8")
    from tane.methods.base import StageContext, StageStats
    from tane.methods.curate import CurateStage

    bad = load_recipe(p)  # step parameters are checked when the stage is built
    with pytest.raises((TaneError, ValueError)):
        CurateStage(bad.stages[1], StageContext("curate", None, StageStats("curate"), [], 0))


def test_a_curate_drop_keeps_the_judged_fields():
    from tane.config.curate import CurateStage as Cfg
    from tane.methods.base import StageContext, StageStats
    from tane.methods.curate import CurateStage
    from tane.schema import Provenance, Record

    cfg = Cfg(method="curate", steps=[{"name": "copies"}])
    stage = CurateStage(cfg, StageContext("curate", None, StageStats("curate"), [], 0))
    same = "東京の人口を教えてください。"
    rec = Record(id="r1", instruction=same, input=same, output=same,
                 provenance=Provenance(method="test"))
    batch = asyncio.run(stage.process([rec]))
    (drop,) = batch.drops
    assert drop.reason == "copies:input_is_instruction"
    assert drop.detail["record"] == {"input": same, "output": same}


def test_repeated_lines_counted_without_their_list_numbers():
    looped = "1. ケーキ：400円\n2. ケーキ：400円\n3. ケーキ：400円\n4. ケーキ：400円"
    res = check("repetition", Fields(INST, "", looped))
    assert res[0] == "repetition:lines" and res[1]["dup_lines"] == 3
    assert check("repetition", Fields(INST, "", "1. りんご\n2. みかん\n3. ぶどう\n4. もも")) is None
