"""Recipes: YAML validated by pydantic before any LLM call.

Any error becomes one line naming the file, the YAML line and the field (exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .config.agent_instruct import AgentInstructStage
from .config.base import NoveltyConfig, Sampling, Strict
from .config.grid import GridStage
from .config.magpie import MagpieStage
from .errors import TaneError


class GenerateSampling(Sampling):
    """Self-Instruct's settings for instruction generation: the paper's values."""

    top_p: float = Field(0.5, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, le=32768)
    presence_penalty: float = Field(2.0, ge=-2.0, le=2.0)


class InstanceSampling(Sampling):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(300, ge=1, le=32768)


class AlpacaSampling(Sampling):
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(3072, ge=1, le=32768)


class AnswerSampling(Sampling):
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1, le=32768)


class LLMConfig(Strict):
    backend: Literal["embedded", "openai"] = "embedded"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    license: str = "unknown"
    concurrency: int = Field(4, ge=1, le=1024)
    slots: int = Field(1, ge=1, le=64, description="embedded only: parallel decode slots")
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    json_schema: bool = Field(True, description="openai only: false for a server that "
                                                "rejects JSON-schema constrained output")

    @model_validator(mode="after")
    def _server_needs_url(self) -> "LLMConfig":
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError("backend 'openai' needs both base_url and model")
        return self


class SeedsConfig(Strict):
    path: str = "bundled:ja"
    format: Literal["auto", "self_instruct", "elyza", "ichikara", "alpaca"] = "auto"


class SelfInstructStage(Strict):
    method: Literal["self_instruct"]
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    num_prompt_instructions: int = Field(8, ge=1, le=32)
    num_machine_instructions: int = Field(2, ge=0, le=32)
    request_batch_size: int = Field(4, ge=1, le=256)
    max_rounds: int = Field(200, ge=1)
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


class AlpacaStage(Strict):
    method: Literal["alpaca"]
    mode: Literal["en", "ja"] = "ja"
    num_prompt_instructions: int = Field(3, ge=1, le=16)
    tasks_per_request: int = Field(20, ge=2, le=50)
    request_batch_size: int = Field(2, ge=1, le=256)
    max_rounds: int = Field(200, ge=1)
    sampling: AlpacaSampling = AlpacaSampling()
    novelty: NoveltyConfig = NoveltyConfig()
    templates: dict[str, str] = Field(default_factory=dict)


class AnswerStage(Strict):
    method: Literal["answer"]
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    num_examples: int = Field(3, ge=0, le=16)
    overwrite: bool = False
    sampling: AnswerSampling = AnswerSampling()
    templates: dict[str, str] = Field(default_factory=dict)


class EvolInstructStage(Strict):
    """Evol-Instruct (WizardLM): see methods/evol_instruct.py. Fields owned by that module."""

    method: Literal["evol_instruct"]
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "chat"
    epochs: int = Field(1, ge=1, le=10)
    operations: list[Literal["add_constraints", "deepen", "concretize", "increase_reasoning",
                             "complicate_input", "breadth"]] = Field(
        default_factory=lambda: ["add_constraints", "deepen", "concretize",
                                 "increase_reasoning", "complicate_input", "breadth"])
    keep_parents: bool = True
    judge_equality: bool = True
    retry_failed: bool = Field(True, description="an instruction whose evolution failed is "
                                                 "tried again in the next epoch (the paper)")
    sampling: Sampling = Sampling(temperature=0.7, top_p=0.95, max_tokens=512)
    stop: list[str] = Field(default_factory=list, max_length=8,
                            description="more stop strings for the rewrite call (completion "
                                        "style already stops at a blank line + '#')")
    templates: dict[str, str] = Field(default_factory=dict)


JUDGE_CATEGORIES = ("information seeking", "reasoning", "planning", "editing",
                    "coding & debugging", "math", "role playing", "data analysis",
                    "creative writing", "advice seeking", "brainstorming", "others")
JUDGE_DIFFICULTIES = ("very easy", "easy", "medium", "hard", "very hard")


class JudgeSampling(Sampling):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(384, ge=16, le=32768)


class JudgeStage(Strict):
    """LLM judge (curate/judge.py): quality 1-5 + reason, difficulty, task category;
    thresholds select rows. Without any threshold every row is kept (scored or not)."""

    method: Literal["judge"]
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


class CurateStep(BaseModel):
    """One curation step: ``name`` picks it, the other keys are its parameters."""

    model_config = ConfigDict(extra="allow")
    name: str


class CurateStage(Strict):
    """A list of curation steps (curate/steps.py), each dropping with a recorded reason."""

    method: Literal["curate"]
    lang: Literal["ja", "en", "any"] = "ja"
    steps: list[CurateStep] = Field(min_length=1)


Stage = Annotated[Union[SelfInstructStage, AlpacaStage, MagpieStage, GridStage,
                        AgentInstructStage, AnswerStage, EvolInstructStage, CurateStage,
                        JudgeStage],
                  Field(discriminator="method")]
GENERATORS = ("self_instruct", "alpaca", "magpie", "grid", "agent_instruct")


class Recipe(Strict):
    name: str = "recipe"
    seed: int = 0
    target: int = Field(50, ge=1)
    llm: LLMConfig = LLMConfig()
    seeds: SeedsConfig = SeedsConfig()
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_generator_first(self) -> "Recipe":
        kinds = [s.method for s in self.stages]
        if kinds[0] not in GENERATORS:
            raise ValueError(f"the first stage must generate ({' or '.join(GENERATORS)})")
        if any(k in GENERATORS for k in kinds[1:]):
            raise ValueError("only the first stage may generate instructions")
        return self


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    nxt = k if v is None else v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


TAGS = ("self_instruct", "alpaca", "magpie", "grid", "agent_instruct", "answer",
        "evol_instruct", "curate", "judge")


def _field_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the union's tag ("self_instruct") after ``stages.N``; only that goes
    if len(loc) > 2 and loc[0] == "stages" and isinstance(loc[1], int) and loc[2] in TAGS:
        return loc[:2] + loc[3:]
    return loc


def read_yaml_mapping(path: str | Path, what: str) -> tuple[yaml.Node | None, dict[str, Any]]:
    """(node tree for line numbers, data) of a YAML file that must hold a mapping."""
    p = Path(path)
    if not p.is_file():
        raise TaneError(f"{what} file not found", path=str(p))
    text = p.read_text(encoding="utf-8-sig")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise TaneError(f"invalid YAML: {getattr(e, 'problem', e)}", path=str(p),
                        line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise TaneError(f"a {what} must be a YAML mapping", path=str(p), line=1)
    return root, data


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    p = Path(path)
    root, data = read_yaml_mapping(p, "recipe")
    for key, value in (overrides or {}).items():
        data[key] = value
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = _field_path(tuple(err["loc"]))
        field = ".".join(str(x) for x in loc) or None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown method {err.get('input', {}).get('method')!r}" \
                if isinstance(err.get("input"), dict) else msg
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise TaneError(msg + more, path=str(p), line=_line_of(root, loc),
                        field=field) from None
