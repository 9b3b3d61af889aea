"""Adaptive concurrency: the AIMD limiter's arithmetic, its waiters, and RetryingBackend
cutting and regrowing its limit under 429s from FaultProxy in front of the real llama.cpp
server. ``ScriptedBackend`` (tests/fakes.py, a mock) stands in for the server only where the
retry wrapper's reaction to chosen errors is checked."""

from __future__ import annotations

import asyncio

import pytest
from fakes import ScriptedBackend
from faultproxy import FaultProxy

from tane.llm.base import COMPLETION, CallStats, Completion, GenParams, LLMError, ModelInfo
from tane.llm.limiter import LATENCY, OVERLOAD, AIMDLimiter
from tane.llm.openai import OpenAIBackend
from tane.llm.retry import RetryingBackend


def run(coro):
    return asyncio.run(coro)


def feed(lim: AIMDLimiter, k: int, latency: float, tokens: int, in_flight: float,
         prompt_tokens: int = 100, epoch: int | None = None) -> None:
    for _ in range(k):
        lim.observe(lim.epoch if epoch is None else epoch, latency, tokens, prompt_tokens,
                    in_flight)


# -- arithmetic ----------------------------------------------------------------------------

def test_starts_at_the_ceiling_and_cuts_multiplicatively_to_the_floor():
    lim = AIMDLimiter(10)
    assert (lim.limit, lim.current, lim.epoch) == (10.0, 10, 0)
    lim.on_overload(0)
    assert lim.limit == pytest.approx(7.0) and lim.current == 7 and lim.epoch == 1
    expected = 7.0
    for _ in range(12):
        lim.on_overload(lim.epoch)
        expected = max(1.0, expected * 0.7)
        assert lim.limit == pytest.approx(expected)
    assert lim.current == 1 and lim.lowest == 1 and lim.cuts == {OVERLOAD: 13}
    floor = AIMDLimiter(10, floor=3)
    for e in range(10):
        floor.on_overload(e)
    assert floor.current == 3


def test_one_cut_per_epoch():
    lim = AIMDLimiter(100)
    for _ in range(50):  # a burst of 429s to calls that all started before the cut
        lim.on_overload(0)
    assert lim.current == 70 and lim.cuts == {OVERLOAD: 1}
    lim.on_overload(1)  # a call started after the first cut
    assert lim.current == 49 and lim.epoch == 2


def test_additive_increase_per_success_up_to_the_ceiling():
    assert AIMDLimiter(512).increase == 32 and AIMDLimiter(8).increase == 1
    lim = AIMDLimiter(8)
    lim.on_overload(0)
    lim.on_overload(1)  # 8 * 0.7 * 0.7 = 3.92
    limit = lim.limit
    assert limit == pytest.approx(3.92) and lim.current == 3
    for _ in range(6):
        feed(lim, 1, 1.0, 10, 4)
        limit += 1.0 / limit
        assert lim.limit == pytest.approx(limit)
    assert lim.current == 5  # about +1 per window of `limit` successes
    feed(lim, 200, 1.0, 10, 4)
    assert lim.limit == 8.0 and lim.current == 8 and lim.cuts == {OVERLOAD: 2}


def test_latency_up_with_flat_rate_is_a_queue_and_cuts():
    lim = AIMDLimiter(64)
    feed(lim, 20, 1.0, 10, 16)  # 0.1 s per token at 16 in flight: 160 tokens/s
    assert lim.best_rate == pytest.approx(160) and lim.current == 64
    # 3x the latency at 3x the calls: the same rate, so a queue. The moving averages
    # (alpha 0.05) pass 1.5x the best latency on the 6th such call
    feed(lim, 5, 3.0, 10, 48)
    assert lim.cuts == {} and lim.rate == pytest.approx(160)
    feed(lim, 1, 3.0, 10, 48)
    assert lim.cuts == {LATENCY: 1} and lim.current == 44 and lim.epoch == 1
    feed(lim, 50, 9.0, 10, 48, epoch=0)  # late answers from before the cut: ignored
    assert lim.epoch == 1 and lim.samples == 0 and lim.current == 44


def test_latency_up_with_more_throughput_is_batching_not_a_queue():
    lim = AIMDLimiter(64)
    feed(lim, 20, 1.0, 10, 4)   # 40 tokens/s
    feed(lim, 100, 3.0, 10, 48)  # 3x slower per stream, but 160 tokens/s
    assert lim.cuts == {} and lim.current == 64
    assert lim.best_rate == pytest.approx(160, rel=0.05)


