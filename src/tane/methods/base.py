"""What a method sees of the engine: its LLM (cached, retried), counters, seeds, RNG, and
the turns that keep a generator's stateful steps in round order."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..llm.base import CHAT, COMPLETION, RAW_CHAT, CallStats, Completion, GenParams, LLMError
from ..llm.cache import CachedBackend
from ..errors import ServerError
from ..schema import Drop, Record, stable_hash  # noqa: F401  (Record: for methods)
from ..seeds.loader import Seed
from ..stage import Batch, prompt_text  # noqa: F401  (Batch: methods import it from here)


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

    async def __aexit__(self, *exc: Any) -> None:
        t = self.turns
        async with t._cond:
            t.next = self.r + 1
            t._cond.notify_all()


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
    llm: CachedBackend
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

    async def call_all(self, kind: str, prompts: list[Any],
                       params: list[GenParams]) -> list[Completion | LLMError]:
        """Concurrent calls; results in submission order, not completion order."""
        return list(await asyncio.gather(*(self.call(kind, p, q)
                                           for p, q in zip(prompts, params))))


def as_messages(text: str, system: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": text}]


KINDS = {"completion": COMPLETION, "chat": CHAT}


class RecordTransform:
    """The engine's half of a per-record LLM transform (:class:`tane.stage.LLMTransform`).

    A subclass says what to ask (``prompt(record) -> Request | None``; None passes the
    record on unchanged) and how to read the reply (``parse(record, request, completion)
    -> Record | Drop``). This class makes the calls concurrently, turns a failed call into
    an ``llm_error:<reason>`` drop carrying the server's message, and appends the call's
    provenance (stage, method, model, licence, the request's ``meta``, finish reason) to
    each record the reply made."""

    method = ""
    ctx: StageContext

    def prompt(self, record: Record) -> Any:  # pragma: no cover - subclasses
        raise NotImplementedError

    def parse(self, record: Record, request: Any, completion: Completion) -> Record | Drop:
        raise NotImplementedError  # pragma: no cover - subclasses

    def preview(self, record: Record | None, i: int) -> str | None:
        """The prompt's text for ``record`` (:class:`tane.stage.Previews`)."""
        q = self.prompt(record) if record is not None else None
        return prompt_text(q.prompt) if q is not None else None

    async def process(self, records: list[Record]) -> Batch:
        ctx, batch = self.ctx, Batch()
        requests = [self.prompt(r) for r in records]
        asked = [(r, q) for r, q in zip(records, requests) if q is not None]
        if len(asked) == 1:  # one record (the engine's per-record steps): no extra task
            q = asked[0][1]
            results = [await ctx.call(q.kind, q.prompt, q.params)]
        else:
            results = await asyncio.gather(*(ctx.call(q.kind, q.prompt, q.params)
                                             for _, q in asked))
        replies = {id(q): res for (_, q), res in zip(asked, results)}
        for rec, req in zip(records, requests):
            if req is None:
                batch.records.append(rec)
                continue
            res = replies[id(req)]
            if isinstance(res, LLMError):
                batch.drops.append(ctx.drop(f"llm_error:{res.reason}", rec.instruction, rec.id,
                                            error=str(res)[:500]))
                continue
            out = self.parse(rec, req, res)
            if isinstance(out, Drop):
                batch.drops.append(out)
                continue
            step = {"stage": ctx.name, "method": self.method,
                    **ctx.model_provenance(req.kind), **req.meta,
                    "finish_reason": res.finish_reason}
            # a new steps list on a shallow copy: the input record is not changed
            prov = out.provenance.model_copy(update={"steps": [*out.provenance.steps, step]})
            batch.records.append(out.model_copy(update={"provenance": prov}))
        return batch
