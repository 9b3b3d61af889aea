"""Base classes of every recipe section: unknown keys are errors; sampling parameters.

Every stage's section derives from :class:`StageBase`: it may name one of the recipe's
``models:`` and says what it is to the engine (:meth:`StageBase.contract`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..stage import StageSpec


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sampling(Strict):
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)


class NoveltyConfig(Strict):
    """ROUGE-L near-duplicate filter (tane.curate.rouge.NoveltyIndex): drop above
    ``threshold``; ``top_k`` most similar items kept in provenance."""

    threshold: float = Field(0.7, ge=0.0, le=1.0)
    tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"
    top_k: int = Field(3, ge=0, le=20)


class StageBase(Strict):
    """What every stage section has: ``method`` (set by the subclass) and ``model``."""

    # what a dataset card says of the method (the registry reads it)
    card_text: ClassVar[str] = ""
    # the card lists the models of such stages as "generation"
    writes_instructions: ClassVar[bool] = False

    model: str | None = Field(None, description=(
        "the name of one of the recipe's models: (default: the recipe's llm:)"))

    def contract(self) -> StageSpec:  # pragma: no cover - every stage overrides it
        raise NotImplementedError(type(self).__name__)

    def describe(self) -> dict[str, Any]:
        return {"method": getattr(self, "method", ""), "model": self.model or "default"}


class GeneratorBase(StageBase):
    """A stage that makes records from seeds, in rounds."""

    writes_instructions: ClassVar[bool] = True

    def contract(self) -> StageSpec:
        """Most generators write an instruction and its answer (input when the task has
        one); those that differ say so."""
        return StageSpec("generator", per_record=False, ordered=True, reads=frozenset(),
                         writes=frozenset({"instruction", "output"}),
                         maybe_writes=frozenset({"input"}))

    max_rounds: int = Field(200, ge=1)
