"""docs/engine.md lists every file a run directory holds: a real run (a source recipe, no
model), a review import, `tane plan --out` and `tane stats` write into one; each file
they leave is named in the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from typer.testing import CliRunner

from tane.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _table() -> str:
    doc = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    return doc.split("## The files of a run directory", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_every_file_of_a_run_directory_is_documented(tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps(
        {"instruction": "日本の首都はどこですか。", "output": "東京です。"},
        ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: files\nsource: {path: in.jsonl}\nstages:\n  - method: curate\n"
                      "    lang: ja\n    steps: [{name: length}]\n", encoding="utf-8")
    run = tmp_path / "run"
    res = runner.invoke(app, ["run", str(recipe), "-o", str(run), "--no-progress"])
    assert res.exit_code == 0, res.output
    runner.invoke(app, ["plan", str(recipe), "--out", str(run)])
    assert runner.invoke(app, ["stats", str(run), "--no-charts"]).exit_code == 0
    table = _table()
    found = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert {"dataset.jsonl", "dataset.machine.jsonl", "run.sqlite", "stats.json"} <= set(found)
    for name in found:
        shown = name if not name.startswith("stats/") else "stats/report.json"
        assert f"`{shown}" in table, f"{name} is not in docs/engine.md"
