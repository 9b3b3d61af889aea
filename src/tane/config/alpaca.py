"""Recipe section of Stanford Alpaca's variant of Self-Instruct (methods/alpaca.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..provenance import Origin, Shape
from ..stage import Cost, Counts
from .base import GeneratorBase, NoveltyConfig, Sampling, per_output, up


class AlpacaSampling(Sampling):
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(3072, ge=1, le=32768)


class AlpacaOrigin(Origin):
    """An Alpaca record: the round and the novelty check."""

    METHOD: ClassVar[str] = "alpaca"
    mode: str = ""
    round: int = 0
    max_rouge_l: float | None = None
    most_similar: list[dict[str, Any]] = Field(default_factory=list)


class AlpacaStage(GeneratorBase):
    card_text: ClassVar[str] = (
        "Stanford Alpaca's variant of Self-Instruct: 3 seed tasks per prompt, 20 new tasks "
        "with input and output asked per request, ROUGE-L novelty filter.")

    method: Literal["alpaca"]
    provenance: ClassVar[Shape] = AlpacaOrigin
    mode: Literal["en", "ja"] = "ja"
    num_prompt_instructions: int = Field(3, ge=1, le=16)
    tasks_per_request: int = Field(20, ge=2, le=50)
    request_batch_size: int = Field(2, ge=1, le=1024, description=(
        "prompts per round (default: 5 in en, upstream's; 2 in ja)"))
    drop_empty_output: bool = Field(True, description=(
        "drop a task whose output is empty (upstream keeps it)"))
    sampling: AlpacaSampling = AlpacaSampling()
    novelty: NoveltyConfig = NoveltyConfig()
    templates: dict[str, str] = Field(default_factory=dict)

    def estimate(self, need: int, counts: Counts) -> Cost:
        # a call asks tasks_per_request tasks; the first round sends its whole batch
        return per_output(self, need, counts,
                          max(self.request_batch_size, up(need / self.tasks_per_request)),
                          f"{self.tasks_per_request} tasks a call")

    @model_validator(mode="before")
    @classmethod
    def _upstream_defaults(cls, data: Any) -> Any:
        # en is upstream's setting: 5 prompts per batch (generate_instruction.py)
        if isinstance(data, dict) and data.get("mode") == "en":
            data = {"request_batch_size": 5} | data
        return data
