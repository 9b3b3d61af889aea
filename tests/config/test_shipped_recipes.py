"""Every recipe shipped in recipes/ validates and builds its stages (templates, seeds,
documents, few-shot and snippet files are all checked before a run starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tane.curate.apply import load_curate_config
from tane.pipeline.runner import Runner
from tane.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
ALL = sorted(RECIPES.glob("*.yaml"))


def _is_curate_config(path: Path) -> bool:
    return "stages" not in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def test_every_method_has_a_recipe():
    methods = {s.method for p in ALL if not _is_curate_config(p)
               for s in load_recipe(p).stages}
    assert {"self_instruct", "alpaca", "magpie", "grid", "agent_instruct", "evol_instruct",
            "answer", "curate", "judge", "prompt"} <= methods


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_shipped_recipe_builds(path: Path, tmp_path: Path):
    if _is_curate_config(path):
        load_curate_config(path)
        return
    runner = Runner(load_recipe(path), tmp_path / "run", base_dir=path.parent)
    assert len(runner.stages) == len(runner.recipe.stages)
    assert not (tmp_path / "run").exists()
