"""The calls of an eval step: one journaled, retried backend per model, and progress.

Every call goes through :class:`~tane.llm.cache.CachedBackend` on the eval directory's
journal, inside :class:`~tane.llm.retry.RetryingBackend` (the same wrappers ``tane run``
uses), so a completed call is never made twice. A call that still fails after its retries
comes back as its :class:`~tane.llm.base.LLMError` and is recorded on the row it was for;
an error every later call would get too (a refused key, a missing model, ten calls in a
row failed) stops the step with one line, exit 4.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..errors import ServerError
from ..llm.base import (
    CHAT,
    COMPLETION,
    JSON_SCHEMA,
    CallStats,
    Completion,
    GenParams,
    LLMError,
)
from ..llm.cache import CachedBackend
from ..llm.factory import build_backend
from ..schema import stable_hash
from ..store.rundir import RunDir
from .models import ModelSpec

ERROR_KEEP = 500  # characters of a server's message kept on a row


def call_seed(*parts: Any) -> int:
    """A reproducible seed for one call (part of its journal key)."""
    return int(stable_hash(list(parts), 12), 16) % (2**31 - 1)


class Caller:
    """One model of a step: calls through the journal, failures as values."""

    def __init__(self, spec: ModelSpec, rd: RunDir):
        self.spec = spec
        self.stats = CallStats()
        self.backend = CachedBackend(build_backend(spec.cfg, self.stats), rd)

    @property
    def constrained(self) -> bool:
        """Whether the output can be held to a JSON schema."""
        return JSON_SCHEMA in (self.backend.capabilities or frozenset()) and \
            self.spec.cfg.json_schema

    def info(self) -> dict[str, Any]:
        """``{where, model, license}`` for eval.json."""
        kind = CHAT if self.spec.style == "chat" else COMPLETION
        mi = self.backend.model_for(kind)
        lic = self.spec.cfg.license if self.spec.cfg.license != "unknown" else mi.license
        return {"where": self.spec.where, "model": mi.id or (self.spec.cfg.model or ""),
                "license": None if lic in ("", "unknown") else lic,
                "style": self.spec.style}

    async def check(self) -> list[str]:
        """The served model's endpoints answer and take the key (exit 4 if not)."""
        try:
            return await self.backend.check()
        except LLMError as e:
            raise ServerError(f"model {self.spec.name!r} ({self.spec.cfg.model}): {e}") from None

    async def call(self, prompt: Any, params: GenParams,
                   stats: CallStats | None = None) -> Completion | LLMError:
        """Chat messages (a list) or a completion prompt (a string)."""
        try:
            if isinstance(prompt, str):
                return await self.backend.complete(prompt, params, stats=stats)
            return await self.backend.chat(prompt, params, stats=stats)
        except LLMError as e:
            if e.fatal:
                raise ServerError(f"model {self.spec.name!r} ({self.spec.where}): "
                                  f"{str(e)[:400]}") from None
            return e

    async def aclose(self) -> None:
        await self.backend.aclose()


def error_text(e: LLMError) -> str:
    return str(e)[:ERROR_KEEP]


@dataclass
class Progress:
    """A line on stderr every few seconds while a long step runs, and one at the end."""

    label: str
    total: int
    enabled: bool = True
    every: float = 2.0
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    def tick(self, outcome: str = "ok") -> None:
        self.done += 1
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        t = time.monotonic()
        if self.enabled and t - self._last >= self.every and self.done < self.total:
            self._last = t
            self._print()

    def _print(self, final: bool = False) -> None:
        extra = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()) if k != "ok")
        secs = time.monotonic() - self.started
        print(f"{self.label}: {self.done}/{self.total}{' done' if final else ''}"
              f"{' (' + extra + ')' if extra else ''} {secs:.0f}s", file=self.stream,
              flush=True)

    def finish(self) -> None:
        if self.enabled:
            self._print(final=True)


def usage(callers: list[Caller], stats: CallStats) -> dict[str, int]:
    """Calls made and replayed by a step (``stats`` is the step's cache counter)."""
    return {"calls": stats.calls, "cache_hits": stats.cache_hits,
            "failed": sum(sum(c.stats.failures.values()) for c in callers),
            "retries": sum(sum(c.stats.retries.values()) for c in callers)}
