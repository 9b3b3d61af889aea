"""The streaming executor against the simulated server (bench/simserver.py, a real HTTP
server with per-request latency, so calls complete out of order): runs are reproducible
whatever order the calls complete in, a cancelled run resumes to the same files, and
stage counts are the engine's."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

from tane.errors import TaneError  # noqa: E402
from tane.pipeline.runner import Runner  # noqa: E402
from tane.recipe import load_recipe  # noqa: E402
from tane.store.rundir import RunDir  # noqa: E402

RECIPE = """\
name: stream
seed: 5
target: {target}
llm: {{backend: openai, base_url: {url}, model: sim, concurrency: 16}}
seeds: {{path: bundled:en}}
stages:
  - method: self_instruct
    mode: en
    request_batch_size: 3
    lookahead: {lookahead}
    instances: input_only
    sampling: {{max_tokens: 200}}
  - method: answer
    mode: en
    prompt_style: chat
    sampling: {{max_tokens: 60}}
  - method: curate
    lang: en
    steps:
      - {{name: length}}
      - {{name: near_dup, threshold: 0.7}}
"""


@pytest.fixture(scope="module")
def sim():
    # tokens vary per request (a hash of the body), so latencies and completion order vary
    with SimServer.start(streams=8, ttft=0.005, tps=3000.0, tokens_mean=40) as s:
        yield s


def recipe(tmp_path: Path, sim, target=40, lookahead=3):
    p = tmp_path / f"r-{target}-{lookahead}.yaml"
    p.write_text(RECIPE.format(url=sim.url, target=target, lookahead=lookahead), encoding="utf-8")
    return load_recipe(p)


def run(rec, out: Path) -> dict:
    return asyncio.run(Runner(rec, out).run())


def files(out: Path) -> tuple[bytes, bytes]:
    return (out / "dataset.jsonl").read_bytes(), (out / "rejected.jsonl").read_bytes()


def test_same_files_whatever_order_calls_complete(tmp_path, sim):
    rec = recipe(tmp_path, sim)
    a = run(rec, tmp_path / "a")
    b = run(rec, tmp_path / "b")
    assert a["kept"] == 40
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert a["llm"]["calls"] == b["llm"]["calls"]
    rows = [json.loads(x) for x in (tmp_path / "a" / "dataset.jsonl").read_text().splitlines()]
    assert all(r["output"] for r in rows)
    for name, s in a["stages"].items():
        assert s["items_in"] == s["kept"] + sum(s["dropped"].values()), name
    assert a["stages"]["answer"]["records_in"] == a["stages"]["self_instruct"]["kept"]
    conc = a["models"]["default"]["concurrency"]
    assert conc["ceiling"] == 16 and 1 <= conc["lowest"] <= conc["limit"] <= 16
    # rerun in place: everything from the journal
    c = run(rec, tmp_path / "a")
    assert c["llm"]["calls"] == 0 and files(tmp_path / "a") == files(tmp_path / "b")


def test_lookahead_one_is_the_paper_and_differs_from_lookahead(tmp_path, sim):
    one = run(recipe(tmp_path, sim, target=30, lookahead=1), tmp_path / "one")
    assert one["kept"] == 30
    rows = [json.loads(x) for x in (tmp_path / "one" / "dataset.jsonl").read_text().splitlines()]
    rounds = [r["provenance"]["round"] for r in rows]
    assert rounds == sorted(rounds)
    # with lookahead 1, round r > 0 samples machine instructions made in rounds < r
    machine = {r["id"]: r["provenance"]["round"] for r in rows}
    for r in rows:
        for mid in r["provenance"]["machine_examples"]:
            if mid in machine:
                assert machine[mid] < r["provenance"]["round"]


def test_cancelled_run_resumes_to_the_same_files(tmp_path, sim):
    rec = recipe(tmp_path, sim)
    whole = run(rec, tmp_path / "whole")
    out = tmp_path / "cut"

    async def cut_short():
        runner = Runner(rec, out)
        task = asyncio.create_task(runner.run())
        while (runner.run_dir is None or runner.run_dir.call_count() < whole["llm"]["calls"] // 2):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cut_short())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert not (out / "dataset.jsonl").exists()
    again = run(rec, out)
    assert again["llm"]["cache_hits"] > 0
    assert again["llm"]["calls"] + again["llm"]["cache_hits"] == whole["llm"]["calls"]
    assert files(out) == files(tmp_path / "whole")


def test_run_lock_refuses_a_second_run(tmp_path, sim):
    rec = recipe(tmp_path, sim, target=5)
    out = tmp_path / "locked"
    holder = RunDir(out, lock=True)
    try:
        with pytest.raises(TaneError) as info:
            run(rec, out)
        assert "in use" in info.value.message and info.value.exit_code == 2
    finally:
        holder.close()
    assert run(rec, out)["kept"] == 5


def test_another_recipe_in_the_same_directory_needs_force(tmp_path, sim):
    out = tmp_path / "d"
    run(recipe(tmp_path, sim, target=5, lookahead=1), out)
    other = recipe(tmp_path, sim, target=5, lookahead=2)
    with pytest.raises(TaneError) as info:
        run(other, out)
    assert "another recipe" in info.value.message and "stages 0" in info.value.message
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    # a new target is a resume, not another recipe
    assert run(recipe(tmp_path, sim, target=8, lookahead=1), out)["kept"] == 8
    assert asyncio.run(Runner(other, out, force=True).run())["kept"] == 5


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_sigterm_leaves_the_manifest_interrupted_and_the_directory_free(tmp_path):
    import os
    import signal
    import subprocess
    import time

    from helpers import ROOT, journal_count, tane_cmd

    # a slower server than the module's, so the run is surely still working when stopped
    with SimServer.start(streams=4, ttft=0.05, tps=400.0, tokens_mean=40) as slow:
        p = tmp_path / "r.yaml"
        p.write_text(RECIPE.format(url=slow.url, target=60, lookahead=1), encoding="utf-8")
        out = tmp_path / "run"
        env = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen(tane_cmd("run", str(p), "--out", str(out), "--no-progress"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                cwd=ROOT, text=True)
        deadline = time.monotonic() + 120
        while journal_count(out) < 5:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
        assert "interrupted" in proc.stderr.read()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "interrupted"
        assert not (out / "dataset.jsonl").exists()
        # the lock went with the process: the same command resumes
        again = run(load_recipe(p), out)
        assert again["kept"] == 60 and again["llm"]["cache_hits"] >= 5
