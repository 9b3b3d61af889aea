"""The feed rule in a chain that starts with a transform and ends with an ordered curate
step, run in this process against the simulated server (bench/simserver.py, whose answers
are a function of the request). An evolution keeps its parent and adds a child, exact_dup
compares each record with the ones kept before it; under a target only the rows the
target needs are evolved and answered, no answered record is dropped as over_target, and
a run cancelled halfway resumes to the same files."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from helpers import read_jsonl

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

from tane.pipeline.runner import Runner  # noqa: E402
from tane.recipe import load_recipe  # noqa: E402

ROWS = 12
TARGET = 2


@pytest.fixture(scope="module")
def sim():
    # each call takes at least 20 ms, so a run can be cancelled halfway
    with SimServer.start(streams=8, ttft=0.02, tps=3000.0, tokens_mean=40) as s:
        yield s


def recipe(tmp_path: Path, url: str):
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps({"id": f"q{i}", "instruction": f"質問{i}: 何か答えてください。"},
                                      ensure_ascii=False) + "\n" for i in range(ROWS)),
                   encoding="utf-8")
    path = tmp_path / "recipe.yaml"
    path.write_text(f"""name: feed-chain
seed: 5
target: {TARGET}
llm: {{backend: openai, base_url: {url}, model: sim, concurrency: 4}}
source: {{path: {src}}}
stages:
  - {{method: evol_instruct, mode: ja, prompt_style: completion, epochs: 1,
     sampling: {{max_tokens: 96}}}}
  - {{method: answer, mode: ja, prompt_style: chat, sampling: {{max_tokens: 64}}}}
  - {{method: curate, lang: ja, steps: [{{name: exact_dup}}, {{name: meta_text}}]}}
""", encoding="utf-8")
    return load_recipe(path)


def files(out: Path) -> tuple[bytes, bytes]:
    return (out / "dataset.jsonl").read_bytes(), (out / "rejected.jsonl").read_bytes()


@pytest.fixture(scope="module")
def whole(sim, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feed-chain")
    rec = recipe(tmp, sim.url)
    return tmp, rec, asyncio.run(Runner(rec, tmp / "whole").run())


def test_only_what_the_target_needs_is_evolved_and_answered(whole):
    tmp, _, st = whole
    assert st["kept"] == TARGET
    evol, answer, curate = (st["stages"][n] for n in ("evol_instruct", "answer", "curate"))
    drops = [d for d in read_jsonl(tmp / "whole" / "rejected.jsonl")
             if d["reason"] == "over_target"]
    before = [d["detail"]["before"] for d in drops]
    # rows past what the target needs are not evolved (each evolved one keeps its parent
    # and adds a child), and records past it are not answered
    assert evol["records_in"] == ROWS and before.count("evol_instruct") == ROWS - 1, evol
    assert answer["llm_calls"] == curate["records_in"] == TARGET, (answer, curate)
    assert before.count("answer") == 0
    assert all(d["stage"] == "evol_instruct" for d in drops)
    # no record that was answered is thrown away for the target
    assert "over_target" not in curate["dropped"], curate
    assert "over_target" not in answer["dropped"], answer


def test_a_run_cancelled_halfway_resumes_to_the_same_files(whole):
    tmp, rec, st = whole
    out = tmp / "cut"

    async def cut_short():
        runner = Runner(rec, out)
        task = asyncio.create_task(runner.run())
        while runner.run_dir is None or runner.run_dir.call_count() < st["llm"]["calls"] // 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cut_short())
    assert not (out / "dataset.jsonl").exists()
    again = asyncio.run(Runner(rec, out).run())
    assert again["llm"]["cache_hits"] > 0
    assert again["llm"]["calls"] + again["llm"]["cache_hits"] == st["llm"]["calls"]
    assert files(out) == files(tmp / "whole")
