"""What a stage sees of the engine: its model (cached, retried), counters, seeds, RNG,
and the turns that keep a generator's stateful steps in round order.

A :class:`StageContext` is made whole, its model included: the engine builds a stage's
context only once the model it will call exists (a run's journaled backend, or
:class:`NoModel` for stages built to check a recipe or render a plan's prompts)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from ..errors import ServerError
from ..llm.base import (CHAT, COMPLETION, RAW_CHAT, CallStats, Completion, GenParams,
                        LLMError, ModelInfo, TemplateSource)
from ..schema import Drop, stable_hash
from ..seeds.loader import Seed
from ..stage import Request


class Turns:
    """Sections taken strictly in round order: ``async with turns.turn(r):`` waits until
    rounds 0..r-1 have passed. A generator with rounds in flight at once (``lookahead``)
    takes its novelty decisions and pool updates inside turns, so they happen in
    submission order whatever order the calls complete in."""

    def __init__(self) -> None:
        self.next = 0
        self._cond = asyncio.Condition()

    def turn(self, r: int) -> "_Turn":
        return _Turn(self, r)


class _Turn:
    def __init__(self, turns: Turns, r: int):
        self.turns, self.r = turns, r

    async def __aenter__(self) -> None:
        t = self.turns
        async with t._cond:
            await t._cond.wait_for(lambda: t.next == self.r)

    async def __aexit__(self, *exc: object) -> None:
        t = self.turns
        async with t._cond:
            t.next = self.r + 1
            t._cond.notify_all()


class Model(Protocol):
    """What a stage may ask of its model: the run's journaled backend
    (:class:`tane.llm.cache.CachedBackend`), or :class:`NoModel`."""

    capabilities: frozenset[str]

    async def complete(self, prompt: str, params: GenParams, stats: CallStats | None = None,
                       target: str = COMPLETION) -> Completion: ...

    async def chat(self, messages: list[dict[str, str]], params: GenParams,
                   stats: CallStats | None = None) -> Completion: ...

    def model_for(self, kind: str) -> ModelInfo: ...

    async def chat_template(self) -> TemplateSource | None: ...


class NoModel:
    """The model of stages built without a run: to check a recipe before anything starts,
    or to render a plan's prompts. It names the model and refuses every call."""

    def __init__(self, info: ModelInfo, capabilities: frozenset[str] = frozenset()):
        self.info = info
        self.capabilities = capabilities

    def _refuse(self) -> LLMError:
        return LLMError("no_model", f"{self.info.id}: stages built without a run make no "
                        "call", fatal=True)

    async def complete(self, prompt: str, params: GenParams, stats: CallStats | None = None,
                       target: str = COMPLETION) -> Completion:
        raise self._refuse()

    async def chat(self, messages: list[dict[str, str]], params: GenParams,
                   stats: CallStats | None = None) -> Completion:
        raise self._refuse()

    def model_for(self, kind: str) -> ModelInfo:
        return self.info

    async def chat_template(self) -> TemplateSource | None:
        return None


def to_params(s: Any, stop: tuple[str, ...] = (), seed: int | None = None) -> GenParams:
    """GenParams of one call from a recipe's sampling section."""
    return GenParams(**s.model_dump(), stop=tuple(stop), seed=seed)


@dataclass
class StageStats:
    """Counts of one stage, kept by the engine: ``records_in`` records reached it;
    ``items_in`` = ``kept`` + dropped (every item it decided on: a generator's
    candidates, a transform's records and, for a stage that makes several records from
    one, each attempt)."""

    name: str
    model: str = "default"
    records_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    llm: CallStats = field(default_factory=CallStats)
    active: int = 0  # records (or rounds, for a generator) inside the stage now
    first_start: float = 0.0
    last_end: float = 0.0

    @contextlib.contextmanager
    def working(self, n: int) -> Iterator[None]:
        """``n`` items inside the stage while the block runs; extends its time span."""
        self.active += n
        self.first_start = self.first_start or time.perf_counter()
        try:
            yield
        finally:
            self.active -= n
            self.last_end = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Wall seconds from the stage's first step to its last."""
        return max(self.last_end - self.first_start, 0.0) if self.first_start else 0.0

    @property
    def items_in(self) -> int:
        return self.kept + sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        tokens = self.llm.completion_tokens
        return {
            "model": self.model,
            "records_in": self.records_in,
            "items_in": self.items_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "llm_calls": self.llm.calls,
            "cache_hits": self.llm.cache_hits,
            "prompt_tokens": self.llm.prompt_tokens,
            "completion_tokens": tokens,
            "wall_seconds": round(self.seconds, 3),
            "tokens_per_second": round(tokens / self.seconds, 2) if self.seconds > 0 else 0.0,
        }


