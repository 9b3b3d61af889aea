"""Adaptive concurrency: additive increase, multiplicative decrease (AIMD).

:class:`AIMDLimiter` bounds the calls in flight like a semaphore whose size moves:

* it starts at ``ceiling`` (the configured concurrency) and never exceeds it;
* an *overload* signal (the server refused with 429 or 503) cuts it to ``limit * decrease``,
  never below ``floor``;
* so does a *latency* signal: a saturated server (vLLM, SGLang) queues requests instead of
  refusing them, so each call's latency per completion token is followed in a moving
  average, and when that average climbs above ``latency_factor`` times the best recent
  level the limit is cut as well. If the average has not come down by ``relief`` (10 %)
  after such a cut, the calls are slower for another reason (longer prompts, another mix
  of requests): the higher level becomes the new normal and the limit is not cut again;
* every success otherwise grows it by ``increase / limit``, i.e. by about ``increase`` for
  each full window of calls (``increase`` defaults to ``max(1, ceiling / 16)``, so a cut of
  a 512 ceiling heals in a few round trips and a cut of an 8 ceiling in a few more).

One cut per *epoch*: a call remembers the epoch it started in, and a signal from a call that
started before the latest cut is ignored (it describes the load before the cut), so a burst
of 429s answered together cuts once, not once per reply.

Shrinking never strands a waiter: calls already in flight finish normally, and a waiter is
let in whenever fewer than ``int(limit)`` calls are in flight (and ``limit >= 1``).

With ``adaptive=False`` the limit stays at the ceiling: a plain semaphore.
"""

from __future__ import annotations

import asyncio
from collections import deque

OVERLOAD = "overload"
LATENCY = "latency"


class AIMDLimiter:
    def __init__(self, ceiling: int, *, adaptive: bool = True, floor: int = 1,
                 decrease: float = 0.7, increase: float | None = None,
                 latency_factor: float = 2.0, alpha: float = 0.05,
                 min_samples: int = 20, drift: float = 0.001, relief: float = 0.1):
        if ceiling < 1:
            raise ValueError("concurrency must be at least 1")
        if not 1 <= floor <= ceiling:
            raise ValueError("need 1 <= floor <= ceiling")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        if latency_factor <= 1:
            raise ValueError("latency_factor must be above 1")
        self.ceiling = ceiling
        self.floor = floor
        self.adaptive = adaptive
        self.decrease = decrease
        self.increase = float(increase) if increase is not None else max(1.0, ceiling / 16)
        self.latency_factor = latency_factor
        self.alpha = alpha
        self.min_samples = min_samples
        self.drift = drift
        self.relief = relief
        self.limit = float(ceiling)
        self.lowest = ceiling  # the lowest whole limit so far
        self.epoch = 0  # cuts so far
        self.cuts: dict[str, int] = {}  # cause -> cuts
        self.in_flight = 0
        self.ewma: float | None = None  # seconds per completion token, this epoch
        self.samples = 0  # samples in this epoch's average
        self.baseline: float | None = None  # best recent average
        self._trigger: float | None = None  # the average that caused the last latency cut
        self._cap = ceiling  # int(limit), kept beside it for the fast path
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return (f"AIMDLimiter(limit={self.limit:.1f}, ceiling={self.ceiling}, "
                f"in_flight={self.in_flight}, adaptive={self.adaptive})")

    @property
    def current(self) -> int:
        """The limit as a whole number of calls."""
        return self._cap

    # -- slots ---------------------------------------------------------------------------

    async def acquire(self) -> int:
        """Wait for a slot; returns the epoch the call starts in."""
        if self.in_flight < self._cap and not self._waiters:
            self.in_flight += 1
            return self.epoch
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted, then cancelled: give it back
                self.release()
            raise
        return self.epoch

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self.in_flight < self._cap:
            fut = waiters.popleft()
            if not fut.done():  # skip waiters that were cancelled while queued
                self.in_flight += 1  # the slot is handed over, not raced for
                fut.set_result(None)

    def _set_limit(self, limit: float) -> None:
        self.limit = limit
        cap = int(limit)
        grew = cap > self._cap
        self._cap = cap
        if cap < self.lowest:
            self.lowest = cap
        if grew:
            self._wake()

    # -- signals -------------------------------------------------------------------------

    def on_success(self, epoch: int, latency: float, completion_tokens: int) -> None:
        """A call that started in ``epoch`` returned after ``latency`` seconds."""
        if not self.adaptive or epoch != self.epoch:
            return
        x = latency / max(completion_tokens, 1)
        ewma = self.ewma
        self.ewma = ewma = x if ewma is None else ewma + self.alpha * (x - ewma)
        self.samples += 1
        if self.samples >= self.min_samples:
            base = self.baseline
            if base is None or ewma < base:
                self.baseline = base = ewma
            else:  # forget slowly, so that "best" means best of late
                self.baseline = base = base * (1.0 + self.drift)
            if ewma > self.latency_factor * base:
                trigger = self._trigger
                if trigger is not None and ewma > trigger * (1.0 - self.relief):
                    # the last latency cut did not bring latency down: the calls are
                    # slower (longer prompts, another mix), not queued; take it as the new
                    # normal instead of cutting again
                    self.baseline = ewma
                    self._trigger = None
                else:
                    self._trigger = ewma
                    self.cut(LATENCY)
                    return
        if self.limit < self.ceiling:
            self._set_limit(min(float(self.ceiling), self.limit + self.increase / self.limit))

    def on_overload(self, epoch: int) -> None:
        """A call that started in ``epoch`` was refused for load (429, 503)."""
        if self.adaptive and epoch == self.epoch:
            self.cut(OVERLOAD)

    def cut(self, cause: str) -> None:
        """Multiplicative decrease; starts a new epoch."""
        if cause != LATENCY:
            self._trigger = None
        self.cuts[cause] = self.cuts.get(cause, 0) + 1
        self.epoch += 1
        self.ewma = None
        self.samples = 0
        self._set_limit(max(float(self.floor), self.limit * self.decrease))
