"""Spread requests over several OpenAI-compatible endpoints serving the same model.

:class:`EndpointPool` picks, for each request, the endpoint with the fewest requests in
flight (ties go round-robin). An endpoint whose attempts keep failing (``fail_threshold``
failures in a row: connection errors, timeouts, 5xx, unreadable bodies) is taken *out* for
``cooldown`` seconds. When the cooldown has passed it is *half-open*: exactly one request
(the probe) goes there; if the probe succeeds the endpoint is back, if it fails the endpoint
goes out again for twice as long (up to ``max_cooldown``).

When every endpoint is out, a request waits for the earliest one to come back and for its
probe's outcome. If that probe fails, the waiting requests get a retryable
:class:`LLMError` (reason ``endpoints_out``), so that the retry wrapper counts the attempt
and backs off, and a call still fails, as with one server, once its retries are spent.

With a single endpoint nothing is ever taken out: there is nowhere else to send a request,
and backing off is the retry wrapper's job.

The pool only chooses and counts; it sends nothing. A caller does::

    lease = await pool.acquire()
    ... send to lease.endpoint.url ...
    pool.release(lease, outcome)     # OK, FAILED (endpoint fault) or NEUTRAL (e.g. a 4xx)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import LLMError

OK = "ok"
FAILED = "failed"
NEUTRAL = "neutral"  # the endpoint answered, but not with a result (4xx, 429): alive

UP = "up"
OUT = "out"
HALF_OPEN = "half_open"


class Endpoint:
    """One endpoint's state and counters."""

    __slots__ = ("url", "index", "in_flight", "sent", "ok", "failed", "consecutive",
                 "state", "out_until", "cooldown", "times_out", "probe_in_flight")

    def __init__(self, url: str, index: int, cooldown: float):
        self.url = url
        self.index = index
        self.in_flight = 0
        self.sent = 0        # attempts sent here
        self.ok = 0          # attempts that returned a result
        self.failed = 0      # attempts that failed through the endpoint's fault
        self.consecutive = 0  # failures in a row
        self.state = UP
        self.out_until = 0.0
        self.cooldown = cooldown  # the next time out lasts this long
        self.times_out = 0
        self.probe_in_flight = False

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "state": self.state, "in_flight": self.in_flight,
                "sent": self.sent, "ok": self.ok, "failed": self.failed,
                "times_out": self.times_out}


@dataclass(frozen=True)
class Lease:
    endpoint: Endpoint
    probe: bool  # this request is the half-open probe of its endpoint
    epoch: int   # the endpoint's times_out when the request started


class EndpointPool:
    def __init__(self, urls: list[str], *, fail_threshold: int = 3, cooldown: float = 5.0,
                 max_cooldown: float = 60.0, clock: Callable[[], float] = time.monotonic):
        if not urls:
            raise ValueError("at least one endpoint is needed")
        if fail_threshold < 1:
            raise ValueError("fail_threshold must be at least 1")
        if cooldown <= 0 or max_cooldown < cooldown:
            raise ValueError("need 0 < cooldown <= max_cooldown")
        self.endpoints = [Endpoint(u, i, cooldown) for i, u in enumerate(urls)]
        self.fail_threshold = fail_threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._single = len(urls) == 1
        self._next = 0  # round-robin start for ties
        self._changed: asyncio.Event | None = None
        self._probe_failures = 0  # failed probes so far; waiters compare before and after

    # -- choosing ------------------------------------------------------------------------

    def _pick(self) -> Lease | None:
        eps = self.endpoints
        if self._single:
            ep = eps[0]
            ep.in_flight += 1
            ep.sent += 1
            return Lease(ep, False, ep.times_out)
        now = None
        best: Endpoint | None = None
        n = len(eps)
        start = self._next
        for k in range(n):
            ep = eps[(start + k) % n]
            state = ep.state
            if state == OUT:
                if now is None:
                    now = self._clock()
                if now < ep.out_until:
                    continue
                ep.state = state = HALF_OPEN
            if state == HALF_OPEN:
                if ep.probe_in_flight:
                    continue
                # a half-open endpoint gets the next request as its probe, at once
                ep.probe_in_flight = True
                ep.in_flight += 1
                ep.sent += 1
                return Lease(ep, True, ep.times_out)
            if best is None or ep.in_flight < best.in_flight:
                best = ep
        if best is None:
            return None
        self._next = (best.index + 1) % n
        best.in_flight += 1
        best.sent += 1
        return Lease(best, False, best.times_out)

    async def acquire(self) -> Lease:
        """The endpoint for the next attempt; waits while every endpoint is out."""
        lease = self._pick()
        if lease is not None:
            return lease
        failures_before = self._probe_failures
        while True:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            wait = self._time_to_next_return()
            try:
                if wait is None:
                    await changed.wait()
                else:
                    await asyncio.wait_for(changed.wait(), timeout=max(wait, 0.0))
            except asyncio.TimeoutError:
                pass
            if self._probe_failures != failures_before:
                raise LLMError("endpoints_out", self._out_message(), retryable=True,
                               retry_after=self._time_to_next_return())
            lease = self._pick()
            if lease is not None:
                return lease

    def _time_to_next_return(self) -> float | None:
        """Seconds until the first endpoint now out becomes half-open (None: none waits)."""
        outs = [ep.out_until for ep in self.endpoints if ep.state == OUT]
        if not outs:
            return None
        return max(0.0, min(outs) - self._clock())

    def _out_message(self) -> str:
        wait = self._time_to_next_return()
        urls = ", ".join(ep.url for ep in self.endpoints)
        when = f"; the next is tried again in {wait:.1f}s" if wait is not None else ""
        return (f"all {len(self.endpoints)} endpoints are out after repeated failures "
                f"({urls}){when}")

    # -- outcomes ------------------------------------------------------------------------

    def release(self, lease: Lease, outcome: str) -> None:
        ep = lease.endpoint
        ep.in_flight -= 1
        if outcome == FAILED:
            ep.failed += 1
        elif outcome == OK:
            ep.ok += 1
        if self._single:
            return
        changed = False
        if lease.probe:
            ep.probe_in_flight = False
            if outcome == FAILED:
                ep.cooldown = min(ep.cooldown * 2, self.max_cooldown)
                self._take_out(ep)
                self._probe_failures += 1
            else:
                ep.state = UP
                ep.consecutive = 0
                ep.cooldown = self.base_cooldown
            changed = True
        elif ep.state == UP and lease.epoch == ep.times_out:
            # answers to requests sent before the endpoint went out say nothing new
            if outcome == FAILED:
                ep.consecutive += 1
                if ep.consecutive >= self.fail_threshold:
                    self._take_out(ep)
                    changed = True
            else:
                ep.consecutive = 0
        if changed and self._changed is not None:
            self._changed.set()
            self._changed = None  # waiters hold the old event; the next wait gets a new one

    def _take_out(self, ep: Endpoint) -> None:
        ep.state = OUT
        ep.out_until = self._clock() + ep.cooldown
        ep.times_out += 1
        ep.consecutive = 0

    def stats(self) -> list[dict[str, Any]]:
        now = self._clock()
        out = []
        for ep in self.endpoints:
            d = ep.to_dict()
            if ep.state == OUT and now >= ep.out_until:
                d["state"] = HALF_OPEN
            out.append(d)
        return out
