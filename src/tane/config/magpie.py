"""Recipe section of Magpie (methods/magpie.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..provenance import Origin, Shape
from ..stage import Cost, Counts
from .base import GeneratorBase, NoveltyConfig, Sampling, per_output
from .context import SampledAxis, SampledProvenance


class MagpieNovelty(NoveltyConfig):
    """ROUGE-L near-duplicate filter on first-turn instructions (drop above threshold)."""


class InstructionSampling(Sampling):
    """The user turn: the model's own distribution (the paper's setting)."""

    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)


class ResponseSampling(Sampling):
    max_tokens: int = Field(512, ge=1, le=32768)


class MagpieOrigin(SampledProvenance, Origin):
    """A Magpie conversation: the chat template it came from, the system prompt, the
    whole conversation (``messages``) and its turns, the novelty check."""

    METHOD: ClassVar[str] = "magpie"
    template_name: str = ""
    template_source: str = ""
    system_prompt: str = ""
    system_prompt_choice: Any = None
    system_template: str | None = None
    turns: int = 0
    messages: list[dict[str, str]] = Field(default_factory=list)
    round: int = 0
    mode: str = ""
    max_rouge: float | None = None
    most_similar: list[dict[str, Any]] = Field(default_factory=list)
    novelty: dict[str, Any] = Field(default_factory=dict)


class MagpieStage(GeneratorBase):
    """Magpie (methods/magpie.py): the chat model writes the user turn itself from the
    pre-query template, then answers it. Fields owned by that module."""

    card_text: ClassVar[str] = (
        "Magpie (Xu et al. 2024): an aligned model is given only its chat template up "
        "to the user turn and writes the instruction itself; it then answers it.")

    method: Literal["magpie"]
    provenance: ClassVar[Shape] = MagpieOrigin
    max_rounds: int = Field(200, ge=1)
    mode: Literal["ja", "en"] = Field("ja", description=(
        "language of the bundled default system prompt and of the novelty tokenizer"))
    template: str = Field("auto", description=(
        "chat template: 'auto' (chat_template_path if set, else the model's own: the "
        "embedded chat model's GGUF, or a llama.cpp server's /props) or a built-in name "
        "(chatml, qwen2, qwen3, llama3, gemma, mistral, llm-jp)"))
    chat_template_path: str | None = Field(None, description=(
        "a .gguf, a tokenizer_config.json or a Jinja file holding the model's chat template "
        "(relative to the recipe)"))
    system_prompt: str | list[str] | None = Field(None, description=(
        "None: the bundled default for the mode (ja steers to Japanese; en is empty, the "
        "paper's setting); '': no system turn; a list: one drawn per conversation"))
    turns: int = Field(1, ge=1, le=8, description="user/assistant turns per conversation")
    batch_size: int = Field(8, ge=1, le=1024, description="conversations started per round")
    min_instruction_chars: int = Field(6, ge=1, le=1000)
    instruction_sampling: InstructionSampling = InstructionSampling()
    response_sampling: ResponseSampling = ResponseSampling()
    stop: list[str] = Field(default_factory=list, max_length=8, description=(
        "more stop strings for both calls (the template's own end-of-turn markers are "
        "always used)"))
    novelty: MagpieNovelty = MagpieNovelty()
    templates: dict[str, str] = Field(default_factory=dict, description=(
        "override the bundled system prompt files (ja_system, en_system) or the lines "
        "that add the sampled context to it (ja_context, en_context)"))
    context: dict[str, SampledAxis] = Field(default_factory=dict, description=(
        "values drawn per conversation (a persona, a topic) that its system prompt shows"))

    def estimate(self, need: int, counts: Counts) -> Cost:
        return per_output(self, need, counts, 2 * self.turns * need,
                          "a user turn and a reply per turn")

    @field_validator("system_prompt")
    @classmethod
    def _non_empty_list(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and not v:
            raise ValueError("system_prompt list is empty")
        return v
