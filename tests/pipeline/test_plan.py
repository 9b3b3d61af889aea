"""tane plan without a model call: calls per stage from the recipe alone (a lower bound),
from an earlier run's rates, or that run again at the same target; the accuracy record
written into stats.json. (A plan against real embedded runs: test_demo_pty.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import ROOT, run_tane
from tane.pipeline.plan import accuracy, make_plan, record_accuracy
from tane.pipeline.runner import Runner
from tane.recipe import load_recipe

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def runner_for(target: int, out: Path | None = None) -> Runner:
    rec = load_recipe(QUICKSTART, {"target": target})
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


def test_without_history_nothing_is_dropped_and_calls_are_a_lower_bound():
    plan = make_plan(runner_for(10))
    si, ans, cur = plan.stages
    # 4 prompts (the first round's batch; 7 tasks a prompt would need only 2), 10 instances
    assert (si.calls, ans.calls, cur.calls) == (14, 10, 0)
    assert (ans.records_in, cur.records_in) == (10, 10)
    assert ans.calls_exact and cur.calls_exact and not si.calls_exact
    assert ans.completion_is_bound and ans.completion_tokens == 10 * 256
    assert si.prompt_tokens > 0 and ans.prompt_tokens > 0  # rendered from real prompts
    assert plan.seconds is None and "lower bound" in plan.notes[0]


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


def test_cli_plan_json_and_saved_plan(tmp_path):
    out = tmp_path / "run"
    res = run_tane("plan", str(QUICKSTART), "--target", "6", "--no-measure", "--json",
                   "--out", str(out), timeout=120)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert shown == saved
    assert [s["name"] for s in saved["stages"]] == ["self_instruct", "answer", "curate"]
    assert saved["calls"] == sum(s["calls"] for s in saved["stages"]) == 4 + 6 + 6
    assert saved["tokens_from"].startswith("characters")
    res = run_tane("plan", str(QUICKSTART), "--target", "0", timeout=120)
    assert res.returncode == 2 and "--target must be at least 1" in res.stderr
