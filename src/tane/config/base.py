"""Base classes of every recipe section: unknown keys are errors; sampling parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..llm.base import GenParams


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sampling(Strict):
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)

    def to_params(self, stop: tuple[str, ...] = (), seed: int | None = None) -> GenParams:
        return GenParams(**self.model_dump(), stop=tuple(stop), seed=seed)


class NoveltyConfig(Strict):
    """ROUGE-L near-duplicate filter (tane.curate.rouge.NoveltyIndex): drop above
    ``threshold``; ``top_k`` most similar items kept in provenance."""

    threshold: float = Field(0.7, ge=0.0, le=1.0)
    tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"
    top_k: int = Field(3, ge=0, le=20)