def test_a_new_mix_of_calls_is_not_a_queue():
    lim = AIMDLimiter(64)
    feed(lim, 20, 1.0, 100, 32)              # long answers: 10 ms per token
    feed(lim, 100, 0.5, 2, 32, prompt_tokens=800)  # short judge replies: 250 ms per token
    feed(lim, 100, 3.0, 100, 32)  # and back to long answers, now 30 ms per token
    assert lim.cuts == {} and lim.current == 64


def test_a_cut_that_does_not_relieve_latency_is_not_repeated():
    lim = AIMDLimiter(64, alpha=1.0)  # no smoothing: each average is the last call
    feed(lim, 20, 1.0, 10, 32)
    feed(lim, 1, 3.0, 10, 32)  # 3x slower at the same load: cut to 44
    assert lim.cuts == {LATENCY: 1} and lim.current == 44
    # fewer calls in flight, latency as high as before: others load the server; stop
    feed(lim, 100, 3.0, 10, 22)
    assert lim.cuts == {LATENCY: 1} and lim.best_x == pytest.approx(0.3)


def test_a_cut_that_relieves_latency_is_followed_by_another_while_still_queued():
    lim = AIMDLimiter(64, alpha=1.0)
    feed(lim, 20, 1.0, 10, 16)
    feed(lim, 1, 4.0, 10, 64)    # 4x latency at 4x load: queue; cut to 44
    assert lim.current == 44
    feed(lim, 19, 2.75, 10, 44)  # not yet min_samples calls in this epoch
    assert lim.cuts == {LATENCY: 1}
    feed(lim, 1, 2.75, 10, 44)   # latency fell with the load, still 2.75x: cut again
    assert lim.cuts == {LATENCY: 2} and lim.current < 44 * 0.75


def test_not_adaptive_is_a_fixed_limit():
    lim = AIMDLimiter(16, adaptive=False)
    lim.on_overload(0)
    feed(lim, 20, 1.0, 10, 4)
    feed(lim, 50, 10.0, 10, 16)
    assert lim.current == 16 and lim.cuts == {} and lim.epoch == 0


def test_ticket_measures_latency_and_mean_calls_in_flight():
    now = [0.0]
    lim = AIMDLimiter(4, clock=lambda: now[0], min_samples=1)
    a = lim.try_acquire()
    now[0] = 1.0
    b = lim.try_acquire()
    now[0] = 2.0
    lim.on_success(a, completion_tokens=4)  # 2 s; 1 call for 1 s, 2 for 1 s: 1.5 on average
    lim.release()
    assert lim.x == pytest.approx(0.5) and lim.n == pytest.approx(1.5)
    assert b is not None and lim.in_flight == 1


# -- waiters -------------------------------------------------------------------------------

def test_shrinking_below_the_calls_in_flight_strands_no_waiter():
    async def go():
        lim = AIMDLimiter(4)
        active, peak, grants = 0, 0, []
        gates = [asyncio.Event() for _ in range(4)]

        async def holder(gate):
            nonlocal active
            await lim.acquire()
            active += 1
            await gate.wait()
            active -= 1
            lim.release()

        async def waiter(i):
            nonlocal active, peak
            await lim.acquire()
            active += 1
            peak = max(peak, active)
            grants.append((i, lim.current))
            await asyncio.sleep(0.001)
            active -= 1
            lim.release()

        holders = [asyncio.create_task(holder(g)) for g in gates]
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(waiter(i)) for i in range(6)]
        await asyncio.sleep(0)
        assert lim.in_flight == 4 and len(lim._waiters) == 6
        lim.on_overload(0)
        lim.on_overload(1)  # 4 -> 2.8 -> 1.96: one call at a time, four still in flight
        assert lim.current == 1
        for g in gates:
            g.set()
        await asyncio.wait_for(asyncio.gather(*holders, *waiters), 5)
        return lim, peak, grants

    lim, peak, grants = run(go())
    assert [i for i, _ in grants] == list(range(6))  # first come, first served
    assert peak == 1 and lim.in_flight == 0


