"""`tane run --dry-run` goes without --out, as `tane plan` does, and then writes nothing;
a run that is not a dry run still needs --out. Real CLI runs on a recipe that starts from a
source file with a curate stage (no model)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from helpers import ROOT, tane_cmd


def _recipe(tmp_path):
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"instruction": "日本の首都はどこですか？", "output": "東京です。"},
                   ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: dry\nsource: {path: rows.jsonl}\nstages:\n"
                      "  - method: curate\n    steps: [{name: length}]\n", encoding="utf-8")
    return recipe


def _tane(cwd, *args):
    env = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(tane_cmd(*args), capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_dry_run_without_out_prints_the_plan_and_writes_nothing(tmp_path):
    recipe = _recipe(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = _tane(tmp_path, "run", str(recipe), "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "plan: dry" in res.stdout and "total:" in res.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_dry_run_with_out_saves_the_plan(tmp_path):
    recipe = _recipe(tmp_path)
    res = _tane(tmp_path, "run", str(recipe), "--dry-run", "--out", str(tmp_path / "run"))
    assert res.returncode == 0, res.stderr
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["plan.json"]


def test_a_run_without_out_is_refused(tmp_path):
    recipe = _recipe(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = _tane(tmp_path, "run", str(recipe), "--no-progress")
    assert res.returncode == 2
    assert res.stderr.strip() == ("error: field 'out': give the run directory with --out "
                                  "DIR (only --dry-run goes without one)")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
