"""A run that cannot work stops with one line and a documented exit code: nothing
listening, a refused key, a server that dies, and a run that ends below its target."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest

from faultproxy import FaultProxy
from helpers import DATA, run_tane

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

RECIPE = str(DATA / "small_ja.yaml")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def one_line_error(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_nothing_listening_stops_before_any_stage(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    t0 = time.monotonic()
    res = run_tane("run", RECIPE, "--out", str(tmp_path / "run"), "--llm", url,
                   "--model", "m", "--no-progress")
    assert res.returncode == 4, res.stderr
    assert time.monotonic() - t0 < 60
    line = one_line_error(res.stderr)
    assert url in line and "cannot reach" in line
    assert manifest(tmp_path / "run")["status"] == "failed"
    assert not (tmp_path / "run" / "dataset.jsonl").exists()


@pytest.mark.slow
def test_a_refused_key_stops_at_once(llama_server, tmp_path):
    # the check before the first stage is refused
    with FaultProxy(llama_server.removesuffix("/v1"), ["401"] * 50) as proxy:
        res = run_tane("run", RECIPE, "--out", str(tmp_path / "a"), "--llm",
                       proxy.url + "/v1", "--model", "m", "--no-progress")
        assert proxy.counts["401"] == 1
    assert res.returncode == 4
    assert "401" in one_line_error(res.stderr) and "OPENAI_API_KEY" in res.stderr
    # the check passes, then the calls are refused: the run stops at the first answers
    with FaultProxy(llama_server.removesuffix("/v1"), ["ok"] + ["401"] * 50) as proxy:
        res = run_tane("run", RECIPE, "--out", str(tmp_path / "b"), "--llm",
                       proxy.url + "/v1", "--model", "m", "--no-progress")
        refused = proxy.counts["401"]
    assert res.returncode == 4 and "http_401" in one_line_error(res.stderr)
    assert refused <= 4  # what was in flight, not 120 rejected requests
    assert manifest(tmp_path / "b")["status"] == "failed"


@pytest.mark.slow
def test_a_server_that_dies_stops_the_run_after_a_bounded_number_of_failures(
        llama_server, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text((DATA / "small_ja.yaml").read_text(encoding="utf-8").replace(
        "seeds:", "llm: {max_retries: 1, concurrency: 2}\nseeds:", 1), encoding="utf-8")
    with FaultProxy(llama_server.removesuffix("/v1"), ["ok"] * 3 + ["drop"] * 500) as proxy:
        res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"), "--llm",
                       proxy.url + "/v1", "--model", "m", "--no-progress")
        dropped = proxy.counts["drop"]
    assert res.returncode == 4, res.stderr
    assert "connection" in one_line_error(res.stderr)
    assert dropped < 60  # ten calls failed in a row (each tried twice), and it stopped
    assert manifest(tmp_path / "run")["status"] == "failed"


def test_a_run_below_its_target_exits_3_and_says_why(tmp_path):
    with SimServer.start(streams=8, ttft=0.0, tps=5000.0, tokens_mean=40) as sim:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(f"""\
target: 500
llm: {{backend: openai, base_url: {sim.url}, model: sim, concurrency: 8}}
seeds: {{path: bundled:en}}
stages:
  - {{method: self_instruct, mode: en, max_rounds: 1, request_batch_size: 2}}
""", encoding="utf-8")
        res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress")
    assert res.returncode == 3, res.stderr
    assert "incomplete:" in res.stderr and "max_rounds" in res.stderr
    assert manifest(tmp_path / "run")["status"] == "incomplete"
