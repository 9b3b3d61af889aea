"""Timeouts: a slow server must not become a retry storm. A timed-out call waits longer
before each retry (the server still works on the abandoned generation), the adaptive
limit is cut, the live display says calls are timing out, and ``--timeout`` sets
``llm.timeout`` (NAME=SECONDS for a named model). The timeouts are scripted
(`ScriptedBackend`); the real HTTP path is in tests/pipeline/test_soak.py."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from fakes import ScriptedBackend

from tane.errors import TaneError
from tane.llm.base import CallStats, GenParams, LLMError
from tane.llm.limiter import TIMEOUT
from tane.llm.retry import RetryingBackend
from tane.pipeline.overrides import apply_overrides
from tane.pipeline.progress import live_table, timing_out
from tane.pipeline.runner import RunState
from tane.recipe import Recipe


def _timeout() -> LLMError:
    return LLMError("timeout", "no answer within 1s", retryable=True)


def _retrying(script, **kw):
    delays: list[float] = []

    async def sleep(s: float) -> None:
        delays.append(s)

    stats = CallStats()
    rb = RetryingBackend(ScriptedBackend(script), stats, sleep=sleep,
                         rng=random.Random(0), **kw)
    return rb, stats, delays


def test_each_timed_out_retry_waits_longer_than_the_last():
    rb, stats, delays = _retrying([_timeout()] * 5 + ["ok"], max_retries=6, concurrency=4,
                                  timeout=1.0)
    out = asyncio.run(rb.complete("p", GenParams()))
    assert out.text == "ok"
    assert len(delays) == 5
    # 2 s doubling: each wait is in [cap/2, cap], so strictly longer than the one before
    for k, d in enumerate(delays):
        cap = min(60.0, 2.0 * 2 ** k)
        assert cap / 2 <= d <= cap, (k, d)
    assert all(b > a for a, b in zip(delays, delays[1:]))
    assert stats.retries == {"timeout": 5} and stats.timeouts == 5
    # a 5xx backs off as before: full jitter under base_delay * 2**attempt
    rb, _, delays = _retrying([LLMError("http_500", retryable=True)] * 3 + ["ok"],
                              max_retries=6)
    asyncio.run(rb.complete("p", GenParams()))
    assert all(d <= 0.5 * 2 ** k for k, d in enumerate(delays))


def test_timeouts_cut_the_adaptive_limit():
    rb, stats, _ = _retrying([_timeout(), "ok"], max_retries=2, concurrency=16)
    asyncio.run(rb.complete("p", GenParams()))
    assert stats.concurrency_cuts == {TIMEOUT: 1}
    assert stats.concurrency < 16 and stats.concurrency_min < 16
    # without adaptive concurrency the limit stays
    rb, stats, _ = _retrying([_timeout(), "ok"], max_retries=2, concurrency=16,
                             adaptive=False)
    asyncio.run(rb.complete("p", GenParams()))
    assert stats.concurrency == 16 and not stats.concurrency_cuts


def test_progress_says_when_calls_are_timing_out():
    state = RunState(target=10)
    assert timing_out(state) == ""
    cs = state.models["default"] = CallStats(timeout=30.0)
    judge = state.models["judge"] = CallStats(timeout=90.0)
    assert timing_out(state) == ""
    cs.timeouts, cs.last_timeout = 3, time.monotonic() - 5
    judge.timeouts, judge.last_timeout = 1, time.monotonic() - 600  # long ago: not shown
    msg = timing_out(state)
    assert msg.startswith("calls timing out: default: 3 timed out, last 5s ago")
    assert "timeout 30s; raise it with --timeout)" in msg and "judge" not in msg
    assert live_table(state, []).caption == msg


def _recipe() -> Recipe:
    return Recipe.model_validate({
        "llm": {"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
        "models": {"judge": {"backend": "openai", "base_url": "http://127.0.0.1:2/v1",
                             "model": "j"}},
        "stages": [{"method": "self_instruct"}]})


def test_timeout_override_for_the_default_and_a_named_model():
    rec = apply_overrides(_recipe(), timeout=["600", "judge=900.5"])
    assert rec.llm.timeout == 600.0 and rec.models["judge"].timeout == 900.5
    for bad in ("0", "-3", "abc", "inf"):
        with pytest.raises(TaneError, match="--timeout: expected seconds above 0") as ei:
            apply_overrides(_recipe(), timeout=[bad])
        assert ei.value.field == "timeout"
    with pytest.raises(TaneError, match="given twice"):
        apply_overrides(_recipe(), timeout=["1", "2"])
