"""Log-probabilities from the real llama.cpp server, through the call journal: asked for,
carried on the completion, stored with the call and given back the same on a replay."""

from __future__ import annotations

import asyncio

import pytest

from tane.llm.base import GenParams
from tane.llm.cache import CachedBackend
from tane.llm.openai import OpenAIBackend
from tane.store.rundir import RunDir

pytestmark = pytest.mark.slow


def test_logprobs_are_journaled_and_replayed(llama_server, tmp_path):
    messages = [{"role": "user", "content": "日本の首都は？"}]
    asked = GenParams(temperature=0.0, max_tokens=6, seed=3, logprobs=5)
    plain = GenParams(temperature=0.0, max_tokens=6, seed=3)

    async def go(rd):
        b = CachedBackend(OpenAIBackend(llama_server, "gemma"), rd)
        try:
            return await b.chat(messages, asked), await b.chat(messages, plain)
        finally:
            await b.aclose()

    rd = RunDir(tmp_path)
    try:
        first, without = asyncio.run(go(rd))
        again, _ = asyncio.run(go(rd))
    finally:
        rd.close()
    assert not first.cached and first.logprobs
    assert "".join(t["token"] for t in first.logprobs) == first.text
    assert len(first.logprobs) == first.completion_tokens
    for t in first.logprobs:
        assert len(t["top"]) == 5 and all(lp <= 0 for _, lp in t["top"])
        assert t["logprob"] <= 0
    assert without.logprobs is None  # not asked: not sent, not kept
    assert again.cached and again.logprobs == first.logprobs and again.text == first.text
