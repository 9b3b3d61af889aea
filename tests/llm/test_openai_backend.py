"""OpenAIBackend against a real llama.cpp server, and RetryingBackend's classification.

Faults come from two test doubles only, each named as such: ``FaultProxy`` (a real HTTP
proxy in front of the real server, tests/faultproxy.py) and ``ScriptedBackend``
(tests/fakes.py, a mock inner backend for unit tests of the retry wrapper).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket

import pytest
from fakes import ScriptedBackend
from faultproxy import FaultProxy

from tane.llm.base import (CHAT, COMPLETION, JSON_SCHEMA, RAW_CHAT, CallStats, Completion,
                           GenParams, LLMError, ModelInfo)
from tane.llm.openai import OpenAIBackend, normalise_base_url, parse_retry_after
from tane.llm.retry import RetryingBackend

SECRET = "sk-test-SECRET"
SMALL = GenParams(max_tokens=8, temperature=0.7, seed=1)


def run(coro):
    return asyncio.run(coro)


def root(base_v1: str) -> str:
    return base_v1.removesuffix("/v1")


# -- RetryingBackend unit tests (no server) ------------------------------------------------

def faults(script, delay: float = 0.0) -> ScriptedBackend:
    """The inner backend of the retry wrapper's unit tests (a mock): each call takes the
    next script item (an LLMError is raised, a Completion returned), then answers "ok"."""
    return ScriptedBackend(script, info=ModelInfo(id="fake", backend="fake"),
                           capabilities=(COMPLETION,), delay=delay,
                           when_done=Completion("ok", "stop", 3, 2))


class RecordedSleep:
    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class UpperBoundRng:
    def uniform(self, a, b):
        return b


def err(reason, retryable=True, retry_after=None):
    e = LLMError(reason, "injected", retryable=retryable)
    if retry_after is not None:
        e.retry_after = retry_after
    return e


def test_retryable_errors_are_retried_and_counted():
    inner = faults([err("http_500"), err("timeout"), err("connection"),
                    Completion("hi", "stop", 5, 7)])
    stats, sleep = CallStats(), RecordedSleep()
    rb = RetryingBackend(inner, stats, sleep=sleep, rng=UpperBoundRng())
    out = run(rb.complete("p", SMALL))
    assert out.text == "hi" and len(inner.calls) == 4
    assert stats.retries == {"http_500": 1, "timeout": 1, "connection": 1}
    assert stats.failures == {}
    assert (stats.calls, stats.prompt_tokens, stats.completion_tokens) == (1, 5, 7)
    # base_delay * 2**attempt (upper bound of jitter); after a timeout the longer wait of
    # a timed-out call (2 s for its first)
    assert sleep.delays == [0.5, 2.0, 2.0]
    assert stats.in_flight == 0


def test_non_retryable_error_is_not_retried():
    inner = faults([err("http_400", retryable=False)])
    stats, sleep = CallStats(), RecordedSleep()
    with pytest.raises(LLMError) as ei:
        run(RetryingBackend(inner, stats, sleep=sleep).complete("p", SMALL))
    assert ei.value.reason == "http_400"
    assert len(inner.calls) == 1 and sleep.delays == []
    assert stats.retries == {} and stats.failures == {"http_400": 1} and stats.calls == 0


def test_gives_up_after_max_retries():
    inner = faults([err("http_503")] * 5)
    stats, sleep = CallStats(), RecordedSleep()
    with pytest.raises(LLMError) as ei:
        run(RetryingBackend(inner, stats, max_retries=3, sleep=sleep).complete("p", SMALL))
    assert ei.value.reason == "http_503" and len(inner.calls) == 4
    assert stats.retries == {"http_503": 3} and stats.failures == {"http_503": 1}
    assert len(sleep.delays) == 3 and stats.in_flight == 0


def test_backoff_is_capped_full_jitter_and_honours_retry_after():
    rb = RetryingBackend(faults([]), CallStats(), base_delay=0.5, max_delay=10,
                         rng=UpperBoundRng())
    assert [rb.backoff(i, err("x")) for i in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert rb.backoff(0, err("http_429", retry_after=3.0)) == 3.0
    assert rb.backoff(0, err("http_429", retry_after=0)) == 0.0
    assert rb.backoff(0, err("http_429", retry_after=999)) == 10
    jitter = RetryingBackend(faults([]), CallStats(), rng=random.Random(7))
    draws = [jitter.backoff(3, err("x")) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in draws) and len(set(draws)) > 100


def test_retry_after_is_used_as_the_sleep():
    inner = faults([err("http_429", retry_after=0.0), err("http_429", retry_after=2)])
    stats, sleep = CallStats(), RecordedSleep()
    run(RetryingBackend(inner, stats, sleep=sleep).complete("p", SMALL))
    assert sleep.delays == [0.0, 2.0] and stats.retries == {"http_429": 2}


def test_concurrency_is_bounded_and_protocol_delegated():
    inner = faults([err("http_500")] * 5, delay=0.01)
    stats = CallStats()
    rb = RetryingBackend(inner, stats, concurrency=3, max_retries=10, base_delay=0.001)

    async def go():
        outs = await asyncio.gather(*(rb.complete(str(i), SMALL) for i in range(20)))
        await rb.aclose()
        return outs

    assert len(run(go())) == 20
    assert inner.peak == 3 and stats.in_flight == 0 and inner.closed
    assert stats.calls == 20 and stats.retries == {"http_500": 5}
    assert rb.info is inner.info and rb.capabilities == inner.capabilities
    assert rb.model_for(CHAT) is inner.info


def test_base_url_and_retry_after_parsing():
    for url in ("http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/"):
        assert normalise_base_url(url) == "http://h:8000/v1"
    assert parse_retry_after("0") == 0 and parse_retry_after("2.5") == 2.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past


def test_connection_refused_is_retryable_connection_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go():
        b = OpenAIBackend(f"http://127.0.0.1:{port}", "m", timeout=5)
        try:
            await b.complete("x", SMALL)
        finally:
            await b.aclose()

    with pytest.raises(LLMError) as ei:
        run(go())
    assert ei.value.reason == "connection" and ei.value.retryable


# -- real HTTP against llama.cpp -----------------------------------------------------------

@pytest.mark.slow
def test_complete_and_chat_against_real_server(llama_server):
    async def go():
        b = OpenAIBackend(llama_server, "gemma-test", license="gemma", revision="q4")
        try:
            c = await b.complete("日本の首都は", GenParams(max_tokens=4, seed=1))
            h = await b.chat([{"role": "user", "content": "Hello"}], GenParams(max_tokens=4, seed=1))
            s = await b.complete("One, two, three,",
                                 GenParams(max_tokens=32, temperature=0.0, stop=("five",)))
            return b, c, h, s
        finally:
            await b.aclose()

    b, c, h, s = run(go())
    assert b.info == ModelInfo("gemma-test", "q4", "gemma", "openai") and b.model_for(CHAT) is b.info
    assert b.capabilities == {COMPLETION, CHAT, JSON_SCHEMA, RAW_CHAT}
    for out in (c, h):
        assert isinstance(out.text, str) and out.text
        assert out.finish_reason == "length" and out.completion_tokens == 4
        assert out.prompt_tokens > 0 and out.model == "gemma-test"
    assert s.finish_reason == "stop" and "five" not in s.text and s.completion_tokens < 32


@pytest.mark.slow
def test_base_url_without_v1_and_real_404(llama_server):
    async def go():
        ok = OpenAIBackend(root(llama_server), "m")           # no /v1: normalised
        wrong = OpenAIBackend(root(llama_server) + "/nope", "m")  # real 404 from llama.cpp
        errors = []
        try:
            assert (await ok.complete("a", SMALL)).completion_tokens > 0
            for call in (wrong.complete("a", SMALL), wrong.chat([], SMALL)):
                try:
                    await call
                except LLMError as e:
                    errors.append(e)
        finally:
            await ok.aclose(), await wrong.aclose()
        return errors

    e404c, e404h = run(go())
    assert (e404c.reason, e404c.retryable) == ("http_404", False)
    assert "no raw text completions" in str(e404c)
    assert e404h.reason == "http_404" and "raw text" not in str(e404h)


@pytest.mark.slow
def test_400_from_real_server_is_not_retried(llama_server):
    stats, sleep = CallStats(), RecordedSleep()

    async def go():
        rb = RetryingBackend(OpenAIBackend(llama_server, "m"), stats, sleep=sleep)
        try:
            await rb.complete("a", GenParams(max_tokens=-5))  # llama.cpp answers 400
        finally:
            await rb.aclose()

    with pytest.raises(LLMError) as ei:
        run(go())
    assert (ei.value.reason, ei.value.retryable) == ("http_400", False) and sleep.delays == []
    assert "max_tokens" in str(ei.value)  # the body excerpt explains what was wrong
    assert stats.failures == {"http_400": 1} and stats.retries == {} and stats.calls == 0


async def _many(base: str, n: int, stats: CallStats, *, timeout=120.0, **kw):
    rb = RetryingBackend(OpenAIBackend(base, "m", timeout=timeout), stats, base_delay=0.01, **kw)
    try:
        return await asyncio.gather(*(rb.complete(f"Item {i}:", GenParams(max_tokens=8, seed=i))
                                      for i in range(n)))
    finally:
        await rb.aclose()


@pytest.mark.slow
def test_scheduled_faults_are_retried_and_counted(llama_server):
    schedule = ["500", "ok", "429", "drop", "ok", "503", "500", "drop", "429", "ok", "503"]
    stats = CallStats()
    with FaultProxy(root(llama_server), schedule) as proxy:
        outs = run(_many(proxy.url, 12, stats, concurrency=8, max_retries=8))
    assert len(outs) == 12 and all(o.completion_tokens > 0 for o in outs)
    assert stats.retries == {"http_500": 2, "http_429": 2, "connection": 2, "http_503": 2}
    assert stats.failures == {} and stats.calls == 12 and stats.in_flight == 0
    assert proxy.counts == {"ok": 12, "500": 2, "429": 2, "drop": 2, "503": 2}


@pytest.mark.slow
def test_timeouts_are_retried(llama_server):
    stats = CallStats()
    # timeouts sized so a loaded machine still answers the real requests in time
    with FaultProxy(root(llama_server), ["slow", "ok", "slow"], slow_delay=12.0) as proxy:
        outs = run(_many(proxy.url, 3, stats, timeout=10.0))
    assert len(outs) == 3
    assert stats.retries == {"timeout": 2} and stats.failures == {} and stats.calls == 3
    assert proxy.counts == {"slow": 2, "ok": 3}


@pytest.mark.slow
def test_schedule_beyond_max_retries_fails_and_is_counted(llama_server):
    stats = CallStats()
    with FaultProxy(root(llama_server), ["503", "503", "503"]) as proxy:
        with pytest.raises(LLMError) as ei:
            run(_many(proxy.url, 1, stats, max_retries=2))
    assert ei.value.reason == "http_503" and ei.value.retryable
    assert stats.retries == {"http_503": 2} and stats.failures == {"http_503": 1}
    assert stats.calls == 0 and proxy.counts == {"503": 3}


@pytest.mark.slow
def test_api_key_is_sent_but_never_leaks(llama_server, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    stats = CallStats()
    errors: list[LLMError] = []
    schedule = ["401", "500", "drop", "429", "ok", "slow"]
    with FaultProxy(root(llama_server), schedule, slow_delay=12.0, echo_auth=True) as proxy:
        inner = OpenAIBackend(proxy.url, "m", timeout=10.0)
        rb = RetryingBackend(inner, stats, base_delay=0.01, max_retries=0)

        async def go():
            try:
                for params in [SMALL] * 6 + [GenParams(max_tokens=-5)]:
                    try:
                        await rb.complete("a", params)
                    except LLMError as e:
                        errors.append(e)
            finally:
                await rb.aclose()

        run(go())
    reasons = [e.reason for e in errors]
    assert reasons == ["http_401", "http_500", "connection", "http_429", "timeout", "http_400"]
    assert "***" in str(errors[0])  # the server echoed the key; it was redacted
    assert proxy.auth_headers and set(proxy.auth_headers) == {f"Bearer {SECRET}"}
    texts = [repr(inner), repr(rb), str(stats.to_dict()), caplog.text]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    for text in texts:
        assert "SECRET" not in text, text
    assert caplog.records  # something was logged, and checked


@pytest.mark.slow
def test_no_key_means_no_authorization_header(llama_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FaultProxy(root(llama_server)) as proxy:
        run(_many(proxy.url, 1, CallStats()))
    assert proxy.auth_headers == [] and proxy.counts == {"ok": 1}


@pytest.mark.slow
def test_bad_200_body_and_retry_after_header_through_the_client(llama_server):
    async def go(url):
        b = OpenAIBackend(url, "m")
        errors = []
        try:
            for _ in range(2):
                try:
                    await b.complete("a", SMALL)
                except LLMError as e:
                    errors.append(e)
            ok = await b.complete("a", SMALL)
        finally:
            await b.aclose()
        return errors, ok

    with FaultProxy(root(llama_server), ["200", "429"]) as proxy:
        (bad, limited), ok = run(go(proxy.url))
    assert (bad.reason, bad.retryable) == ("bad_response", True)
    assert "no usable choices" in str(bad) and "injected 200" in str(bad)
    assert (limited.reason, limited.retryable, limited.retry_after) == ("http_429", True, 0.0)
    assert ok.completion_tokens > 0 and proxy.counts == {"200": 1, "429": 1, "ok": 1}


@pytest.mark.slow
def test_the_pool_keeps_max_connections_requests_open(llama_server):
    """FaultProxy holds every request for two seconds before forwarding it, so all the
    calls the pool lets through are open at the proxy at once: 160 of 160 (more than
    httpx's default pool of 100), or 40 with ``max_connections=40``."""

    def peak_open(n: int, max_connections: int) -> int:
        with FaultProxy(root(llama_server), ["slow"] * n, slow_delay=2.0) as proxy:
            peak = 0

            async def go():
                nonlocal peak
                b = OpenAIBackend(proxy.url, "m", timeout=60, max_connections=max_connections)
                calls = asyncio.gather(*(b.complete("a", GenParams(max_tokens=1, seed=i))
                                         for i in range(n)))
                try:
                    while not calls.done():
                        peak = max(peak, len(proxy._tasks))  # open proxy connections
                        await asyncio.sleep(0.02)
                    assert all(o.completion_tokens == 1 for o in calls.result())
                finally:
                    await b.aclose()

            run(go())
            assert proxy.counts == {"slow": n}
        return peak

    assert peak_open(160, 160) == 160
    assert peak_open(60, 40) == 40