@dataclass
class StageContext:
    name: str
    llm: Model
    stats: StageStats
    seeds: list[Seed]
    recipe_seed: int
    base_dir: Path | None = None
    lookahead: int = 1
    turns: dict[str, Turns] = field(default_factory=dict)
    # reason -> the server's message of the latest failed call (for llm_error drops)
    errors: dict[str, str] = field(default_factory=dict)

    def turns_for(self, what: str) -> Turns:
        """The round-order sections named ``what`` of this stage."""
        return self.turns.setdefault(what, Turns())

    def seed_for(self, *parts: Any) -> int:
        """A reproducible integer for one call or one sampling step."""
        return int(stable_hash([self.recipe_seed, self.name, *parts], 12), 16) % (2**31 - 1)

    def rng(self, *parts: Any) -> random.Random:
        return random.Random(self.seed_for("rng", *parts))

    def drop(self, reason: str, text: str = "", record_id: str | None = None,
             **detail: Any) -> Drop:
        return Drop(stage=self.name, reason=reason, text=text, record_id=record_id,
                    detail=detail)

    def model_provenance(self, kind: str) -> dict[str, str]:
        info = self.llm.model_for(kind)
        return {"model": info.id, "model_revision": info.revision, "license": info.license,
                "backend": info.backend}

    async def call(self, kind: str, prompt: Any, params: GenParams) -> Completion | LLMError:
        """One call; a failure that survived the retries comes back as the LLMError.
        ``kind``: COMPLETION, CHAT, or RAW_CHAT (a raw text prompt in the chat model's own
        format, completed by the model that serves chat)."""
        try:
            if kind == CHAT:
                return await self.llm.chat(prompt, params, stats=self.stats.llm)
            if kind == RAW_CHAT:
                return await self.llm.complete(prompt, params, stats=self.stats.llm,
                                               target=CHAT)
            return await self.llm.complete(prompt, params, stats=self.stats.llm)
        except LLMError as e:
            self.errors[e.reason] = str(e)[:500]
            if e.fatal:
                model = self.llm.model_for(kind).id
                raise ServerError(f"stage {self.name}, model {model}: {e}"[:600]) from None
            return e

    def drop_of(self, req: Request, res: Completion | LLMError) -> Drop | None:
        """The drop of one call's outcome, or None for a reply to parse: a failed call is
        ``llm_error:<reason>`` with the server's message (``error``); a reply cut at
        ``max_tokens`` is ``req.truncated`` (when the request names one) with its
        ``raw`` text. Both name the request's ``text``, ``record_id`` and ``detail``."""
        if isinstance(res, LLMError):
            return self.drop(f"llm_error:{res.reason}", req.text, req.record_id,
                             **req.detail, error=str(res)[:500])
        if req.truncated and res.finish_reason == "length":
            text = (req.cut_text(res.text) if req.cut_text else "") or req.text
            return self.drop(req.truncated, text, req.record_id, **req.detail,
                             raw=res.text[:500])
        return None

    async def ask(self, req: Request) -> Completion | Drop:
        """One request's reply, or the drop it became (:meth:`drop_of`)."""
        res = await self.call(req.kind, req.prompt, req.params)
        drop = self.drop_of(req, res)
        if drop is not None:
            return drop
        assert isinstance(res, Completion)  # a failed call is a drop
        return res

    async def ask_all(self, requests: list[Request]) -> list[Completion | Drop]:
        """Concurrent requests; each reply, or the drop it became (:meth:`drop_of`), in
        submission order. This is where a stage's failed calls and cut replies become
        drops; a stage reads only what comes back."""
        if len(requests) == 1:  # one request (a per-record step): no extra task
            return [await self.ask(requests[0])]
        return list(await asyncio.gather(*(self.ask(q) for q in requests)))


def as_messages(text: str, system: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": text}]


KINDS = {"completion": COMPLETION, "chat": CHAT}
