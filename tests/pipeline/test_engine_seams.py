"""The seams between the engine, its stages and its executors, read without a model:
what a stage spec carries, a context made whole, the Ray executor's workers sized by the
stages that call a model, and the pipeline naming no method and no executor."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tane.config.answer import AnswerStage
from tane.config.curate import CurateStage
from tane.config.self_instruct import SelfInstructStage
from tane.engine import NoModel, StageStats
from tane.errors import ServerError
from tane.llm.base import COMPLETION, GenParams
from tane.pipeline.execution import ExecutionPlan
from tane.pipeline.ray_executor import remote_models
from tane.pipeline.stages import Stages
from tane.recipe import Recipe

SRC = Path(__file__).resolve().parents[2] / "src" / "tane"


def test_a_generators_spec_carries_its_rounds():
    si = SelfInstructStage(method="self_instruct", lookahead=6, max_rounds=9).spec()
    assert (si.role, si.lookahead, si.max_rounds, si.lookahead_safe) == ("generator", 6, 9,
                                                                          True)
    assert si.sequential and si.llm
    cur = CurateStage(method="curate", steps=[{"name": "exact_dup"}]).spec()
    assert cur.sequential and not cur.llm
    ans = AnswerStage(method="answer").spec()
    assert not ans.sequential and ans.llm and ans.max_rounds == 0


def _recipe(tmp_path: Path) -> Recipe:
    (tmp_path / "seeds.jsonl").write_text('{"instruction": "Say hi.", "output": "Hi."}\n',
                                          encoding="utf-8")
    return Recipe.model_validate({
        "name": "seams", "seeds": {"path": "seeds.jsonl"},
        "llm": {"backend": "vllm", "model": "m"},
        "models": {"srv": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                           "model": "s"}},
        "stages": [{"method": "self_instruct", "mode": "en", "model": "srv",
                    "instances": "input_only"},
                   {"method": "answer", "mode": "en", "model": "srv"},
                   {"method": "curate", "lang": "en", "steps": [{"name": "length"}]}]})


def test_a_context_is_whole_before_any_run(tmp_path):
    from tane.pipeline.runner import Runner

    runner = Runner(_recipe(tmp_path), tmp_path / "out", base_dir=tmp_path)
    assert not (tmp_path / "out").exists()
    ctxs = [runner.stages.context(i) for i in range(3)]
    assert all(isinstance(c.llm, NoModel) for c in ctxs)
    assert ctxs[1].model_provenance(COMPLETION)["model"] == "s"
    # a stage built without a run makes no call: it stops with one line
    with pytest.raises(ServerError, match="stages built without a run make no call"):
        asyncio.run(ctxs[1].call(COMPLETION, "hi", GenParams()))


def test_ray_workers_are_sized_by_the_stages_that_call_a_model(tmp_path):
    rec = _recipe(tmp_path)
    specs = [s.spec() for s in rec.stages]
    names = ["self_instruct", "answer", "curate"]
    plan = ExecutionPlan(names=names, specs=specs, stages=Stages(),
                         stats=[StageStats(n) for n in names], sink=None,  # type: ignore
                         model_names=[rec.model_of(s) for s in rec.stages])
    # the curate stage runs on the default (vLLM) model's name but calls no model: no GPU
    assert plan.model_names == ["srv", "srv", "default"]
    assert remote_models(plan, [(False, [1, 2])]) == {"srv"}
    assert remote_models(plan, [(False, [2])]) == set()


def _pipeline_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8")
                     for p in sorted((SRC / "pipeline").glob("*.py")))


def test_the_pipeline_names_no_method():
    named = re.findall(r"self_instruct|evol_instruct|magpie|grid|agent_instruct|judge|answer",
                       _pipeline_text())
    assert not named, named


def test_the_pipeline_reads_no_stage_or_runner_attribute_by_name():
    probes = re.findall(r"(?:getattr|hasattr)\((\w+)", _pipeline_text())
    assert not [p for p in probes if p in ("self", "runner", "stage", "gen", "first",
                                           "executor", "cfg")], probes


def test_the_runner_and_the_command_name_no_executor():
    for path in (SRC / "pipeline" / "runner.py", SRC / "cli" / "run.py"):
        text = path.read_text(encoding="utf-8").lower()
        assert "ray" not in re.findall(r"[a-z_]+", text), path.name
