"""Recipe section of the LLM judge (methods/judge.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..provenance import Shape, Step
from ..stage import Cost, Counts, StageSpec, ratio
from .base import Sampling, StageBase, passing, per_record

JUDGE_CATEGORIES = ("information seeking", "reasoning", "planning", "editing",
                    "coding & debugging", "math", "role playing", "data analysis",
                    "creative writing", "advice seeking", "brainstorming", "others")
JUDGE_DIFFICULTIES = ("very easy", "easy", "medium", "hard", "very hard")


class JudgeSampling(Sampling):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(384, ge=16, le=32768)


class JudgeAttempt(BaseModel):
    """One call of a verdict: its seed and temperature, whether a schema constrained it,
    the raw reply and finish reason, or the error."""

    model_config = ConfigDict(extra="allow")
    seed: int | None = None
    temperature: float | None = None
    constrained: bool | None = None
    raw: str = ""
    finish_reason: str | None = None
    error: str | None = None


class JudgeStep(Step):
    """A judge's verdict: ``status`` (ok, unparseable or error), the scores (quality 1-5,
    difficulty, category) and reason when ok, the prompt, the raw reply and each call."""

    METHOD: ClassVar[str] = "judge"
    status: str = ""
    prompt_style: str = ""
    prompt: str | list[dict[str, Any]] = ""  # the text, or a chat call's messages
    quality: int | None = None
    reason: str = ""
    difficulty: str | None = None
    category: str | None = None
    raw: str = ""
    parse_error: str | None = None
    error: str | None = None
    attempts: list[JudgeAttempt] = Field(default_factory=list)

    @property
    def scored(self) -> bool:
        """Whether the verdict holds a score (status ok)."""
        return self.status == "ok" and self.quality is not None


class JudgeStage(StageBase):
    """LLM judge (methods/judge.py): quality 1-5 + reason, difficulty, task category;
    thresholds select rows. Without any threshold every row is kept (scored or not)."""

    card_text: ClassVar[str] = (
        "LLM judge: each record graded (quality 1-5 with a reason, difficulty, category) "
        "from a rubric; thresholds select rows.")

    method: Literal["judge"]
    provenance: ClassVar[Shape] = JudgeStep
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    min_quality: int | None = Field(None, ge=1, le=5)
    max_difficulty: Literal[JUDGE_DIFFICULTIES] | None = None  # type: ignore[valid-type]
    categories: list[Literal[JUDGE_CATEGORIES]] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, description="keep only rows judged to be in these categories")
    json_schema: bool = Field(True, description="constrain the verdict with a JSON schema "
                                                "where the backend supports it")
    reason_max_chars: int = Field(200, ge=10, le=2000)
    retry_temperature: float = Field(0.7, ge=0.0, le=2.0, description=(
        "temperature of the one retry after an unparseable verdict when sampling is greedy"))
    sampling: JudgeSampling = JudgeSampling()
    templates: dict[str, str] = Field(default_factory=dict)

    def contract(self) -> StageSpec:
        return StageSpec("transform", reads=frozenset({"instruction", "output"}))

    def estimate(self, need: int, counts: Counts) -> Cost:
        # one verdict a record, and one retry after a verdict that does not parse; the
        # thresholds (and unparseable verdicts) decide how many are kept
        per = ratio(counts, "calls", "records_in", 1.0)
        return per_record(self, need, counts, per, what=f"{per:.2f} calls a record")

    def measure(self, stage: dict[str, Any]) -> Counts:
        return passing(stage)
