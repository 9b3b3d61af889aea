"""Recipe section of AgentInstruct flows (methods/agent_instruct.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..provenance import Origin, Shape
from ..stage import Cost, Counts
from .base import GeneratorBase, NoveltyConfig, Sampling, per_output

AGENTS = ("argument", "debate", "conversation", "meeting", "poem", "satire", "instructional",
          "long_text", "identity")
DOC_TYPES = (".txt", ".md", ".html", ".htm", ".pdf")


class AgentNovelty(NoveltyConfig):
    """Near-duplicate questions (ROUGE-L F above ``threshold``); ``scope: chunk`` compares
    questions about the same document chunk, ``all`` compares every question."""

    scope: Literal["chunk", "all"] = "chunk"


class TransformSampling(Sampling):
    max_tokens: int = Field(384, ge=1, le=32768)


class AgentQuestionSampling(Sampling):
    """The question and refinement calls."""

    max_tokens: int = Field(160, ge=1, le=32768)


class AgentAnswerSampling(Sampling):
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)


class AgentInstructOrigin(Origin):
    """An AgentInstruct record: the document chunk it read, the agent that rewrote it,
    the question type, the refinements, the answer call, the novelty check."""

    METHOD: ClassVar[str] = "agent_instruct"
    mode: str = ""
    prompt_style: str = ""
    round: int = 0
    draw: int = 0
    documents: Any = None
    document: str = ""
    chunk_id: str = ""
    chunk_index: int = 0
    chunk_sha: str = ""
    agent: str = ""
    transform_template: str | None = None
    transform_sampling: dict[str, Any] | None = None
    skill: str | None = None
    question_type: str = ""
    question_format: str = ""
    refinement_rounds: int = 0
    refinement_rounds_asked: int = 0
    refinements: list[Any] = Field(default_factory=list)
    refine_templates: list[str] = Field(default_factory=list)
    answer_template: str = ""
    answer_sampling: dict[str, Any] = Field(default_factory=dict)
    max_rouge_l: float | None = None
    most_similar: list[dict[str, Any]] = Field(default_factory=list)
    novelty: dict[str, Any] = Field(default_factory=dict)


class AgentInstructStage(GeneratorBase):
    """AgentInstruct flows (methods/agent_instruct.py). Fields owned by that module."""

    card_text: ClassVar[str] = (
        "AgentInstruct flows (Mitra et al. 2024): documents rewritten by transformation "
        "agents, questions drawn from a taxonomy of question types, refined by a suggester "
        "and an editor, answered from the text.")

    method: Literal["agent_instruct"]
    provenance: ClassVar[Shape] = AgentInstructOrigin
    max_rounds: int = Field(200, ge=1)
    mode: Literal["ja", "en"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    # the documents
    documents: str = Field(description="folder of .txt/.md/.html/.pdf files, relative to "
                                       "the recipe file")
    file_types: list[Literal[DOC_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(DOC_TYPES), min_length=1)
    on_bad_file: Literal["error", "skip"] = Field(
        "error", description="skip: record an unreadable file as a drop and go on")
    chunk_chars: int = Field(600, ge=50, le=20000, description="most characters per chunk")
    min_chunk_chars: int = Field(40, ge=1, description="shorter chunks are recorded as drops")
    # 1. content transformation, 2. seed instructions, 3. refinement
    agents: list[Literal[AGENTS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(AGENTS), min_length=1)
    skill: str = "reading_comprehension"
    question_types: list[str] | None = Field(None, min_length=1, description=(
        "types of the skill to draw from; all of them when left out"))
    taxonomy: str | None = Field(None, description="YAML file adding skills or question "
                                                   "types, relative to the recipe file")
    refinement_rounds: int = Field(1, ge=0, le=5, description="Suggester/Editor rounds; 0 = off")
    request_batch_size: int = Field(4, ge=1, le=256, description="draws per round")
    transform_sampling: TransformSampling = TransformSampling()
    question_sampling: AgentQuestionSampling = AgentQuestionSampling()
    refine_sampling: AgentQuestionSampling = AgentQuestionSampling()
    answer_sampling: AgentAnswerSampling = AgentAnswerSampling()
    novelty: AgentNovelty = AgentNovelty()
    templates: dict[str, str] = Field(default_factory=dict,
                                      description="override template files by name")

    def estimate(self, need: int, counts: Counts) -> Cost:
        return per_output(self, need, counts, (3 + 2 * self.refinement_rounds) * need,
                          "transform, question, refinements, answer")

    @model_validator(mode="after")
    def _chunk_sizes(self) -> "AgentInstructStage":
        if self.min_chunk_chars > self.chunk_chars:
            raise ValueError("min_chunk_chars cannot exceed chunk_chars")
        return self
