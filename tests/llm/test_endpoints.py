"""A list of endpoints: balancing by requests in flight, taking out an endpoint that keeps
failing, the half-open probe, and real runs against the llama.cpp server with FaultProxy
killing one of two endpoints mid-run."""

from __future__ import annotations

import asyncio
import socket

import pytest
from faultproxy import FaultProxy

from tane.llm.base import CallStats, GenParams, LLMError
from tane.llm.endpoints import FAILED, HALF_OPEN, NEUTRAL, OK, OUT, UP, EndpointPool
from tane.llm.openai import OpenAIBackend
from tane.llm.retry import RetryingBackend


def run(coro):
    return asyncio.run(coro)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pick(pool: EndpointPool):
    lease = pool._pick()
    assert lease is not None
    return lease


# -- the pool ------------------------------------------------------------------------------

def test_fewest_in_flight_wins_and_ties_go_round_robin():
    pool = EndpointPool(["a", "b", "c"])
    leases = [pick(pool) for _ in range(3)]
    assert [l.endpoint.url for l in leases] == ["a", "b", "c"]
    pool.release(leases[1], OK)  # b now has nothing in flight
    assert pick(pool).endpoint.url == "b"
    for lease in leases[::2]:
        pool.release(lease, OK)
    assert [pick(pool).endpoint.url for _ in range(2)] == ["c", "a"]
    assert [e["in_flight"] for e in pool.stats()] == [1, 1, 1]


def test_three_failures_in_a_row_take_an_endpoint_out_and_a_probe_brings_it_back():
    clock = Clock()
    pool = EndpointPool(["a", "b"], fail_threshold=3, cooldown=5.0, max_cooldown=12.0,
                        clock=clock)
    a, b = pool.endpoints
    for outcome in (FAILED, FAILED, OK, FAILED, NEUTRAL, FAILED, FAILED):
        pool.release(_lease_on(pool, a), outcome)
    assert a.state == UP  # never three in a row: a success or a 4xx/429 resets the count
    pool.release(_lease_on(pool, a), FAILED)  # the third in a row
    assert a.state == OUT and a.times_out == 1 and a.failed == 6
    assert [pick(pool).endpoint.url for _ in range(3)] == ["b"] * 3  # a is skipped
    clock.now += 5.0
    assert pool.stats()[0]["state"] == HALF_OPEN
    probe = pick(pool)
    assert probe.endpoint is a and probe.probe
    assert pick(pool).endpoint is b  # one probe at a time
    pool.release(probe, FAILED)  # out again, for twice as long
    assert a.state == OUT and a.cooldown == 10.0 and a.out_until == clock.now + 10.0
    clock.now += 10.0
    probe = pick(pool)
    pool.release(probe, FAILED)
    assert a.cooldown == 12.0  # capped at max_cooldown
    clock.now += 12.0
    probe = pick(pool)
    assert probe.probe
    pool.release(probe, OK)
    assert a.state == UP and a.cooldown == 5.0 and a.times_out == 3
    assert pool.stats()[0] == {"url": "a", "state": UP, "in_flight": 0, "sent": 11,
                               "ok": 2, "failed": 8, "times_out": 3}


def _lease_on(pool: EndpointPool, ep):
    """A lease on ``ep`` (the others are made busier so that ``ep`` is picked)."""
    for other in pool.endpoints:
        if other is not ep:
            other.in_flight += 1000
    try:
        lease = pick(pool)
    finally:
        for other in pool.endpoints:
            if other is not ep:
                other.in_flight -= 1000
    assert lease.endpoint is ep
    return lease


def test_answers_to_requests_sent_before_the_time_out_change_nothing():
    clock = Clock()
    pool = EndpointPool(["a", "b"], clock=clock)
    a = pool.endpoints[0]
    old = [_lease_on(pool, a) for _ in range(5)]
    for lease in old[:3]:
        pool.release(lease, FAILED)
    assert a.state == OUT
    pool.release(old[3], OK)      # sent before it went out: does not bring it back
    pool.release(old[4], FAILED)  # nor does it lengthen the time out
    assert a.state == OUT and a.times_out == 1 and a.cooldown == 5.0
    assert (a.ok, a.failed, a.in_flight) == (1, 4, 0)


def test_a_single_endpoint_is_never_taken_out():
    pool = EndpointPool(["only"], fail_threshold=1)
    for _ in range(10):
        pool.release(pick(pool), FAILED)
    assert pool.endpoints[0].state == UP and pool.stats()[0]["failed"] == 10


def test_when_all_are_out_requests_wait_for_the_probe():
    async def go():
        pool = EndpointPool(["a", "b"], fail_threshold=1, cooldown=0.05)
        a, b = pool.endpoints
        pool.release(_lease_on(pool, a), FAILED)
        pool.release(_lease_on(pool, b), FAILED)
        assert a.state == b.state == OUT
        # the first to wake after the cooldown is a's probe; the others wait for it
        tasks = [asyncio.create_task(pool.acquire()) for _ in range(4)]
        await asyncio.sleep(0.15)
        done = [t for t in tasks if t.done()]
        assert len(done) == 2 and all(t.result().probe for t in done)  # a's and b's probes
        probe_a = next(t.result() for t in done if t.result().endpoint is a)
        probe_b = next(t.result() for t in done if t.result().endpoint is b)
        pool.release(probe_a, OK)  # a is back: the waiters go there
        rest = await asyncio.wait_for(asyncio.gather(*(t for t in tasks if t not in done)), 1)
        assert [lease.endpoint for lease in rest] == [a, a]
        pool.release(probe_b, FAILED)
        assert b.state == OUT and b.cooldown == 0.1
        return pool

    run(go())


