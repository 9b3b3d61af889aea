"""Adaptive concurrency: additive increase, multiplicative decrease (AIMD).

:class:`AIMDLimiter` bounds the calls in flight like a semaphore whose size moves:

* it starts at ``ceiling`` (the configured concurrency) and never exceeds it;
* an *overload* signal (the server refused with 429 or 503) cuts it to ``limit * decrease``
  (x0.7), never below ``floor``; so does a *timeout* (a call got no answer in time: the
  server is too slow for the calls in flight, and it still works on the abandoned one);
* so does a *queue* signal. A saturated server (vLLM, SGLang) queues requests instead of
  refusing them: the latency per completion token climbs while the server's throughput
  stays flat. Latency alone is not enough, because a batching server also gets slower per
  stream as it takes on more streams, and that is throughput, not a queue (llama.cpp on two
  CPU cores: 72 tok/s at one slot, 139 at eight, each stream 3.9x slower). So the limiter
  follows, in moving averages over the calls of the current epoch, the latency and the
  completion tokens of a call (their ratio is the latency per token ``x``) and the calls in
  flight ``n`` (averaged over each call's lifetime), and estimates the server's token rate
  as ``n / x`` (Little's law). It keeps the *best point*: the highest rate seen lately and the latency
  there. A point with a rate at least ``gain`` (10 %) above it becomes the new best point.
  A cut comes when latency, per token and per call alike, has climbed above
  ``latency_factor`` (1.5x) the best point's while the rate has not risen: the extra calls
  only wait in the server's queue;
* every success otherwise grows the limit by ``increase / limit``, i.e. by about
  ``increase`` for each full window of calls (``increase`` defaults to
  ``max(1, ceiling / 16)``: a cut of a 512 ceiling heals in a few round trips, a cut of an
  8 ceiling in a few more).

Guards against cutting for the wrong reason:

* one cut per *epoch*: a call remembers the epoch it started in, and a signal from a call
  that started before the latest cut is ignored (it describes the load before the cut), so
  a burst of 429s answered together cuts once, not once per reply; the averages restart
  after each cut and need ``min_samples`` calls before the next latency decision;
* the best point is dropped when the mix of calls changes (mean completion or prompt tokens
  off by 2x): a stage of short judge replies is slower per token without any queue;
* if a latency cut took calls out of flight (``relief``, 10 %) but did not bring latency
  down by as much, the calls are slower for another reason (a server shared with others, a
  slower phase): the present point becomes the best point and no further cut follows.

A call's life: ``ticket = await limiter.acquire()``, then ``limiter.release()`` and one of
``limiter.on_success(ticket, completion_tokens, prompt_tokens)`` or
``limiter.on_overload(ticket)``. ``observe()`` takes one measured call directly.

Shrinking never strands a waiter: calls already in flight finish normally, and a waiter is
let in whenever fewer than ``int(limit)`` calls are in flight (``limit >= floor >= 1``).

With ``adaptive=False`` the limit stays at the ceiling: a plain semaphore.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

OVERLOAD = "overload"
LATENCY = "latency"
TIMEOUT = "timeout"


class Ticket(NamedTuple):
    """What a call remembers from its start."""

    epoch: int
    start: float  # clock
    area: float   # the limiter's integral of calls in flight over time, at the start


class AIMDLimiter:
    def __init__(self, ceiling: int, *, adaptive: bool = True, floor: int = 1,
                 decrease: float = 0.7, increase: float | None = None,
                 latency_factor: float = 1.5, gain: float = 0.1, alpha: float = 0.05,
                 min_samples: int = 20, relief: float = 0.1, mix_change: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
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
        self.gain = gain
        self.alpha = alpha
        self.min_samples = max(1, min_samples)
        self.relief = relief
        self.mix_change = mix_change
        self.limit = float(ceiling)
        self.lowest = ceiling  # the lowest whole limit so far
        self.epoch = 0  # cuts so far
        self.cuts: dict[str, int] = {}  # cause -> cuts
        self.in_flight = 0
        # moving averages over this epoch's calls
        self.samples = 0
        self.lat: float = 0.0  # seconds per call
        self.x: float = 0.0   # seconds per completion token: lat / tok
        self.n: float = 0.0   # calls in flight when a call ended
        self.tok: float = 0.0  # completion tokens per call
        self.ptok: float = 0.0  # prompt tokens per call
        # the best point lately: its rate (tokens/s), latency per token, and call mix
        self.best_rate: float | None = None
        self.best_x = 0.0
        self.best_lat = 0.0
        self.best_tok = 0.0
        self.best_ptok = 0.0
        # latency and calls in flight that caused the last latency cut
        self._trigger: tuple[float, float] | None = None
        self._cap = ceiling  # int(limit), kept beside it for the fast path
        self._clock = clock
        self._area = 0.0  # integral of in_flight over time, up to _since
        self._since = clock()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return (f"AIMDLimiter(limit={self.limit:.1f}, ceiling={self.ceiling}, "
                f"in_flight={self.in_flight}, adaptive={self.adaptive})")

    @property
    def current(self) -> int:
        """The limit as a whole number of calls."""
        return self._cap

    @property
    def rate(self) -> float | None:
        """The server's token rate estimated from this epoch's calls (None before
        ``min_samples`` calls)."""
        return self.n / self.x if self.samples >= self.min_samples and self.x > 0 else None

    # -- slots ---------------------------------------------------------------------------

    def _tick(self) -> float:
        """Bring the in-flight integral up to now; returns now."""
        now = self._clock()
        self._area += self.in_flight * (now - self._since)
        self._since = now
        return now

    def try_acquire(self) -> Ticket | None:
        """A slot at once, or None when the limit is reached or others wait."""
        if self.in_flight < self._cap and not self._waiters:
            now = self._tick()
            self.in_flight += 1
            return Ticket(self.epoch, now, self._area)
        return None

    async def acquire(self) -> Ticket:
        """Wait for a slot."""
        if self.in_flight < self._cap and not self._waiters:
            now = self._tick()
            self.in_flight += 1
            return Ticket(self.epoch, now, self._area)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted, then cancelled: give it back
                self.release()
            raise
        # _wake counted this call in when it handed the slot over
        now = self._tick()
        return Ticket(self.epoch, now, self._area)

    def release(self) -> None:
        self._tick()
        self.in_flight -= 1
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self.in_flight < self._cap:
            fut = waiters.popleft()
            if not fut.done():  # skip waiters that were cancelled while queued
                self._tick()
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

    def on_success(self, ticket: Ticket, completion_tokens: int,
                   prompt_tokens: int = 0) -> None:
        """The call that got ``ticket`` returned a result; call before ``release()``."""
        if not self.adaptive or ticket.epoch != self.epoch:
            return
        now = self._tick()
        latency = now - ticket.start
        if latency > 0:
            in_flight = (self._area - ticket.area) / latency
        else:
            in_flight = float(self.in_flight)
        self.observe(ticket.epoch, latency, completion_tokens, prompt_tokens, in_flight)

    def observe(self, epoch: int, latency: float, completion_tokens: int,
                prompt_tokens: int, in_flight: float) -> None:
        """One successful call that started in ``epoch``: ``latency`` seconds, while on
        average ``in_flight`` calls (itself included) were open."""
        if not self.adaptive or epoch != self.epoch:
            return
        tokens = max(completion_tokens, 1)
        n = float(in_flight)
        if self.samples == 0:
            self.lat, self.n = latency, n
            self.tok, self.ptok = float(tokens), float(prompt_tokens)
        else:
            a = self.alpha
            self.lat += a * (latency - self.lat)
            self.n += a * (n - self.n)
            self.tok += a * (tokens - self.tok)
            self.ptok += a * (prompt_tokens - self.ptok)
        self.x = self.lat / self.tok
        self.samples += 1
        if self.samples >= self.min_samples and self.x > 0 and self._latency_says_cut():
            self.cut(LATENCY)
            return
        if self.limit < self.ceiling:
            self._set_limit(min(float(self.ceiling), self.limit + self.increase / self.limit))

    def _latency_says_cut(self) -> bool:
        rate = self.n / self.x
        best = self.best_rate
        if (best is None or rate > best * (1.0 + self.gain)
                or not self._same_mix(self.tok, self.best_tok)
                or not self._same_mix(self.ptok, self.best_ptok)):
            self._rebase(rate)
            return False
        if (self.x <= self.latency_factor * self.best_x
                or self.lat <= self.latency_factor * self.best_lat):
            # a queue delays every call: latency per token and per call both climb. A
            # change of mix moves them apart (shorter replies: less per call, more per
            # token), so only both together count
            return False
        # latency well up, rate not: the calls above the server's capacity only queue
        trigger = self._trigger
        if (trigger is not None and self.n <= trigger[1] * (1.0 - self.relief)
                and self.x > trigger[0] * (1.0 - self.relief)):
            # the last latency cut took calls out of flight but did not bring latency
            # down: the queue is not ours
            self._rebase(rate)
            return False
        self._trigger = (self.x, self.n)
        return True

    def _same_mix(self, now: float, then: float) -> bool:
        lo, hi = (now, then) if now < then else (then, now)
        return hi <= self.mix_change * max(lo, 1.0)

    def _rebase(self, rate: float) -> None:
        self.best_rate, self.best_x, self.best_lat = rate, self.x, self.lat
        self.best_tok, self.best_ptok = self.tok, self.ptok
        self._trigger = None

    def on_overload(self, ticket: Ticket | int) -> None:
        """The call with ``ticket`` (or that started in epoch ``ticket``) was refused for
        load (429, 503)."""
        epoch = ticket if isinstance(ticket, int) else ticket.epoch
        if self.adaptive and epoch == self.epoch:
            self.cut(OVERLOAD)

    def on_timeout(self, ticket: Ticket | int) -> None:
        """The call with ``ticket`` got no answer within its timeout."""
        epoch = ticket if isinstance(ticket, int) else ticket.epoch
        if self.adaptive and epoch == self.epoch:
            self.cut(TIMEOUT)

    def cut(self, cause: str) -> None:
        """Multiplicative decrease; starts a new epoch."""
        if cause != LATENCY:
            self._trigger = None
        self.cuts[cause] = self.cuts.get(cause, 0) + 1
        self.epoch += 1
        self.samples = 0
        self._set_limit(max(float(self.floor), self.limit * self.decrease))
