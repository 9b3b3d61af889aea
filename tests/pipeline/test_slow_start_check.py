"""The check before a run (``GET /v1/models``) waits as long as a call may (``--timeout``),
is retried as a call is, and calls a server that accepts connections but answers late
"slow", not "unreachable".

The server is bench/simserver.py (a real HTTP server that answers without a model) behind
``FaultProxy`` (tests/faultproxy.py), which holds a GET back (``"slow"``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from faultproxy import FaultProxy
from helpers import ROOT, run_tane

from tane.llm.openai import OpenAIBackend

sys.path.insert(0, str(ROOT / "bench"))

from simserver import SimServer  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.0, tps=5000.0, tokens_mean=30) as server:
        yield server


def recipe(tmp_path: Path, url: str, max_retries: int) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"""\
target: 2
llm: {{backend: openai, base_url: {url}, model: sim, max_retries: {max_retries}}}
seeds: {{path: bundled:en}}
stages:
  - {{method: self_instruct, mode: en, max_rounds: 2, request_batch_size: 2}}
""", encoding="utf-8")
    return path


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_one_slow_answer_to_the_check_is_retried_and_the_run_goes_on(sim, tmp_path):
    with FaultProxy(sim.url.removesuffix("/v1"), ["slow"], slow_delay=4.0) as proxy:
        res = run_tane("run", str(recipe(tmp_path, proxy.url + "/v1", 2)), "--out",
                       str(tmp_path / "run"), "--no-progress", "--timeout", "1")
        assert proxy.counts["slow"] == 1 and proxy.counts["ok"] >= 2
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete"


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_server_that_stays_slow_is_called_slow_after_its_retries(sim, tmp_path):
    with FaultProxy(sim.url.removesuffix("/v1"), ["slow"] * 10, slow_delay=4.0) as proxy:
        res = run_tane("run", str(recipe(tmp_path, proxy.url + "/v1", 1)), "--out",
                       str(tmp_path / "run"), "--no-progress", "--timeout", "1")
        gets = proxy.counts["slow"]
    assert res.returncode == 4, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "slow" in lines[0] and "cannot reach" not in lines[0]
    assert f"{proxy.url}/v1/models" in lines[0] and "--timeout" in lines[0]
    assert "2 tries" in lines[0] and gets == 2


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_the_check_waits_as_long_as_a_call_may(sim):
    """A --timeout above 15 s holds for the check too (it was cut to 15 s)."""
    async def check(url: str) -> list[str]:
        b = OpenAIBackend(url, "sim", timeout=25.0)
        try:
            return await b.check()
        finally:
            await b.aclose()

    with FaultProxy(sim.url.removesuffix("/v1"), ["slow"], slow_delay=16.0) as proxy:
        t0 = time.monotonic()
        assert asyncio.run(check(proxy.url + "/v1")) == []
        assert time.monotonic() - t0 >= 16.0
        assert proxy.counts["slow"] == 1
