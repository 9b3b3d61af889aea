"""A server that answers, but so that no call can work, stops the run early with one line
(exit 4): the same refusal to call after call, a key refused on the calls only; and no
client session is left open when a run or an eval stops that way.

The server is bench/simserver.py (a real HTTP server that answers without a model) behind
``FaultProxy`` (tests/faultproxy.py), which injects the refusals on the POSTs only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from faultproxy import FaultProxy
from helpers import ROOT, run_tane

sys.path.insert(0, str(ROOT / "bench"))

from simserver import SimServer  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.0, tps=5000.0, tokens_mean=30) as server:
        yield server


def recipe(tmp_path: Path, url: str, concurrency: int = 4, batch: int = 2) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"""\
target: 40
llm: {{backend: openai, base_url: {url}, model: sim, concurrency: {concurrency}, max_retries: 1}}
seeds: {{path: bundled:en}}
stages:
  - {{method: self_instruct, mode: en, max_rounds: 50, request_batch_size: {batch}}}
""", encoding="utf-8")
    return path


def one_line_error(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "Unclosed" not in stderr, stderr
    return lines[0]


def status(run: Path) -> str:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))["status"]


def test_the_same_refusal_to_every_call_stops_the_run_early(sim, tmp_path):
    with FaultProxy(sim.url.removesuffix("/v1"), ["400"] * 2000, only_posts=True) as proxy:
        res = run_tane("run", str(recipe(tmp_path, proxy.url + "/v1")), "--out",
                       str(tmp_path / "run"), "--no-progress")
        refused = proxy.counts["400"]
    assert res.returncode == 4, res.stderr[-2000:]
    line = one_line_error(res.stderr)
    # the server's own message, where it came from, and why the run stopped
    assert "http_400" in line and "injected 400" in line and proxy.url in line
    assert "10 calls in a row" in line
    assert refused <= 10 + 4  # ten, and what was in flight (was: 100, every call)
    assert len(res.stderr.splitlines()) < 30
    assert status(tmp_path / "run") == "failed"


def test_a_key_refused_on_the_calls_only_is_named_with_its_url(sim, tmp_path):
    with FaultProxy(sim.url.removesuffix("/v1"), ["401"] * 2000, only_posts=True) as proxy:
        res = run_tane("run", str(recipe(tmp_path, proxy.url + "/v1")), "--out",
                       str(tmp_path / "run"), "--no-progress")
    assert res.returncode == 4, res.stderr[-2000:]
    line = one_line_error(res.stderr)
    assert f"{proxy.url}/v1/completions refused the request (HTTP 401)" in line
    assert "$OPENAI_API_KEY" in line and "injected 401" in line


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_no_client_session_is_left_open_when_every_call_fails(sim, tmp_path):
    # calls that wait to retry a dropped connection outlive the run's stop; it left a
    # session open in about half of such runs
    for i in range(4):
        with FaultProxy(sim.url.removesuffix("/v1"), ["drop"] * 2000,
                        only_posts=True) as proxy:
            res = run_tane("run", str(recipe(tmp_path, proxy.url + "/v1", concurrency=8,
                                             batch=8)),
                           "--out", str(tmp_path / f"run{i}"), "--no-progress")
        assert res.returncode == 4, res.stderr[-2000:]
        assert "connection" in one_line_error(res.stderr)  # no "Unclosed client session"


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_no_client_session_is_left_open_when_eval_is_refused_the_key(sim, tmp_path):
    with FaultProxy(sim.url.removesuffix("/v1"), ["401"] * 2000, only_posts=True) as proxy:
        for i in range(2):
            res = run_tane("eval", "answer", "bundled:elyza_ja", "--model",
                           f"m={proxy.url}/v1,model=sim,concurrency=1", "-o",
                           str(tmp_path / f"ev{i}"))
            assert res.returncode == 4, res.stderr[-2000:]
            line = one_line_error(res.stderr)  # and no "Unclosed client session"
            assert f"{proxy.url}/v1/chat/completions refused the request" in line
