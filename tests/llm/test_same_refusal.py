"""RetryingBackend: ten calls in a row refused with the same non-retryable answer make the
error fatal; a success or another answer between them starts the count again.

The inner backend is ``ScriptedBackend`` (tests/fakes.py), a mock: it gives the refusals
in an exact order, which a real server cannot be made to do. The end-to-end run against a
real HTTP server is in tests/pipeline/test_unusable_server.py.
"""

from __future__ import annotations

import asyncio

from fakes import ScriptedBackend

from tane.llm.base import COMPLETION, CallStats, Completion, GenParams, LLMError
from tane.llm.retry import GIVE_UP_AFTER, RetryingBackend

P = GenParams(max_tokens=4)


def refusal(text: str = "unsupported parameter: min_p") -> LLMError:
    return LLMError("http_400", text, retryable=False)


def outcomes(script: list) -> list[str]:
    """'ok', 'drop' (a non-fatal error) or 'fatal' for each call, in order."""
    rb = RetryingBackend(ScriptedBackend(script, capabilities=(COMPLETION,)), CallStats())

    async def go() -> list[str]:
        out = []
        for _ in script:
            try:
                await rb.complete("p", P)
                out.append("ok")
            except LLMError as e:
                out.append("fatal" if e.fatal else "drop")
        return out

    return asyncio.run(go())


def test_the_tenth_identical_refusal_in_a_row_is_fatal_and_quotes_the_server():
    assert GIVE_UP_AFTER == 10
    assert outcomes([refusal()] * 10) == ["drop"] * 9 + ["fatal"]
    rb = RetryingBackend(ScriptedBackend([], capabilities=(COMPLETION,),
                                         when_done=refusal()), CallStats())

    async def last() -> LLMError:
        for _ in range(9):
            try:
                await rb.complete("p", P)
            except LLMError:
                pass
        try:
            await rb.complete("p", P)
        except LLMError as e:
            return e
        raise AssertionError("no error")

    e = asyncio.run(last())
    assert e.fatal and e.reason == "http_400" and not e.retryable
    assert "unsupported parameter: min_p" in str(e) and "10 calls in a row" in str(e)


def test_a_success_or_another_answer_between_starts_the_count_again():
    ok = Completion("fine", "stop")
    assert outcomes([refusal()] * 9 + [ok] + [refusal()] * 9) == \
        ["drop"] * 9 + ["ok"] + ["drop"] * 9
    mixed = [refusal("prompt 1 is too long"), refusal("prompt 2 is too long")] * 6
    assert outcomes(mixed) == ["drop"] * 12
