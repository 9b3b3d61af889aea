"""`tane run --executor ray` on Ray's local cluster (2 CPUs) against a real llama.cpp
server: the same dataset as the local executor; a worker killed mid-run, and the driver
killed mid-run then resumed, repeat no completed call and lose nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import journal_count, max_puts, read_jsonl, read_stats, run_tane, tane_cmd

# a skip that does not import Ray: collecting this module stays cheap when it is deselected
pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                  reason="the Ray executor needs tane[ray]")]

TASKS = ["日本の首都はどこですか。", "りんごの色を一つ答えてください。", "1たす1はいくつですか。",
         "猫の鳴き声を書いてください。", "空はなぜ青いのですか。", "富士山の高さは。",
         "おすすめの朝ごはんは。", "水の沸点は何度ですか。", "月曜日の次の曜日は。",
         "犬を一言で説明してください。", "東京の次に大きい都市は。", "雨の日の過ごし方は。"]


@pytest.fixture(scope="module")
def one_slot_server():
    """A llama.cpp server with one slot and no prompt cache, so a request gets the same
    reply on every run whatever was asked before it."""
    pytest.importorskip("xllamacpp")
    from tane.llm.embedded import gemma_path, start_server

    server = start_server(gemma_path(), slots=1, ctx_per_slot=1024, host="127.0.0.1", port=0,
                          cache_prompt=False)
    yield server.listening_address + "/v1"
    del server


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recipe")
    src = folder / "tasks.jsonl"
    src.write_text("".join(json.dumps({"instruction": t}, ensure_ascii=False) + "\n"
                           for t in TASKS), encoding="utf-8")
    path = folder / "recipe.yaml"
    # answer (per record) | curate exact_dup (ordered) | curate length (per record again)
    path.write_text("""name: ray-check
source: {path: tasks.jsonl}
stages:
  - {method: answer, mode: ja, num_examples: 1, sampling: {max_tokens: 48}}
  - {method: curate, lang: ja, steps: [{name: exact_dup}]}
  - {method: curate, lang: ja, steps: [{name: length, output_min: 4}]}
""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local(one_slot_server, recipe, tmp_path_factory) -> Path:
    """The local executor's run of the recipe: what every Ray run must equal (one slot and
    no prompt cache make it reproducible, so one run serves every test)."""
    out = tmp_path_factory.mktemp("local") / "run"
    res = run_tane(*_args(recipe, out, one_slot_server))
    assert res.returncode == 0, res.stderr
    return out


def _args(recipe: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["run", str(recipe), "--out", str(out), "--llm", url, "--model", "gemma",
            "--license", "gemma", "--no-progress", *extra]


RAY = ("--executor", "ray", "--workers", "2", "--shard-size", "3")


def _same(a: Path, b: Path) -> None:
    for name in ("dataset.jsonl", "rejected.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = read_stats(a)["stages"], read_stats(b)["stages"]
    for stage in sa:
        for k in ("records_in", "kept", "dropped"):
            assert sa[stage][k] == sb[stage][k], (stage, k)


def test_the_ray_run_makes_the_local_runs_dataset(one_slot_server, recipe, local, tmp_path):
    dist = run_tane(*_args(recipe, tmp_path / "ray", one_slot_server, *RAY))
    assert dist.returncode == 0, dist.stderr
    _same(local, tmp_path / "ray")
    assert len(read_jsonl(tmp_path / "ray" / "dataset.jsonl")) >= 1
    st = read_stats(tmp_path / "ray")
    assert st["stages"]["answer"]["llm_calls"] == len(TASKS)
    # one journal: every shard absorbed; each shard left its completion marker
    shards = sorted(p.name for p in (tmp_path / "ray" / "shards").iterdir())
    assert shards and all(n.endswith(".done.json") for n in shards)
    # 12 records in shards of 3 through the answer stage; the survivors of exact_dup in
    # shards of 3 through the last stage
    last = st["stages"]["curate#2"]["records_in"]
    assert last >= 1 and len(shards) == 4 + -(-last // 3)
    assert (max_puts(tmp_path / "ray"), journal_count(tmp_path / "ray")) == (1, len(TASKS))
    # a rerun sends nothing: every shard is finished
    again = run_tane(*_args(recipe, tmp_path / "ray", one_slot_server, *RAY))
    assert again.returncode == 0, again.stderr
    st = read_stats(tmp_path / "ray")
    assert st["llm"]["calls"] == 0 and st["llm"]["cache_hits"] == len(TASKS)
    assert st["executor"] == {"name": "ray", "workers": 2, "shard_size": 3,
                              "shards_per_worker": 2,  # concurrency 4 over 2 workers
                              "shards_sent": 0, "shards_reused": len(shards)}
    _same(local, tmp_path / "ray")


def _start(recipe: Path, out: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen(tane_cmd(*_args(recipe, out, url, *RAY)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(out: Path, done: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while len(list((out / "shards").glob("*.done.json"))) < done:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no shard finished in time"
        time.sleep(0.1)


def test_killed_worker_and_killed_driver_lose_and_repeat_nothing(one_slot_server, recipe,
                                                                 local, tmp_path):

    # a worker killed mid-run: Ray restarts it and the shard is retried from its journal
    out = tmp_path / "worker"
    proc = _start(recipe, out, one_slot_server)
    _wait_for(out, 1, proc)
    pids = subprocess.run(["pgrep", "-f", "ray::ShardWorker"], capture_output=True,
                          text=True).stdout.split()
    assert pids, "no worker process found"
    os.kill(int(pids[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    _same(local, out)
    assert (max_puts(out), journal_count(out)) == (1, len(TASKS))

    # the driver killed mid-run, then the same command again
    out = tmp_path / "driver"
    proc = _start(recipe, out, one_slot_server)
    _wait_for(out, 2, proc)
    proc.kill()
    proc.communicate()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    again = run_tane(*_args(recipe, out, one_slot_server, *RAY))
    assert again.returncode == 0, again.stderr
    _same(local, out)
    # no completed call was made twice
    assert (max_puts(out), journal_count(out)) == (1, len(TASKS))
    assert read_stats(out)["llm"]["calls"] < len(TASKS)  # finished work was reused


def test_with_a_target_the_ray_run_feeds_the_records_the_local_run_feeds(one_slot_server,
                                                                           tmp_path):
    # the feed rule decides on the driver from records settled in feed order: the same
    # rows answered, the same rows held back as over_target, whichever executor
    src = tmp_path / "tasks.jsonl"
    src.write_text("".join(json.dumps({"instruction": t}, ensure_ascii=False) + "\n"
                           for t in TASKS), encoding="utf-8")
    path = tmp_path / "recipe.yaml"
    path.write_text("""name: ray-feed
target: 3
source: {path: tasks.jsonl}
stages:
  - {method: answer, mode: ja, num_examples: 1, sampling: {max_tokens: 48}}
  - {method: curate, lang: ja, steps: [{name: length, output_min: 4}]}
""", encoding="utf-8")
    local = run_tane(*_args(path, tmp_path / "local", one_slot_server))
    assert local.returncode == 0, local.stderr
    dist = run_tane(*_args(path, tmp_path / "ray", one_slot_server, *RAY))
    assert dist.returncode == 0, dist.stderr
    _same(tmp_path / "local", tmp_path / "ray")
    st = read_stats(tmp_path / "ray")
    answered = st["stages"]["answer"]["llm_calls"]
    assert st["kept"] == 3 and answered < len(TASKS)
    assert st["stages"]["answer"]["dropped"]["over_target"] == len(TASKS) - answered
