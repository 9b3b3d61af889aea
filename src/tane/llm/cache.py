"""The call cache: every completed call is journaled before its result is used.

The key is a hash of (call kind, model id, prompt or messages, sampling parameters), so
a rerun in the same run directory replays completed calls for free, and changing a later
stage reuses every call of the earlier ones. Failed calls are never journaled.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..schema import stable_hash
from .base import CHAT, COMPLETION, Backend, CallStats, Completion, GenParams, ModelInfo


class Journal(Protocol):
    def get_call(self, key: str) -> dict | None: ...

    def put_call(self, key: str, kind: str, request: dict, response: dict) -> None: ...


class CachedBackend:
    def __init__(self, inner: Backend, journal: Journal):
        self.inner = inner
        self.journal = journal
        self.info = inner.info
        self.capabilities = inner.capabilities

    def model_for(self, kind: str) -> ModelInfo:
        return self.inner.model_for(kind)

    async def complete(self, prompt: str, params: GenParams,
                       stats: CallStats | None = None) -> Completion:
        request = {"prompt": prompt, "params": params.to_dict()}
        return await self._call(COMPLETION, request, stats,
                                lambda: self.inner.complete(prompt, params))

    async def chat(self, messages: list[dict[str, str]], params: GenParams,
                   stats: CallStats | None = None) -> Completion:
        request = {"messages": messages, "params": params.to_dict()}
        return await self._call(CHAT, request, stats, lambda: self.inner.chat(messages, params))

    async def _call(self, kind, request, stats, make_call) -> Completion:
        request = {"kind": kind, "model": self.model_for(kind).id} | request
        key = stable_hash(request, 32)
        hit = self.journal.get_call(key)
        if hit is not None:
            if stats is not None:
                stats.cache_hits += 1
            return Completion.from_dict(hit, cached=True)
        started = time.perf_counter()
        result = await make_call()
        self.journal.put_call(key, kind, request,
                              result.to_dict() | {"seconds": time.perf_counter() - started})
        if stats is not None:
            stats.calls += 1
            stats.prompt_tokens += result.prompt_tokens
            stats.completion_tokens += result.completion_tokens
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()
