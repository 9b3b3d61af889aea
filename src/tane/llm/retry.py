"""Bounded concurrency and classified retries around any :class:`Backend`.

``RetryingBackend`` speaks the same protocol as the backend it wraps. It

* bounds the number of calls in flight with an :class:`~tane.llm.limiter.AIMDLimiter` (a
  slot is held only while an attempt is running, not while backing off, so a waiting retry
  does not idle a slot). ``concurrency`` is the ceiling; with ``adaptive`` (the default)
  the limit is cut on 429/503 and when latency per token climbs, and grows back on
  successes. ``stats.concurrency`` shows the limit now, ``stats.concurrency_min`` the
  lowest so far and ``stats.concurrency_cuts`` the cuts by cause;
* retries an :class:`LLMError` whose ``retryable`` is true (429, 5xx, timeouts, connection
  errors, bad responses), up to ``max_retries`` times, after an exponential backoff with
  full jitter: ``uniform(0, min(max_delay, base_delay * 2**attempt))``; a ``retry_after``
  attribute on the error (from a Retry-After header) is honoured instead, capped at
  ``max_delay``. A *timeout* waits longer, and longer after each one: the server is still
  busy with the abandoned generation, so a quick retry only adds to its queue. The wait
  is ``c/2 + uniform(0, c/2)`` with ``c = min(timeout_max_delay, timeout_delay * 2**k)``
  (``k``: the call's timeouts before this one; 2 s, 4 s, 8 s ... up to 60 s), and the
  adaptive limit is cut (cause ``timeout``);
* counts every retry in ``stats.retries[reason]`` and every call that gives up (retries
  exhausted or a non-retryable error such as ``http_400``) in ``stats.failures[reason]``,
  then re-raises the error: a failed call is never turned into ``None``.

A server that cannot be used stops the run (the error is marked ``fatal``): ``GIVE_UP_AFTER``
calls in a row that failed after their retries (connections, 5xx, timeouts), or as many in
a row refused with the same non-retryable answer (a 400 to a parameter the server rejects:
every call would get it). A success between them starts the count again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .base import (CLOSED, COMPLETION, Backend, CallStats, Completion, GenParams, LLMError,
                   ModelInfo, TemplateSource)
from .limiter import TIMEOUT, AIMDLimiter

# refusals that mean "too much load": the adaptive limit is cut on them
OVERLOAD_REASONS = frozenset({"http_429", "http_503"})

log = logging.getLogger(__name__)
GIVE_UP_AFTER = 10

Sleep = Callable[[float], Awaitable[Any]]


class RetryingBackend(Backend):
    """Wraps ``inner``; shares ``stats`` with whoever reports progress."""

    def __init__(self, inner: Backend, stats: CallStats, *, concurrency: int = 8,
                 adaptive: bool = True, max_retries: int = 4, base_delay: float = 0.5,
                 max_delay: float = 10.0, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None, limiter: AIMDLimiter | None = None,
                 timeout: float = 0.0, timeout_delay: float = 2.0,
                 timeout_max_delay: float = 60.0):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.inner = inner
        self.stats = stats
        self.concurrency = concurrency
        self.max_retries = max_retries
        # calls failed for good in a row (each after its retries) that stop the run
        self.give_up_after = GIVE_UP_AFTER
        # the last non-retryable answer and how many calls in a row got it
        self._refusal = ""
        self._refused_in_a_row = 0
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout_delay = timeout_delay
        self.timeout_max_delay = timeout_max_delay
        stats.timeout = timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.limiter = limiter or AIMDLimiter(concurrency, adaptive=adaptive)
        stats.concurrency = stats.concurrency_min = self.limiter.current
        stats.concurrency_ceiling = self.limiter.ceiling
        stats.concurrency_cuts = self.limiter.cuts  # the same dict, kept up to date

    def __repr__(self) -> str:
        return (f"RetryingBackend({self.inner!r}, concurrency={self.concurrency}, "
                f"adaptive={self.limiter.adaptive}, max_retries={self.max_retries})")

    # -- delegated protocol attributes -------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    @property
    def capabilities(self) -> frozenset[str]:
        return self.inner.capabilities

    def model_for(self, kind: str) -> ModelInfo:
        return self.inner.model_for(kind)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def chat_template(self) -> TemplateSource | None:
        return await self.inner.chat_template()

    async def check(self) -> list[str]:
        """The inner backend's check before a run, retried as a call is: a slow or
        unreachable server is asked again, after the same waits, up to ``max_retries``
        times; then the error is final (not retryable) and says how many tries it took."""
        fn = self.inner.check
        attempt = timeouts = 0
        while True:
            try:
                return await fn()
            except LLMError as e:
                err = e
            if not err.retryable:
                raise err
            if attempt >= self.max_retries:
                message = str(err).removeprefix(f"{err.reason}: ")
                raise LLMError(err.reason, f"{message} ({attempt + 1} tries)", fatal=True)
            delay = self.backoff(attempt, err, timeouts)
            attempt += 1
            timeouts += err.reason == TIMEOUT
            log.info("server check: %s, retry %d/%d in %.2fs", err.reason, attempt,
                     self.max_retries, delay)
            await self._sleep(delay)

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """The inner backend's per-endpoint counts (an empty list if it has none)."""
        fn = getattr(self.inner, "endpoint_stats", None)
        return fn() if fn is not None else []

    # -- calls -------------------------------------------------------------------------

    async def complete(self, prompt: str, params: GenParams,
                       target: str = COMPLETION) -> Completion:
        if target == COMPLETION:
            return await self._call(lambda: self.inner.complete(prompt, params))
        return await self._call(lambda: self.inner.complete(prompt, params, target=target))

    async def chat(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        return await self._call(lambda: self.inner.chat(messages, params))

    def backoff(self, attempt: int, err: LLMError, timeouts: int = 0) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0;
        ``timeouts``: the call's timed-out attempts before this one)."""
        retry_after = err.retry_after
        if retry_after is not None:
            return min(max(0.0, float(retry_after)), self.max_delay)
        if err.reason == TIMEOUT:
            cap = min(self.timeout_max_delay, self.timeout_delay * (2 ** timeouts))
            return cap / 2 + self._rng.uniform(0.0, cap / 2)
        cap = min(self.max_delay, self.base_delay * (2 ** attempt))
        return self._rng.uniform(0.0, cap)

    def _same_refusal(self, err: LLMError) -> LLMError:
        """``err``, or a fatal copy of it once ``give_up_after`` calls in a row got this very
        answer."""
        text = str(err)
        if text == self._refusal:
            self._refused_in_a_row += 1
        else:
            self._refusal, self._refused_in_a_row = text, 1
        if err.fatal or self._refused_in_a_row < self.give_up_after:
            return err
        message = text.removeprefix(f"{err.reason}: ")
        return LLMError(err.reason, f"{message} (the same answer to {self._refused_in_a_row} "
                        "calls in a row: every call would get it)", fatal=True)

    async def _call(self, attempt_fn: Callable[[], Awaitable[Completion]]) -> Completion:
        stats = self.stats
        limiter = self.limiter
        attempt = timeouts = 0
        while True:
            ticket = await limiter.acquire()
            stats.in_flight += 1
            try:
                result = await attempt_fn()
            except LLMError as e:
                err = e
                if e.reason in OVERLOAD_REASONS:  # cut before the slot is handed on
                    limiter.on_overload(ticket)
                elif e.reason == TIMEOUT:
                    stats.timeouts += 1
                    stats.last_timeout = time.monotonic()
                    limiter.on_timeout(ticket)
            else:
                limiter.on_success(ticket, result.completion_tokens, result.prompt_tokens)
                stats.concurrency = limiter.current
                stats.concurrency_min = limiter.lowest
                stats.calls += 1
                stats.failed_in_a_row = 0
                self._refused_in_a_row = 0
                stats.prompt_tokens += result.prompt_tokens
                stats.completion_tokens += result.completion_tokens
                return result
            finally:
                stats.in_flight -= 1
                limiter.release()
            stats.concurrency = limiter.current
            stats.concurrency_min = limiter.lowest
            if err.reason == CLOSED:  # the run is stopping: nothing to count or report
                raise err
            if not err.retryable or attempt >= self.max_retries:
                stats.count(stats.failures, err.reason)
                if err.retryable:  # the server kept failing (connection, 5xx, timeouts)
                    stats.failed_in_a_row += 1
                    if stats.failed_in_a_row >= self.give_up_after:
                        err.fatal = True
                else:
                    err = self._same_refusal(err)
                log.warning("LLM call failed (%s) after %d retries", err.reason, attempt)
                raise err
            delay = self.backoff(attempt, err, timeouts)
            stats.count(stats.retries, err.reason)
            attempt += 1
            timeouts += err.reason == TIMEOUT
            log.info("LLM call: %s, retry %d/%d in %.2fs", err.reason, attempt,
                     self.max_retries, delay)
            await self._sleep(delay)
