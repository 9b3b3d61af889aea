"""The call cache: every completed call is journaled before its result is used.

The key is a hash of (call kind, model id, prompt or messages, sampling parameters), so
a rerun in the same run directory replays completed calls for free, and changing a later
stage reuses every call of the earlier ones. Failed calls are never journaled.
A raw completion on the chat model is journaled as kind ``raw_chat`` (its own keys, the
chat model's id), never mixed with completions on the completion model.

A journal with ``put_call_async`` / ``get_call_async`` (:class:`~tane.store.rundir.RunDir`)
commits on its own writer thread: ``_call`` awaits the commit, so the event loop keeps
running while the response becomes durable, and a hit on a response still being committed
waits for that commit. A journal with only the synchronous methods is called directly.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..schema import stable_hash
from .base import (CHAT, COMPLETION, RAW_CHAT, Backend, CallStats, Completion, GenParams,
                   ModelInfo, TemplateSource)


class Journal(Protocol):
    """What the cache needs. Optional, preferred when present: ``async get_call_async(key)``
    and ``async put_call_async(key, kind, request, response)`` with the same meaning."""

    def get_call(self, key: str) -> dict | None: ...

    def put_call(self, key: str, kind: str, request: dict, response: dict) -> None: ...


class AsyncJournal(Protocol):
    """A journal with only the awaitable methods (a Ray shard's)."""

    async def get_call_async(self, key: str) -> dict | None: ...

    async def put_call_async(self, key: str, kind: str, request: dict,
                             response: dict) -> None: ...


class CachedBackend:
    def __init__(self, inner: Backend, journal: Journal | AsyncJournal):
        self.inner = inner
        self.journal = journal
        self._get_async = getattr(journal, "get_call_async", None)
        self._put_async = getattr(journal, "put_call_async", None)
        self.info = inner.info
        self.capabilities = inner.capabilities

    def model_for(self, kind: str) -> ModelInfo:
        return self.inner.model_for(CHAT if kind == RAW_CHAT else kind)

    async def chat_template(self) -> TemplateSource | None:
        return await self.inner.chat_template()

    async def check(self) -> list[str]:
        """The inner backend's check before a run (never from the journal)."""
        return await self.inner.check()

    async def complete(self, prompt: str, params: GenParams,
                       stats: CallStats | None = None,
                       target: str = COMPLETION) -> Completion:
        request = {"prompt": prompt, "params": params.to_dict()}
        if target == COMPLETION:
            return await self._call(COMPLETION, request, stats,
                                    lambda: self.inner.complete(prompt, params))
        if target != CHAT:
            raise ValueError(f"unknown completion target {target!r}")
        return await self._call(RAW_CHAT, request, stats,
                                lambda: self.inner.complete(prompt, params, target=CHAT))

    async def chat(self, messages: list[dict[str, str]], params: GenParams,
                   stats: CallStats | None = None) -> Completion:
        request = {"messages": messages, "params": params.to_dict()}
        return await self._call(CHAT, request, stats, lambda: self.inner.chat(messages, params))

    async def _call(self, kind, request, stats, make_call) -> Completion:
        request = {"kind": kind, "model": self.model_for(kind).id} | request
        key = stable_hash(request, 32)
        if self._get_async is not None:
            hit = await self._get_async(key)
        else:
            hit = self.journal.get_call(key)
        if stats is not None:
            stats.model = request["model"]  # what the progress table names
        if hit is not None:
            if stats is not None:
                stats.cache_hits += 1
            return Completion.from_dict(hit, cached=True)
        started = time.perf_counter()
        result = await make_call()
        response = result.to_dict() | {"seconds": time.perf_counter() - started}
        if self._put_async is not None:
            await self._put_async(key, kind, request, response)  # durable when it returns
        else:
            self.journal.put_call(key, kind, request, response)
        if stats is not None:
            stats.calls += 1
            stats.prompt_tokens += result.prompt_tokens
            stats.completion_tokens += result.completion_tokens
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()