def test_growth_lets_waiters_in_and_a_cancelled_waiter_keeps_no_slot():
    async def go():
        lim = AIMDLimiter(2, min_samples=1000)
        lim.on_overload(0)  # 1.4: one slot
        first = await lim.acquire()
        cancelled = asyncio.create_task(lim.acquire())
        second = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        assert not second.done()
        lim.observe(first.epoch, 1.0, 10, 0, 1)  # 1.4 + 1/1.4 = 2.11: a second slot
        await asyncio.wait_for(second, 1)
        assert lim.current == 2 and lim.in_flight == 2
        lim.release(), lim.release()
        return lim

    lim = run(go())
    assert lim.in_flight == 0 and not lim._waiters


# -- RetryingBackend -----------------------------------------------------------------------

def faults(script, delay: float = 0.005) -> ScriptedBackend:
    """The retry wrapper's inner backend here (a mock): each call takes the next script item
    after ``delay`` seconds (an LLMError is raised), then answers "ok" (20 tokens)."""
    return ScriptedBackend(script, info=ModelInfo(id="fake", backend="fake"),
                           capabilities=(COMPLETION,), delay=delay,
                           when_done=Completion("ok", "stop", 3, 20))


def overload(reason="http_429"):
    e = LLMError(reason, "injected", retryable=True)
    e.retry_after = 0.0
    return e


def test_retrying_backend_cuts_on_429_and_503_not_on_500_and_shows_it_in_stats():
    script = [overload("http_500")] * 8 + [overload("http_429")] * 8 + [overload("http_503")] * 8
    inner = faults(script)
    stats = CallStats()
    rb = RetryingBackend(inner, stats, concurrency=8, max_retries=20, base_delay=0.001)
    assert (stats.concurrency, stats.concurrency_ceiling, stats.concurrency_min) == (8, 8, 8)

    async def go():
        return await asyncio.gather(*(rb.complete(str(i), GenParams()) for i in range(8)))

    assert len(run(go())) == 8
    assert stats.retries == {"http_500": 8, "http_429": 8, "http_503": 8}
    assert stats.concurrency_cuts.get(OVERLOAD, 0) >= 2  # one per epoch, not one per reply
    assert stats.concurrency_min < 8 and stats.concurrency == rb.limiter.current
    assert stats.to_dict()["concurrency_cuts"] == stats.concurrency_cuts


def test_retrying_backend_not_adaptive_keeps_its_limit():
    inner = faults([overload()] * 8)
    stats = CallStats()
    rb = RetryingBackend(inner, stats, concurrency=4, adaptive=False, base_delay=0.001,
                         max_retries=10)

    async def go():
        await asyncio.gather(*(rb.complete(str(i), GenParams()) for i in range(20)))

    run(go())
    assert stats.concurrency == stats.concurrency_min == 4 and stats.concurrency_cuts == {}
    assert inner.peak == 4


# -- real server behind FaultProxy ---------------------------------------------------------

@pytest.mark.slow
def test_limit_backs_off_under_429s_and_grows_back(llama_server):
    """Eight calls in flight; after the first answers, FaultProxy refuses 16 requests in a
    row with 429 (Retry-After: 0), then forwards everything to the real server."""
    root = llama_server.removesuffix("/v1")
    stats = CallStats()
    trace: list[int] = []
    n = 48

    async def go(url):
        rb = RetryingBackend(OpenAIBackend(url, "m", max_connections=8), stats,
                             concurrency=8, max_retries=30, base_delay=0.01)

        async def watch():
            while True:
                if not trace or trace[-1] != stats.concurrency:
                    trace.append(stats.concurrency)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        try:
            return await asyncio.gather(*(rb.complete(f"Item {i}:",
                                                      GenParams(max_tokens=4, seed=i))
                                          for i in range(n)))
        finally:
            watcher.cancel()
            await rb.aclose()

    with FaultProxy(root, ["ok"] * 8 + ["429"] * 16) as proxy:
        outs = run(go(proxy.url))
    assert len(outs) == n and all(o.completion_tokens > 0 for o in outs)
    assert stats.failures == {} and stats.calls == n and stats.in_flight == 0
    assert stats.retries == {"http_429": 16}
    assert proxy.counts == {"ok": n, "429": 16}
    assert stats.concurrency_cuts.get(OVERLOAD, 0) >= 2
    low = trace.index(min(trace))
    assert trace[0] == 8 and min(trace) <= 3 and stats.concurrency_min == min(trace)
    # after the run of 429s the limit grows again, at least to the server's 4 slots
    assert max(trace[low:]) >= 4, trace
