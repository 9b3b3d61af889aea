"""tane preview / tane.preview: every stage on a few items, the plan for the full target,
nothing left behind but a --keep directory, whose calls a later run reuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import tane
from helpers import run_tane
from tane.api.preview import Preview
from tane.pipeline.plan import decided_only

ROWS = [{"instruction": q, "output": a} for q, a in [
    ("1たす1はいくつですか。", "2である。"), ("日本の首都はどこですか。", "東京だ。"),
    ("水の沸点は何度ですか。", "100℃である。"), ("三角形の内角の和は。", "180度だ。"),
    ("月はなぜ光るのですか。", "太陽の光を反射するからだ。")]]


def _recipe(tmp_path: Path) -> Path:
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({
        "name": "preview-test", "seed": 1, "source": {"path": "rows.jsonl"},
        "stages": [{"method": "prompt", "prompt_style": "completion",
                    "template": ('指示: 2たす3は。\n回答: 5。\nJSON: {"difficulty": "easy"}\n\n'
                                 "指示: {{ instruction }}\n回答: {{ output }}\nJSON:"),
                    "output_schema": {"difficulty": ["easy", "hard"]},
                    "sampling": {"temperature": 0.0, "max_tokens": 40}},
                   {"method": "curate", "lang": "ja", "steps": [{"name": "copies"}]}]},
        allow_unicode=True), encoding="utf-8")
    return p


def test_rates_leave_out_the_records_the_target_cut():
    stats = {"stages": {"gen": {"records_in": 0, "kept": 3, "dropped": {"over_target": 5}},
                        "answer": {"records_in": 10, "kept": 2,
                                   "dropped": {"over_target": 7, "empty": 1}}}}
    got = decided_only(stats, generator=True)["stages"]
    assert got["gen"]["dropped"] == {"over_target": 5}
    assert got["answer"]["records_in"] == 3 and got["answer"]["dropped"] == {"empty": 1}
    assert stats["stages"]["answer"]["records_in"] == 10  # the caller's stats unchanged


def test_keep_refuses_a_directory_with_something_else_in_it(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "dataset.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(tane.TaneError, match="holds something other than a preview"):
        Preview(_recipe(tmp_path), 2, keep=run_dir)
    with pytest.raises(tane.TaneError, match="n must be at least 1"):
        Preview(_recipe(tmp_path), 0)
    assert (run_dir / "dataset.jsonl").read_text(encoding="utf-8") == "{}\n"


def test_preview_command_bad_input_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from tane.cli import app

    r = CliRunner().invoke(app, ["preview", str(_recipe(tmp_path)), "-n", "2", "--keep",
                                 str(_recipe(tmp_path))])
    assert r.exit_code == 2
    assert "--keep names a directory" in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_preview_then_a_full_run_on_the_kept_directory(llama_server, tmp_path):
    recipe, keep = _recipe(tmp_path), tmp_path / "keep"
    res = tane.preview(recipe, n=2, keep=keep, llm=llama_server, model="gemma")
    assert [s.name for s in res.stages] == ["prompt", "curate"]
    prompt = res.stages[0]
    assert prompt.records_in == 5 and prompt.calls == 2
    assert prompt.kept + sum(v for k, v in prompt.dropped.items() if k != "over_target") == 2
    assert len(res.kept) == 2 and res.kept_dir == keep
    # the plan is for every row (the recipe has no target), from the preview's own rates
    assert res.target is None and res.plan.stages[0].records_in == 5
    assert res.plan.stages[0].calls == 5 and res.plan.stages[0].basis == "earlier run"
    assert res.plan.seconds is not None and res.plan.seconds > 0
    full = tane.run(recipe, keep, llm=llama_server, model="gemma")
    assert full.stats["llm"]["cache_hits"] == 2 and full.stats["llm"]["calls"] == 3
    # the directory is a full run's now: a second preview may not replace its outputs
    with pytest.raises(tane.TaneError, match="other than a preview"):
        Preview(recipe, 2, keep=keep)


@pytest.mark.slow
def test_preview_command_shows_each_stage_and_the_plan_and_leaves_nothing(
        llama_server, tmp_path):
    recipe = _recipe(tmp_path)
    before = sorted(tmp_path.iterdir())
    r = run_tane("preview", str(recipe), "-n", "1", "--llm", llama_server, "--model", "g",
                 "--no-progress", env={"TMPDIR": str(tmp_path)}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "preview: preview-test on 1 items" in r.stdout
    assert "│ prompt" in r.stdout and "over_target 4" in r.stdout
    assert "plan: preview-test (target every row)" in r.stdout
    assert "rates measured by this preview" in r.stdout
    assert sorted(tmp_path.iterdir()) == before  # the temporary run directory is gone
