"""tane preview / tane.preview: every stage on a few items, the plan for the full target,
nothing left behind but a --keep directory, whose calls a later run reuses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

import tane
from helpers import run_tane
from tane.api.preview import Preview
from tane.pipeline.plan import decided_only, make_plan
from tane.pipeline.runner import Runner
from tane.recipe import Recipe

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

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


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.002, tps=5000.0, tokens_mean=60) as s:
        yield s


def _generating(tmp_path: Path, url: str, steps: list[dict]) -> Path:
    """The quickstart's stages on the simulated server (a real HTTP server whose answers
    are a function of the request: new instructions to Self-Instruct's prompt)."""
    p = tmp_path / "gen.yaml"
    p.write_text(yaml.safe_dump({
        "name": "preview-gen", "seed": 3, "target": 6,
        "llm": {"backend": "openai", "base_url": url, "model": "sim", "concurrency": 4},
        "seeds": {"path": "bundled:ja"},
        "stages": [{"method": "self_instruct", "mode": "ja", "prompt_style": "completion",
                    "request_batch_size": 2, "max_rounds": 30, "classify": False,
                    "instances": "input_only", "sampling": {"max_tokens": 320}},
                   {"method": "answer", "mode": "ja", "prompt_style": "completion",
                    "sampling": {"max_tokens": 60}},
                   {"method": "curate", "lang": "ja", "steps": steps}]}), encoding="utf-8")
    return p


def test_a_preview_makes_about_n_items_and_answers_each_once(sim, tmp_path):
    # curate drops every answer: a run to n kept would go on for all 30 rounds
    recipe = _generating(tmp_path, sim.url, [{"name": "length", "output_min": 100000}])
    res = tane.preview(recipe, n=4)
    gen, answer, curate = res.stages
    assert gen.kept == 4 and res.stats["rounds"] <= 2
    assert answer.records_in == 4 and answer.calls == 4 and "over_target" not in answer.dropped
    assert curate.records_in == answer.kept and res.kept == [] and curate.kept == 0
    assert res.stats["llm"]["calls"] == gen.calls + answer.calls
    assert res.stats["target"] is None and res.stats["limit"] == 4
    assert res.notes == ["no item came through every stage: see the drops"]


def test_a_run_on_a_kept_preview_replays_every_call_it_made(sim, tmp_path):
    recipe, keep = _generating(tmp_path, sim.url, [{"name": "copies"}]), tmp_path / "keep"
    res = tane.preview(recipe, n=3, keep=keep)
    assert res.stages[0].kept == 3 and res.stages[1].calls == 3
    assert any("rates from the earlier run" in n for n in res.plan.notes)
    # the plan in the kept directory takes its rates, not its calls (it ran no target)
    plan = make_plan(Runner(Recipe.from_yaml(recipe), keep, base_dir=tmp_path), keep)
    assert plan.stages[0].basis == "earlier run" and plan.journaled == res.stats["llm"]["calls"]
    full = tane.run(recipe, keep)
    assert full.stats["llm"]["cache_hits"] == res.stats["llm"]["calls"]
    assert full.stats["kept"] == 6 and "limit" not in full.stats


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
    prompt = res.stages[0]  # the first 2 of the 5 rows, each called once, none cut
    assert prompt.records_in == 2 and prompt.calls == 2
    assert prompt.kept + sum(prompt.dropped.values()) == 2
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
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith("│ prompt"))
    stage, _, rows_in, _, _, calls, _ = (c.strip() for c in row.strip("│").split("│"))
    assert (rows_in, calls) == ("1", "1") and "over_target" not in r.stdout
    assert "plan: preview-test (target every row)" in r.stdout
    assert "rates measured by this preview" in r.stdout
    assert sorted(tmp_path.iterdir()) == before  # the temporary run directory is gone
