"""Recipe section of Self-Instruct (methods/self_instruct.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ..stage import StageSpec
from .base import GeneratorBase, NoveltyConfig, Sampling


class GenerateSampling(Sampling):
    """Self-Instruct's settings for instruction generation: the paper's values."""

    top_p: float = Field(0.5, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, le=32768)
    presence_penalty: float = Field(2.0, ge=-2.0, le=2.0)


class InstanceSampling(Sampling):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(300, ge=1, le=32768)


class SelfInstructStage(GeneratorBase):
    card_text: ClassVar[str] = (
        "Self-Instruct (Wang et al. 2023): the model continues a numbered list of seed and "
        "machine-written instructions; new instructions are filtered and dropped when their "
        "ROUGE-L against any earlier one is above the threshold; instances are then "
        "generated per instruction.")

    method: Literal["self_instruct"]
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    num_prompt_instructions: int = Field(8, ge=1, le=32)
    num_machine_instructions: int = Field(2, ge=0, le=32)
    request_batch_size: int = Field(4, ge=1, le=1024)
    lookahead: int = Field(1, ge=1, le=256, description=(
        "generation rounds in flight at once. 1 is the paper: each round's prompts sample "
        "machine instructions from the pool as it stands after the previous round. With N, "
        "round r samples from the pool after round r-N, so a big server stays busy; "
        "novelty decisions are still taken in round order, so runs stay reproducible"))
    classify: bool = Field(True, description="identify classification tasks (output-first "
                                              "instances); false treats all as open-ended")
    instances: Literal["full", "input_only"] = "full"
    truncated: Literal["response", "last_item"] = "response"
    sampling: GenerateSampling = GenerateSampling()
    instance_sampling: InstanceSampling = InstanceSampling()
    novelty: NoveltyConfig = NoveltyConfig()
    templates: dict[str, str] = Field(default_factory=dict,
                                      description="override template files by name")

    @model_validator(mode="after")
    def _machine_le_prompt(self) -> "SelfInstructStage":
        if self.num_machine_instructions > self.num_prompt_instructions:
            raise ValueError("num_machine_instructions cannot exceed num_prompt_instructions")
        return self

    def contract(self) -> StageSpec:
        # input_only still writes the label of a classification task (output first)
        out = {"output"} if self.instances == "full" else set()
        return StageSpec("generator", per_record=False, ordered=True, reads=frozenset(),
                         writes=frozenset({"instruction"} | out),
                         maybe_writes=frozenset({"input", "output"} - out))
