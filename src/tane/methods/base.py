"""What a method sees of the engine: its LLM (cached, retried), counters, seeds, RNG."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..llm.base import CHAT, COMPLETION, RAW_CHAT, CallStats, Completion, GenParams, LLMError
from ..llm.cache import CachedBackend
from ..schema import Drop, Record, stable_hash
from ..seeds.loader import Seed


@dataclass
class StageStats:
    name: str
    items_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    llm: CallStats = field(default_factory=CallStats)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        tokens = self.llm.completion_tokens
        return {
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
class Batch:
    """What one step of a stage produced: kept records and recorded drops."""

    records: list[Record] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)


@dataclass
class StageContext:
    name: str
    llm: CachedBackend
    stats: StageStats
    seeds: list[Seed]
    recipe_seed: int
    base_dir: Path | None = None

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
