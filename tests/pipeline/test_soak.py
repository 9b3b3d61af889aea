"""Fault soak: whole runs through the fault proxy at 30 % faults (500, 503, 429 with
Retry-After, resets, stalls longer than the timeout, half JSON bodies, empty choices).

- Against the simulated server (``bench/soak.py``, short): the run finishes, stats.json
  accounts for every injected fault by reason, the dataset equals a fault-free run's, and
  a run killed (SIGKILL) at 10 random points and resumed gives the same dataset without
  making any journaled call twice.
- Against the real llama.cpp server: each kind of fault once, the run finishes and
  stats.json counts each by its reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from faultproxy import FaultProxy
from helpers import answer_few_ja, max_puts, read_stats, run_tane

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak import REASON, expected_reasons, soak  # noqa: E402

pytestmark = pytest.mark.slow


def test_soak_through_30_percent_faults_and_ten_kills(tmp_path):
    # a 3 s timeout: a real answer of the simulated server never comes near it, even on
    # two busy cores, so every timeout counted is an injected stall
    fig = soak(tmp_path, target=40, rate=0.3, kills=10, seed=3, timeout=3.0)
    f, k = fig["faulted"], fig["killed"]
    # what soak() checks, stated here too: every fault accounted for, nothing lost
    assert f["faults_injected"] > 0.2 * f["requests"]
    assert set(f["by_kind"]) == set(REASON)  # each kind of fault happened
    assert expected_reasons(f["by_kind"]) == {
        r: f["retries"].get(r, 0) + f["failures"].get(r, 0)
        for r in set(f["retries"]) | set(f["failures"])}
    assert f["rows"] == 40 and f["rows_lost"] == 0
    assert k["kills"] == 10 and k["calls_repeated"] == 0 and k["rows_lost"] == 0
    assert k["identical_to_reference"] and k["journaled_calls"] == fig["calls"]


def test_every_kind_of_fault_against_the_real_server(llama_server, tmp_path):
    faults = ["500", "503", "429", "drop", "slow", "truncate", "empty"]
    # every fault before the first good answer, so the two records' calls meet all seven
    # whatever their order; eight retries a call, so none fails for good
    schedule = faults
    # a stall outlasts the timeout; a real call (a short question, a dozen tokens back)
    # stays well within it, even with the other test worker decoding on the second core
    recipe = answer_few_ja(tmp_path, "llm: {max_retries: 8}\n")
    with FaultProxy(llama_server.removesuffix("/v1"), schedule, slow_delay=21.0,
                    only_posts=True, retry_after="1") as proxy:
        res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"),
                       "--llm", proxy.url + "/v1", "--model", "gemma-3-270m", "--target",
                       "2", "--timeout", "20", "--no-progress")
        injected = {k: v for k, v in proxy.counts.items() if k != "ok"}
    assert res.returncode == 0, res.stderr[-3000:]
    st = read_stats(tmp_path / "run")
    assert injected == dict.fromkeys(faults, 1)
    assert st["llm"]["retries"] == expected_reasons(injected)
    assert st["llm"]["failures"] == {}
    assert st["kept"] == 2 and max_puts(tmp_path / "run") == 1
