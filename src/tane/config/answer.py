"""Recipe section of the answer step (methods/answer.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..provenance import Shape, Step
from ..stage import Cost, Counts, StageSpec
from .base import Sampling, StageBase, passing, per_record
from .context import SampledAxis, SampledProvenance


class AnswerStep(SampledProvenance, Step):
    """An answer's step: the template, the few-shot examples shown, the sampling (with
    the call's seed and stops) and the sampled context drawn for it."""

    METHOD: ClassVar[str] = "answer"
    example_ids: list[str] = Field(default_factory=list)


class AnswerSampling(Sampling):
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1, le=32768)


class AnswerStage(StageBase):
    card_text: ClassVar[str] = (
        "Answer: a separate prompt writes the output for each instruction that has none, "
        "so questions and answers may come from different models.")

    method: Literal["answer"]
    provenance: ClassVar[Shape] = AnswerStep
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    num_examples: int = Field(3, ge=0, le=16)
    overwrite: bool = False
    sampling: AnswerSampling = AnswerSampling()
    templates: dict[str, str] = Field(default_factory=dict)
    context: dict[str, SampledAxis] = Field(default_factory=dict,
                                            description="values drawn per record (a persona, "
                                                        "a level) that the prompt shows")

    def contract(self) -> StageSpec:
        return StageSpec("transform", reads=frozenset({"instruction"}),
                         writes=frozenset({"output"}),
                         skip_if=None if self.overwrite else "output")

    def estimate(self, need: int, counts: Counts) -> Cost:
        # one call a record; a cut or empty answer is dropped
        return per_record(self, need, counts, 1.0, what="one call a record")

    def measure(self, stage: dict[str, Any]) -> Counts:
        return passing(stage)
