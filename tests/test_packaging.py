"""Packaging: the licence as an SPDX expression with its file (PEP 639), a setuptools
that reads it without a deprecation warning, and the recipes in the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_licence_is_an_spdx_string_with_its_file():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["license"] == "Apache-2.0"
    files = project["license-files"]
    assert files and all(list(ROOT.glob(f)) for f in files)
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    # license = "SPDX" and license-files are read by setuptools 77 and later
    (req,) = [r for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    m = re.fullmatch(r"setuptools>=(\d+)", req)
    assert m and int(m.group(1)) >= 77


@pytest.mark.slow  # builds a wheel (about 15 s); no model
def test_the_wheel_ships_the_recipes_and_runs_one_by_name(tmp_path):
    """Every file under recipes/ is in the wheel as tane/recipes/..., and from the wheel's
    files alone (another folder, no source tree) `tane plan quickstart` finds the shipped
    recipe and the files it names."""
    src = tmp_path / "src-tree"  # a copy: the build's files stay out of the working tree
    for name in ("src", "recipes"):
        shutil.copytree(ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                          "-w", str(wheels)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    (wheel,) = wheels.glob("tane-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    shipped = {f"tane/recipes/{p.relative_to(ROOT / 'recipes').as_posix()}"
               for p in (ROOT / "recipes").rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert shipped and shipped <= names, sorted(shipped - names)
    assert "tane/shipped.py" in names
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "site")  # before the editable install of the tree
    for name in ("quickstart", "recipes/grid_ja.yaml"):  # its few-shot files are read too
        res = subprocess.run([sys.executable, "-m", "tane.cli", "plan", name, "--no-measure",
                              "--tokens-per-second", "20"], capture_output=True, text=True,
                             timeout=300, cwd=work, env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        assert "calls" in res.stdout, res.stdout
    res = subprocess.run([sys.executable, "-c", "import tane.shipped as s; "
                          "print(s.find_recipe('quickstart'))"],
                         capture_output=True, text=True, timeout=120, cwd=work, env=env)
    assert res.stdout.strip().startswith(str(tmp_path / "site")), res.stdout + res.stderr


def test_a_shipped_recipe_by_name(tmp_path, monkeypatch):
    from tane.errors import TaneError
    from tane.recipe import load_recipe
    from tane.shipped import RECIPES, find_recipe, shipped_recipes

    assert RECIPES.resolve() == (ROOT / "recipes").resolve()
    assert "quickstart" in shipped_recipes()
    monkeypatch.chdir(tmp_path)
    for name in ("quickstart", "quickstart.yaml", "recipes/quickstart.yaml"):
        assert find_recipe(name) == RECIPES / "quickstart.yaml"
    assert load_recipe("quickstart").name == load_recipe(ROOT / "recipes/quickstart.yaml").name
    (tmp_path / "quickstart.yaml").write_text("stages: []\n", encoding="utf-8")
    assert find_recipe("quickstart.yaml") == Path("quickstart.yaml")  # a file here first
    assert find_recipe("other/quickstart.yaml") == Path("other/quickstart.yaml")
    with pytest.raises(TaneError, match="not found.*shipped with tane: .*quickstart"):
        load_recipe("no_such_recipe")


def test_tane_curate_takes_the_shipped_curate_recipe_by_name(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tane.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text(
        '{"instruction": "日本の首都はどこですか。", "output": "東京です。"}\n'
        '{"instruction": "同じ", "output": "同じ"}\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["curate", "in.jsonl", "--recipe", "curate_ja", "-o",
                                   "out.jsonl"])
    assert res.exit_code == 0, res.output
    assert "2 rows in, 1 kept, 1 dropped" in res.output
