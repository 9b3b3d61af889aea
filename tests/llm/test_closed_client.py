"""OpenAIBackend after ``aclose()``: a call still running in the same event loop (one a
stopping run has not cancelled yet) fails instead of opening a client session that
nothing would close ("Unclosed client session" at exit); a later event loop opens a new
one. The server is bench/simserver.py, a real HTTP server that answers without a model.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from helpers import ROOT

from tane.llm.base import CallStats, GenParams, LLMError
from tane.llm.openai import OpenAIBackend
from tane.llm.retry import RetryingBackend

sys.path.insert(0, str(ROOT / "bench"))

from simserver import SimServer  # noqa: E402

P = GenParams(max_tokens=8)


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=4, ttft=0.0, tps=5000.0, tokens_mean=8) as server:
        yield server


def test_a_call_after_aclose_fails_and_opens_no_session(sim):
    b = OpenAIBackend(sim.url, "sim")
    stats = CallStats()
    rb = RetryingBackend(b, stats)

    async def go() -> LLMError:
        assert (await rb.complete("hello", P)).text
        await rb.aclose()
        try:
            await rb.complete("hello again", P)
        except LLMError as e:
            assert b._session is None  # nothing left to close
            return e
        finally:
            if b._session is not None:
                await b._session.close()
        raise AssertionError("a call after aclose() was sent")

    e = asyncio.run(go())
    assert e.reason == "closed" and e.fatal
    assert stats.failures == {}  # a stopping run's leftovers are not counted as failures

    async def later() -> str:  # another event loop: a new session
        try:
            return (await rb.complete("in a new loop", P)).text
        finally:
            await rb.aclose()

    assert asyncio.run(later())
