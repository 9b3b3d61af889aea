"""YAML aliases in a recipe: a few lines of nested aliases ("billion laughs") are refused at
once with the line that expands too far, not walked for ever; ordinary aliases still load
and a key given twice inside an anchored mapping is still found."""

from __future__ import annotations

import time

import pytest

from helpers import run_tane
from tane.errors import TaneError
from tane.recipe import load_recipe


def _laughs(levels: int, width: int = 10) -> str:
    """A recipe of under 1 KB whose last alias expands to width**levels values."""
    lines = ["l0: &l0 [" + ", ".join(["ha"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    lines += ["name: laughs", "source: {path: rows.jsonl}", "stages:",
              "  - method: curate", f"    steps: *l{levels - 1}"]
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once(tmp_path):
    recipe = tmp_path / "laughs.yaml"
    recipe.write_text(_laughs(9), encoding="utf-8")
    assert recipe.stat().st_size < 1024
    out = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(out), "--no-progress", timeout=30)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == (
        f"error: {recipe}:5: YAML aliases expand this value to 111,111 values (at most "
        "100,000 more than the file writes out); write the values out instead of nesting "
        "aliases")
    assert not out.exists()
    started = time.perf_counter()
    with pytest.raises(TaneError, match="aliases expand"):
        load_recipe(recipe)
    assert time.perf_counter() - started < 0.5


def test_aliases_within_the_limit_load(tmp_path):
    """4 levels of 10: 11,111 values, refused by nothing but the recipe's own checks."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(_laughs(4), encoding="utf-8")
    with pytest.raises(TaneError) as e:
        load_recipe(recipe)
    assert "aliases" not in e.value.message and "stages.0.steps" in str(e.value)


def test_shared_sampling_by_alias_and_a_duplicate_inside_it(tmp_path):
    good = ("name: x\nseeds: {path: bundled:ja}\n"
            "stages:\n"
            "  - method: self_instruct\n"
            "    instances: input_only\n"
            "    sampling: &s {temperature: 0.5, max_tokens: 64}\n"
            "  - method: answer\n"
            "    sampling: *s\n")
    (tmp_path / "good.yaml").write_text(good, encoding="utf-8")
    rec = load_recipe(tmp_path / "good.yaml")
    assert rec.stages[1].sampling.temperature == 0.5
    assert rec.stages[1].sampling.max_tokens == 64
    bad = good.replace("{temperature: 0.5, max_tokens: 64}",
                       "{temperature: 0.5, max_tokens: 64, temperature: 0.9}")
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(TaneError, match=r":6: field 'stages.0.sampling.temperature': key "
                                        r"'temperature' given twice \(lines 6 and 6\)"):
        load_recipe(tmp_path / "bad.yaml")


def test_nesting_too_deep_is_one_line(tmp_path):
    recipe = tmp_path / "deep.yaml"
    recipe.write_text("name: x\nstages: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(TaneError, match="nested too deeply"):
        load_recipe(recipe)
