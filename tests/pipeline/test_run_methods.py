"""The other bundled recipes end to end on the real model (llama.cpp server on 127.0.0.1):
English Self-Instruct with classification and full instances, and Alpaca's variant.
A 270M model writes little that survives the filters, so these check the plumbing and the
accounting: every item is kept or dropped with a reason, provenance says what made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import answer_few_ja, read_jsonl, read_stats, run_tane

pytestmark = pytest.mark.slow
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _accounted(st: dict, out: Path) -> None:
    for s in st["stages"].values():
        assert s["items_in"] == s["kept"] + sum(s["dropped"].values())
    drops = read_jsonl(out / "rejected.jsonl")
    assert len(drops) == sum(sum(s["dropped"].values()) for s in st["stages"].values())


def test_self_instruct_en_paper_settings(llama_server, tmp_path):
    # the shipped recipe with one prompt a round of 256 tokens, not five of 1,024: the
    # paper's other settings (sampling, classification, full instances) are kept
    recipe = tmp_path / "si_en.yaml"
    recipe.write_text((RECIPES / "self_instruct_en.yaml").read_text(encoding="utf-8").replace(
        "    request_batch_size: 5 ", "    sampling: {max_tokens: 256}\n    request_batch_size: 1 "),
        encoding="utf-8")
    out = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(out), "--llm", llama_server,
                   "--model", "gemma-3-270m", "--no-progress", "--target", "2")
    assert res.returncode == 0, res.stderr
    st = read_stats(out)
    _accounted(st, out)
    assert st["kept"] == 2
    for row in read_jsonl(out / "dataset.jsonl"):
        prov = row["provenance"]
        assert prov["mode"] == "en" and prov["sampling"]["presence_penalty"] == 2.0
        assert prov["sampling"]["top_p"] == 0.5 and prov["novelty"]["tokenizer"] == "rouge"
        assert prov["instance_order"] in ("input_first", "output_first")
        assert (prov["instance_order"] == "output_first") == bool(prov["is_classification"])
        assert row["instruction"][0].isascii() and row["output"]
        assert len(prov["seed_ids"]) + len(prov["machine_examples"]) == 8


def test_alpaca_ja_one_round(llama_server, tmp_path):
    recipe = tmp_path / "alpaca.yaml"
    recipe.write_text((RECIPES / "alpaca_ja.yaml").read_text(encoding="utf-8").replace(
        "    request_batch_size: 4\n",
        "    request_batch_size: 2\n    max_rounds: 1\n    sampling: {max_tokens: 600}\n"),
        encoding="utf-8")
    res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"), "--llm", llama_server,
                   "--model", "gemma-3-270m", "--no-progress", "--target", "5")
    st = read_stats(tmp_path / "run")
    # one round of a 270M model may keep fewer than 5: then the documented exit code 3
    assert res.returncode == (0 if st["kept"] >= 5 else 3), res.stderr
    _accounted(st, tmp_path / "run")
    assert st["stages"]["alpaca"]["llm_calls"] == 2
    assert st["stages"]["alpaca"]["items_in"] > 0
    for row in read_jsonl(tmp_path / "run" / "dataset.jsonl"):
        assert row["provenance"]["method"] == "alpaca" and len(row["provenance"]["seed_ids"]) == 3


def test_curate_stage_in_a_recipe(llama_server, tmp_path):
    # six short questions answered, then curated: the curate stage is what is checked
    recipe = answer_few_ja(tmp_path, max_tokens=48)
    recipe.write_text(recipe.read_text(encoding="utf-8") + """  - method: curate
    lang: ja
    steps:
      - {name: length}
      - {name: refusal}
      - {name: restates_question}
      - {name: exact_dup, fields: both}
""", encoding="utf-8")
    res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"), "--llm", llama_server,
                   "--model", "gemma-3-270m", "--no-progress", "--target", "1")
    assert res.returncode == 0, res.stderr
    st = read_stats(tmp_path / "run")
    _accounted(st, tmp_path / "run")
    assert st["kept"] == 1 and st["stages"]["curate"]["kept"] == 1
    # over_target: records past the target, cut in order where the chain ends
    known = {"length", "refusal", "restates_question", "exact_dup", "over_target"}
    assert all(r.split(":")[0] in known for r in st["stages"]["curate"]["dropped"])
