"""Recipe section of a curate stage (methods/curate.py; steps in curate/steps)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..stage import StageSpec
from .base import StageBase


class CurateStep(BaseModel):
    """One curation step: ``name`` picks it, the other keys are its parameters."""

    model_config = ConfigDict(extra="allow")
    name: str


# steps that compare a record with the ones kept before it: the stage is then ordered
ORDERED_STEPS = frozenset({"near_dup", "minhash_dup", "lsh_dup", "embedding_dup", "exact_dup"})


class CurateStage(StageBase):
    """A list of curation steps (curate/steps), each dropping with a recorded reason."""

    card_text: ClassVar[str] = "Curation: rule-based filters, each drop recorded with its reason."

    method: Literal["curate"]
    lang: Literal["ja", "en", "any"] = "ja"
    steps: list[CurateStep] = Field(min_length=1)

    def contract(self) -> StageSpec:
        ordered = any(s.name in ORDERED_STEPS for s in self.steps)
        return StageSpec("transform", per_record=not ordered, ordered=ordered, llm=False)
