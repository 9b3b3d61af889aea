"""A recipe meant for a served model (``needs:``) says so when started on the embedded
model and stops (exit 2), unless --yes or an explicit --llm is given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import ROOT, run_tane
from tane.cli.runnotes import check_needs
from tane.errors import TaneError
from tane.recipe import load_recipe

RECIPES = ROOT / "recipes"
SERVED = ["alpaca_ja.yaml", "evol_ja.yaml", "magpie_ja.yaml", "oss_instruct_ja.yaml",
          "self_instruct_en.yaml"]


def runnable():
    return [p for p in sorted(RECIPES.glob("*.yaml"))
            if "stages" in yaml.safe_load(p.read_text(encoding="utf-8"))]


def test_every_runnable_recipe_declares_whether_it_needs_a_server():
    marked = {p.name for p in runnable() if load_recipe(p).needs is not None}
    assert marked == set(SERVED)
    for name in SERVED:
        n = load_recipe(RECIPES / name).needs
        assert n.model in ("base", "chat") and n.why


@pytest.mark.parametrize("name", SERVED)
def test_served_recipe_on_the_embedded_model_stops(name):
    rec = load_recipe(RECIPES / name)
    with pytest.raises(TaneError) as e:
        check_needs(rec, RECIPES / name, llm_given=False, yes=False)
    msg = e.value.one_line()
    assert "meant for a served model" in msg and "--llm URL,model=NAME" in msg
    assert "--yes" in msg and e.value.exit_code == 2
    check_needs(rec, RECIPES / name, llm_given=True, yes=False)
    check_needs(rec, RECIPES / name, llm_given=False, yes=True)


def test_cli_exit_2_before_anything_is_written(tmp_path: Path):
    out = tmp_path / "run"
    res = run_tane("run", str(RECIPES / "evol_ja.yaml"), "--out", str(out), timeout=120)
    assert res.returncode == 2
    assert "chat model that writes Japanese" in res.stderr and "--yes" in res.stderr
    assert not out.exists()


def test_unknown_needs_value_is_a_recipe_error(tmp_path: Path):
    p = tmp_path / "r.yaml"
    p.write_text("needs: {model: instruct}\nstages:\n  - {method: self_instruct}\n",
                 encoding="utf-8")
    with pytest.raises(TaneError) as e:
        load_recipe(p)
    assert e.value.line == 1 and "needs.model" in e.value.one_line()