def test_a_failed_probe_fails_the_waiters_with_a_retryable_error():
    async def go():
        pool = EndpointPool(["a", "b"], fail_threshold=1, cooldown=0.05)
        a, b = pool.endpoints
        pool.release(_lease_on(pool, a), FAILED)
        await asyncio.sleep(0.1)
        first = await pool.acquire()  # a is half-open by now: its probe
        assert first.endpoint is a and first.probe
        pool.release(_lease_on(pool, b), FAILED)  # b is out as well
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        pool.release(first, FAILED)
        with pytest.raises(LLMError) as ei:
            await asyncio.wait_for(waiter, 1)
        return ei.value

    e = run(go())
    assert e.reason == "endpoints_out" and e.retryable
    assert "all 2 endpoints are out" in str(e) and e.retry_after is not None


def test_backend_takes_a_list_and_reports_per_endpoint_counts():
    b = OpenAIBackend(["http://h1:8000", "http://h2:8000/v1/"], "m", max_connections=512)
    assert b.base_urls == ["http://h1:8000/v1", "http://h2:8000/v1"]
    assert [e["url"] for e in b.endpoint_stats()] == b.base_urls
    assert "max_connections=512" in repr(b) and "h2" in repr(b)
    rb = RetryingBackend(b, CallStats())
    assert rb.endpoint_stats() == b.endpoint_stats()
    with pytest.raises(ValueError):
        OpenAIBackend([], "m")


# -- real server ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _calls(urls, n: int, stats: CallStats, **kw):
    inner = OpenAIBackend(urls, "m", max_connections=8, cooldown=kw.pop("cooldown", 1.0))
    rb = RetryingBackend(inner, stats, concurrency=8, base_delay=0.01, max_delay=1.0,
                         max_retries=kw.pop("max_retries", 10), **kw)
    try:
        outs = await asyncio.gather(*(rb.complete(f"Item {i}:", GenParams(max_tokens=4, seed=i))
                                      for i in range(n)))
    finally:
        await rb.aclose()
    return outs, inner.endpoint_stats()


@pytest.mark.slow
def test_one_of_two_endpoints_dies_mid_run_and_nothing_is_lost(llama_server):
    """The real server directly, and the same server behind FaultProxy, which answers its
    first six requests and then resets every connection."""
    n = 40
    stats = CallStats()
    root = llama_server.removesuffix("/v1")
    with FaultProxy(root, ["ok"] * 6 + ["drop"] * 10_000) as proxy:
        outs, eps = run(_calls([llama_server, proxy.url], n, stats))
    direct, proxied = eps
    assert len(outs) == n and all(o.completion_tokens > 0 for o in outs)
    assert stats.calls == n and stats.failures == {} and stats.in_flight == 0
    assert proxied["times_out"] >= 1 and proxied["failed"] >= 3
    assert proxied["ok"] == proxy.counts["ok"] == 6
    assert proxied["failed"] == proxy.counts["drop"] == stats.retries["connection"]
    assert direct["ok"] == n - 6 and direct["failed"] == 0
    assert direct["ok"] + proxied["ok"] == n
    assert proxied["sent"] == proxied["ok"] + proxied["failed"]


@pytest.mark.slow
def test_an_unreachable_endpoint_is_counted_out(llama_server):
    stats = CallStats()
    dead = f"http://127.0.0.1:{_free_port()}"
    outs, (gone, alive) = run(_calls([dead, llama_server], 24, stats))
    assert len(outs) == 24 and stats.failures == {}
    assert gone["ok"] == 0 and gone["failed"] >= 3 and gone["times_out"] >= 1
    assert alive["ok"] == 24 and stats.retries["connection"] == gone["failed"]


@pytest.mark.slow
def test_when_both_endpoints_fail_calls_wait_for_their_return(llama_server):
    """Both endpoints (FaultProxy before the real server) reset their first three
    connections, so both are out at once; the calls wait for the first to come back."""
    stats = CallStats()
    root = llama_server.removesuffix("/v1")
    with FaultProxy(root, ["drop"] * 3) as p1, FaultProxy(root, ["drop"] * 3) as p2:
        outs, eps = run(_calls([p1.url, p2.url], 16, stats, cooldown=0.3))
        counts = (p1.counts, p2.counts)
    assert len(outs) == 16 and stats.failures == {} and stats.calls == 16
    assert all(e["times_out"] >= 1 for e in eps)
    assert sum(e["ok"] for e in eps) == 16
    assert [e["failed"] for e in eps] == [c["drop"] for c in counts] == [3, 3]
    assert stats.retries["connection"] == 6
