"""The embedded backend against the real models shipped on PyPI."""

from __future__ import annotations

import asyncio
import re

import pytest

from tane.llm.base import GenParams
from tane.llm.embedded import EmbeddedBackend

pytestmark = pytest.mark.slow

PROMPT = "以下は日本語のタスクの一覧です。\n1. 日本の四季について説明してください。\n2. 次の文章を要約してください。\n3."


@pytest.fixture(scope="module")
def backend():
    b = EmbeddedBackend(slots=1)
    yield b
    asyncio.run(b.aclose())


def test_completion_is_japanese_with_usage(backend):
    prompt = "日本の首都は東京です。日本で一番高い山は"
    res = asyncio.run(backend.complete(prompt, GenParams(temperature=0.0, max_tokens=24,
                                                         seed=3, stop=("\n\n",))))
    assert res.completion_tokens > 0 and res.prompt_tokens > 10
    assert res.finish_reason in ("stop", "length")
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", res.text)
    assert "\n\n" not in res.text


def test_same_seed_same_text_with_one_slot(backend):
    p = GenParams(temperature=0.9, max_tokens=24, seed=123)
    a = asyncio.run(backend.complete(PROMPT, p))
    b = asyncio.run(backend.complete(PROMPT, p))
    assert a.text == b.text


def test_token_limit_gives_length(backend):
    res = asyncio.run(backend.complete(PROMPT, GenParams(max_tokens=3, seed=1)))
    assert res.finish_reason == "length" and res.completion_tokens == 3


def test_chat_uses_smollm2(backend):
    from tane.llm.embedded import smollm2_path

    assert smollm2_path().is_file()  # `make` installs it; a missing model is a failure
    res = asyncio.run(backend.chat([{"role": "user", "content": "Name a colour."}],
                                   GenParams(max_tokens=16, seed=1, temperature=0.0)))
    assert res.text.strip() and res.model.startswith("HuggingFaceTB/SmolLM2")
    assert backend.model_for("chat").license == "apache-2.0"


def test_a_seeded_request_does_not_depend_on_the_request_before(backend):
    """A streaming run interleaves requests in an order that depends on timing; with one
    slot the answer to a seeded request must not depend on what the slot held before
    (llama.cpp reuses a cached prompt prefix unless told not to)."""
    shared = "以下は日本語のタスクの一覧です。\n1. 日本の四季について説明してください。\n2. 猫の飼い方"
    params = GenParams(temperature=0.9, top_p=0.95, max_tokens=40, seed=123)

    async def after(before: str) -> str:
        await backend.complete(before, GenParams(max_tokens=4, seed=1))
        return (await backend.complete(PROMPT, params)).text

    texts = [asyncio.run(after(b)) for b in (shared, "Hello world, something else.", shared)]
    assert len(set(texts)) == 1, texts
