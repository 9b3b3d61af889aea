"""tane plan without a model call: calls per stage from each stage config's cost model,
on the rates measured for its method, mode and model class (or on the recipe alone, a
lower bound, where none were measured), from an earlier run's rates, or that run again at
the same target; the accuracy record written into stats.json; the bench that measures
the rates. (A plan against real embedded runs: test_demo_pty.py.)"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from helpers import ROOT, run_tane
from tane.config.base import StageBase
from tane.config.llm import LLMConfig
from tane.config.registry import METHODS
from tane.config import plan_rates
from tane.pipeline.plan import (accuracy, make_plan, measured_counts, model_class,
                                rates_key, record_accuracy)
from tane.pipeline.runner import Runner
from tane.recipe import load_recipe
from tane.stage import StageSpec

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def runner_for(target: int, out: Path | None = None, model: str | None = None) -> Runner:
    rec = load_recipe(QUICKSTART, {"target": target})
    if model is not None:  # a served model (nothing is called: the plan only reads it)
        rec.llm = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model=model)
    return Runner(rec, out or Path("."), base_dir=QUICKSTART.parent)


def fake_run(d: Path, target: int, stages: dict) -> Path:
    """The files an earlier run of the quickstart leaves that the plan reads."""
    d.mkdir(parents=True, exist_ok=True)
    rec = load_recipe(QUICKSTART, {"target": target})
    (d / "manifest.json").write_text(json.dumps({"recipe": rec.model_dump(mode="json")}),
                                     encoding="utf-8")
    (d / "stats.json").write_text(json.dumps({
        "target": target, "kept": target, "wall_seconds": 50.0, "stages": stages,
        "llm": {"calls": 60, "cache_hits": 0, "prompt_tokens": 30000,
                "completion_tokens": 4000, "journal_size": 60}}), encoding="utf-8")
    return d


STAGES = {
    # 20 records out of 40 calls; answer keeps 16 of 20; curate keeps 8 of 16
    "self_instruct": {"records_in": 0, "kept": 20, "dropped": {"near_duplicate": 9},
                      "llm_calls": 40, "cache_hits": 0, "prompt_tokens": 20000,
                      "completion_tokens": 3000},
    "answer": {"records_in": 20, "kept": 16, "dropped": {"truncated_answer": 4},
               "llm_calls": 20, "cache_hits": 0, "prompt_tokens": 10000,
               "completion_tokens": 1000},
    "curate": {"records_in": 16, "kept": 8, "dropped": {"copies:output_is_input": 8},
               "llm_calls": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0},
}


def test_nothing_measured_nothing_is_dropped_and_calls_are_a_lower_bound():
    # a served model whose name says no size: no measured rates apply
    runner = runner_for(10, model="my-model")
    batch = runner.recipe.stages[0].request_batch_size
    plan = make_plan(runner)
    si, ans, cur = plan.stages
    # the first round's batch of prompts (7 tasks a prompt would need only 2), 10 instances
    prompts = max(batch, 2)
    assert (si.calls, ans.calls, cur.calls) == (prompts + 10, 10, 0)
    assert (ans.records_in, cur.records_in) == (10, 10)
    assert ans.calls_exact and cur.calls_exact and not si.calls_exact
    assert ans.completion_is_bound and ans.completion_tokens == 10 * 256
    # each call at its own max_tokens: the prompts at 320, 10 instances at 300
    assert si.completion_tokens == prompts * 320 + 10 * 300
    assert si.prompt_tokens > 0 and ans.prompt_tokens > 0  # rendered from real prompts
    assert all(s.basis.startswith("no drops assumed") for s in plan.stages)
    note = next(n for n in plan.notes if "lower bound" in n)
    assert "self_instruct/ja/unknown" in note and "curate/ja/unknown" in note
    assert plan.seconds is None


# counts as bench/plan_rates.py writes them: 4 prompts gave 20 new tasks (of 40 checked),
# 16 of 20 instance calls gave a record; answer keeps 16 of 20; curate's length step
# drops 4 of the 16 reaching it, repetition 6 of 12
TABLE = {
    "self_instruct/ja/tiny": {"prompts": 4, "checked": 40, "tasks": 20, "records": 16},
    "answer/ja/tiny": {"records_in": 20, "passed": 16, "calls": 20},
    "curate/ja/tiny": {"reached:length": 16, "dropped:length": 4,
                       "reached:repetition": 12, "dropped:repetition": 6},
}


def test_first_plan_uses_the_measured_rates(monkeypatch):
    monkeypatch.setattr(plan_rates, "COUNTS", TABLE)
    plan = make_plan(runner_for(6))
    si, ans, cur = plan.stages
    # curate keeps 75% x 50% (copies, mixed_language: not measured, none dropped)
    assert cur.records_in == math.ceil(6 / 0.375) == 16 and cur.calls == 0
    assert ans.records_in == 20 and ans.calls == 20  # keeps 80%, one call each
    # 20 records: 25 tasks at 0.8 records a task; 5 new tasks a prompt: 5 prompts, then
    # 25 instance calls
    assert si.calls == 5 + 25
    assert cur.basis.startswith("measured rates, curate/ja/tiny")
    assert "copies, mixed_language: nothing dropped (not measured)" in cur.why
    assert si.basis.startswith("measured rates, self_instruct/ja/tiny")
    assert not any("lower bound" in n for n in plan.notes), plan.notes
    assert accuracy(plan.to_dict(), {})["basis"] == "measured rates"


def test_shipped_table_is_used_for_the_embedded_quickstart():
    """The shipped table holds the quickstart's stages on the embedded model, and a first
    plan estimates from it: more calls than when nothing is assumed dropped."""
    for cfg in load_recipe(QUICKSTART).stages:
        assert measured_counts(rates_key(cfg, LLMConfig())), cfg.method
    measured = make_plan(runner_for(8))
    assumed = make_plan(runner_for(8, model="my-model"))
    assert all(s.basis.startswith("measured rates") for s in measured.stages)
    assert measured.calls > assumed.calls
    assert plan_rates.MEASURED["machine"] and plan_rates.MEASURED["runs"]


class EchoStage(StageBase):
    """A method with no cost model of its own."""

    method: Literal["echo"] = "echo"

    def contract(self) -> StageSpec:
        return StageSpec("transform", llm=True)


def test_a_method_without_its_own_estimate_says_so():
    runner = runner_for(5)
    runner.recipe.stages[1] = EchoStage()
    plan = make_plan(runner)
    echo = plan.stages[1]
    assert echo.calls == echo.records_in == plan.stages[2].records_in
    assert echo.basis == "no drops assumed" and "no cost model of its own" in echo.why
    assert any("answer (echo): the method has no cost model of its own" in n
               for n in plan.notes), plan.notes


def test_the_planner_knows_no_method_by_name():
    for path in (ROOT / "src" / "tane" / "pipeline" / "plan.py",
                 ROOT / "src" / "tane" / "cli" / "plan.py"):
        text = path.read_text(encoding="utf-8")
        named = [m for m in METHODS if f'"{m}"' in text or f"'{m}'" in text]
        assert not named, (path.name, named)
        assert "hasattr" not in text, path.name


@pytest.mark.parametrize("backend,model,cls", [
    ("embedded", None, "tiny"), ("openai", "google/gemma-3-270m", "tiny"),
    ("openai", "Qwen/Qwen2.5-7B-Instruct", "small"), ("openai", "llm-jp-3-1.8b", "small"),
    ("openai", "Qwen3-32B", "medium"), ("openai", "Llama-3.3-70B-Instruct", "large"),
    ("openai", "my-model", "unknown")])
def test_model_class_from_the_name(backend, model, cls):
    url = None if backend == "embedded" else "http://127.0.0.1:9/v1"
    assert model_class(LLMConfig(backend=backend, base_url=url, model=model)) == cls


def test_rates_of_an_earlier_run_scale_to_another_target(tmp_path):
    d = fake_run(tmp_path / "run", 8, STAGES)
    plan = make_plan(runner_for(10, d), d)
    si, ans, cur = plan.stages
    assert cur.records_in == 20  # keeps half
    assert ans.records_in == 25 and ans.calls == 25  # keeps 16 of 20, one call each
    assert si.calls == 50  # 2 calls a record passed on
    assert ans.prompt_tokens == 25 * 500 and not ans.completion_is_bound
    assert {s.basis for s in plan.stages} == {"earlier run"}
    assert plan.history == str(d / "stats.json") and plan.journaled == 60


def test_same_target_is_that_run_again_exactly(tmp_path):
    d = fake_run(tmp_path / "run", 8, STAGES)
    plan = make_plan(runner_for(8, d), d)
    assert [s.calls for s in plan.stages] == [40, 20, 0]
    assert all(s.calls_exact for s in plan.stages)  # embedded, one slot
    assert plan.stages[1].prompt_tokens == 10000


def test_history_of_another_recipe_is_not_used(tmp_path):
    d = fake_run(tmp_path / "run", 8, STAGES)
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["recipe"]["stages"] = m["recipe"]["stages"][:2]
    (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    assert make_plan(runner_for(8, d), d).history is None


def test_accuracy_is_written_into_stats(tmp_path):
    d = fake_run(tmp_path / "run", 8, STAGES)
    plan = make_plan(runner_for(8, d), d).to_dict()
    plan["seconds"] = 40.0
    acc = record_accuracy(d, plan)
    st = json.loads((d / "stats.json").read_text(encoding="utf-8"))
    assert st["estimate"] == acc
    assert acc["predicted"]["calls"] == 60 and acc["actual"]["calls"] == 60
    assert acc["ratio"]["calls"] == 1.0 and acc["ratio"]["seconds"] == 1.25
    assert acc["stages"]["answer"] == {"predicted_calls": 20, "actual_calls": 20,
                                       "predicted_records_in": 20, "actual_records_in": 20}
    assert accuracy({"calls": 0, "stages": []}, st)["ratio"]["calls"] is None


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_cli_plan_json_and_saved_plan(tmp_path):
    out = tmp_path / "run"
    res = run_tane("plan", str(QUICKSTART), "--target", "6", "--no-measure", "--json",
                   "--out", str(out), timeout=120)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert shown == saved
    assert [s["name"] for s in saved["stages"]] == ["self_instruct", "answer", "curate"]
    assert saved["calls"] == sum(s["calls"] for s in saved["stages"])
    # the answer stage gets at least the target, one call each, whatever is dropped
    assert saved["stages"][1]["calls"] == saved["stages"][1]["records_in"] >= 6
    assert saved["stages"][1]["role"] == "transform" and saved["stages"][0]["role"] == \
        "generator"
    assert saved["tokens_from"].startswith("characters")
    res = run_tane("plan", str(QUICKSTART), "--target", "0", timeout=120)
    assert res.returncode == 2 and "--target must be at least 1" in res.stderr


def test_bench_measures_a_finished_run(tmp_path):
    """bench/plan_rates.py --from DIR --dry: each stage's counts under its key."""
    d = fake_run(tmp_path / "run", 8, STAGES)
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "plan_rates.py"),
                          "--from", str(d), "--dry"], capture_output=True, text=True,
                         timeout=300, env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
                         check=False)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "'answer/ja/tiny': {'calls': 20.0, 'passed': 16.0, 'records_in': 20.0}" in out
    # curate's copies step dropped 8 of the 16 reaching it; the steps after it saw 8
    assert "'dropped:copies': 8.0" in out and "'reached:repetition': 8.0" in out
    # self_instruct: 20 records kept, so 20 instance calls of 40; 9 near-duplicates
    assert "'prompts': 20.0" in out and "'checked': 29.0" in out and "'tasks': 20.0" in out
