"""Recipe section of the requirement grid (methods/grid.py): axes x values -> cells.

A cell is one value per axis, named by its values joined with ``/`` in axis order
(``fix/regression``). Patterns select cells for per-cell counts and few-shot examples:

- positional, one part per axis, ``*`` for any value: ``fix/regression``, ``fix/*``, ``*``;
- named, any subset of axes: ``task=fix`` or ``task=fix,theme=regression``.

Everything here is plain data, checked before any LLM call: an unknown axis or value in a
pattern is an error located at that pattern's key (file, YAML line, field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from ..provenance import Origin, Shape
from ..stage import Cost, Counts
from .base import GeneratorBase, NoveltyConfig, Sampling, Strict, per_output
from .context import SampledAxis, SampledProvenance, is_sampled

RESERVED = set("/,=*")


class AxisValue(Strict):
    """One value of an axis. ``weight`` multiplies the default count of its cells."""

    description: str = ""
    details: list[str] = Field(default_factory=list)
    weight: float = Field(1.0, ge=0.0, le=1000.0)

    @field_validator("details", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Example(Strict):
    """A demonstration: a question and its answer written to the conventions."""

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    id: str | None = None


class FewShot(Strict):
    """Examples for the cells a pattern selects: inline, or from a YAML/JSON/JSONL file."""

    match: str = "*"
    file: str | None = None
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> FewShot:
        if not self.file and not self.examples:
            raise ValueError("give a file or examples")
        return self


class Conventions(Strict):
    coding: list[str] = Field(default_factory=list, description="rules the code follows")
    answer_format: list[str] = Field(default_factory=list,
                                     description="rules the answer's form follows")


class Snippets(Strict):
    """OSS-Instruct style: each question is inspired by one user-supplied code snippet."""

    path: str = Field(description="a folder (one snippet per file) or a JSONL file "
                                  "(one {id?, code} object per line), relative to the recipe")
    glob: str = Field("**/*", description="files taken from a folder")
    max_chars: int = Field(1500, ge=50, le=20000,
                           description="longer snippets are cut at a line boundary")


class QuestionSampling(Sampling):
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1, le=32768)


class GridAnswerSampling(Sampling):
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(768, ge=1, le=32768)


class GridNovelty(NoveltyConfig):
    scope: Literal["cell", "run"] = Field("cell", description="compare a question with the "
                                                              "questions of its cell or of "
                                                              "the whole run")


class GridCopies(Strict):
    """An answer that copies its question or a few-shot answer shown in its prompt is
    dropped (``copies_question``, ``copies_fewshot``) and its cell asks again."""

    check: bool = Field(True, description="false: keep copies")
    question_threshold: float = Field(0.8, ge=0.0, le=1.0,
                                      description="ROUGE-L F of the answer against its "
                                                  "question above this: a copy")
    fewshot_threshold: float = Field(0.7, ge=0.0, le=1.0,
                                     description="ROUGE-L F against a shown few-shot "
                                                 "answer above this: a copy")
    code_share: float = Field(0.6, gt=0.0, le=1.0,
                              description="share of code lines found in a shown few-shot's "
                                          "code (of the smaller side) at or above this: a "
                                          "copy")
    min_code_lines: int = Field(3, ge=1, description="...and at least this many lines")
    min_line_chars: int = Field(8, ge=1, description="shorter code lines are not compared")


_FIXED: TypeAdapter[dict[str, AxisValue]] = TypeAdapter(dict[str, AxisValue])


@dataclass(frozen=True)
class Cell:
    values: tuple[str, ...]
    key: str            # "fix/regression"
    weight: float       # product of the values' weights

    def axes(self, names: list[str]) -> dict[str, str]:
        return dict(zip(names, self.values))


def _bad_name(name: str) -> str | None:
    if not name or name != name.strip():
        return "must be non-empty without surrounding spaces"
    if RESERVED & set(name):
        return "must not contain / , = or *"
    return None


class GridOrigin(SampledProvenance, Origin):
    """A grid record: its ``cell`` and ``axes``, the question and answer calls, the
    examples and few-shot shown, the snippet it read, the novelty check."""

    METHOD: ClassVar[str] = "grid"
    answer_template: str = ""
    answer_sampling: dict[str, Any] = Field(default_factory=dict)
    mode: str = ""
    prompt_style: str = ""
    round: int = 0
    cell: str | None = None
    axes: dict[str, str] = Field(default_factory=dict)
    question_example_ids: list[str] = Field(default_factory=list)
    fewshot_ids: list[str] = Field(default_factory=list)
    conventions: str = ""
    snippet: dict[str, Any] | None = None
    max_rouge_l: float | None = None
    most_similar: list[dict[str, Any]] = Field(default_factory=list)
    novelty: dict[str, Any] = Field(default_factory=dict)
    finish_reason: str | None = None


class GridStage(GeneratorBase):
    """Requirement grid: questions per cell from its requirements, then answers written to
    the conventions (see methods/grid.py and docs/grid.md)."""

    card_text: ClassVar[str] = (
        "Requirement grid: questions written per cell of declared axes (for example "
        "task x theme), then answered in a separate step under declared conventions.")

    method: Literal["grid"]
    provenance: ClassVar[Shape] = GridOrigin
    mode: Literal["ja", "en"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    axes: dict[str, Any] = Field(min_length=1, description="axis -> values (crossed into "
                                 "cells), or a sampled axis ({values|file, sample: per_item}"
                                 ": one value drawn per item)")
    count: int = Field(1, ge=0, le=100000, description="records per cell (times its weight)")
    counts: dict[str, Annotated[int, Field(ge=0, le=100000)]] = Field(default_factory=dict,
                                   description="pattern -> records per cell; the most "
                                               "specific pattern wins")
    conventions: Conventions = Conventions()
    few_shots: list[FewShot] = Field(default_factory=list)
    num_examples: int = Field(2, ge=0, le=16, description="few-shot pairs in an answer prompt")
    borrow_examples: bool = Field(True, description="a cell with fewer pairs than "
                                                    "num_examples borrows other cells' pairs")
    num_question_examples: int = Field(3, ge=0, le=16,
                                       description="code-free example questions in a "
                                                   "question prompt")
    snippets: Snippets | None = None
    request_batch_size: int = Field(8, ge=1, le=256, description="questions asked per round")
    max_attempts: int = Field(4, ge=1, le=100, description="question prompts per requested "
                                                           "record before a cell gives up")
    check_language: bool = Field(True, description="drop text (outside code) detected as "
                                                   "another language than mode")
    max_rounds: int = Field(200, ge=1)
    question_sampling: QuestionSampling = QuestionSampling()
    answer_sampling: GridAnswerSampling = GridAnswerSampling()
    novelty: GridNovelty = GridNovelty()
    copies: GridCopies = GridCopies()
    templates: dict[str, str] = Field(default_factory=dict)

    def estimate(self, need: int, counts: Counts) -> Cost:
        return per_output(self, need, counts, 2 * need, "a question and an answer")

    @field_validator("axes", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """``value: text`` is ``value: {description: text}``; ``value:`` alone is allowed."""
        if not isinstance(v, dict):
            return v
        out: dict[Any, Any] = {}
        for axis, values in v.items():
            if isinstance(values, SampledAxis) or is_sampled(values):
                out[axis] = values  # read in _names_and_patterns
                continue
            if isinstance(values, list):  # [a, b, c]: names only
                values = {x: None for x in values}
            if isinstance(values, dict):
                values = {k: ({} if x is None else {"description": x} if isinstance(x, str)
                              else x) for k, x in values.items()}
            out[axis] = values
        return out

    @model_validator(mode="after")
    def _names_and_patterns(self) -> GridStage:
        errors: list[InitErrorDetails] = []

        def err(loc: tuple[Any, ...], msg: str, value: Any) -> None:
            errors.append(InitErrorDetails(type=PydanticCustomError("grid", msg), loc=loc,
                                           input=value))

        for axis, spec in list(self.axes.items()):
            try:
                self.axes[axis] = (spec if isinstance(spec, SampledAxis)
                                   else SampledAxis.model_validate(spec) if is_sampled(spec)
                                   else _FIXED.validate_python(spec))
            except ValidationError as e:
                for d in e.errors():
                    err(("axes", axis, *d["loc"]), d["msg"], d.get("input"))
        if errors:
            raise ValidationError.from_exception_data("GridStage", errors)
        if not self.fixed_axes:
            err(("axes",), "a grid needs at least one crossed axis (a list or mapping of "
                           "values); sampled axes are drawn within its cells", None)
        for axis, values in self.axes.items():
            bad = _bad_name(str(axis))
            if bad:
                err(("axes", axis), f"axis name {bad}", axis)
            if isinstance(values, SampledAxis):
                continue
            if not values:
                err(("axes", axis), "an axis needs at least one value", axis)
            for name in values:
                bad = _bad_name(str(name))
                if bad:
                    err(("axes", axis, name), f"value name {bad}", name)
        if not errors:
            for key in self.counts:
                msg = self.pattern_error(key)
                if msg:
                    err(("counts", key), msg, key)
            for i, fs in enumerate(self.few_shots):
                msg = self.pattern_error(fs.match)
                if msg:
                    err(("few_shots", i, "match"), msg, fs.match)
            if not errors and sum(self.quota(c) for c in self.cells()) == 0:
                err(("count",), "the grid requests no records (every cell counts 0)",
                    self.count)
        if errors:
            raise ValidationError.from_exception_data("GridStage", errors)
        return self

    # -- cells and patterns ------------------------------------------------------
    @property
    def fixed_axes(self) -> dict[str, dict[str, AxisValue]]:
        """The crossed axes (cells are their combinations), in order."""
        return {a: v for a, v in self.axes.items() if not isinstance(v, SampledAxis)}

    @property
    def sampled_axes(self) -> dict[str, SampledAxis]:
        """The sampled axes: one value drawn per item, within its cell."""
        return {a: v for a, v in self.axes.items() if isinstance(v, SampledAxis)}

    @property
    def axis_names(self) -> list[str]:
        """The crossed axes' names (what a cell's key and a pattern name)."""
        return list(self.fixed_axes)

    def cells(self) -> list[Cell]:
        """Every combination of one value per crossed axis, in axis and value order."""
        fixed = self.fixed_axes
        combos: list[tuple[str, ...]] = [()]
        for values in fixed.values():
            combos = [c + (v,) for c in combos for v in values]
        cells = []
        for combo in combos:
            w = math.prod(fixed[a][v].weight for a, v in zip(fixed, combo))
            cells.append(Cell(combo, "/".join(combo), w))
        return cells

    def parse_pattern(self, pattern: str) -> tuple[str | None, ...]:
        """One fixed value (or None for any) per axis; ValueError names what is wrong."""
        names = self.axis_names
        p = pattern.strip()
        if p == "*":
            return (None,) * len(names)
        if "=" in p:
            fixed: dict[str, str] = {}
            for part in p.split(","):
                axis, sep, value = (x.strip() for x in part.partition("="))
                if not sep or axis not in names:
                    sampled = " (a sampled axis: patterns name crossed axes only)" \
                        if axis in self.axes else ""
                    raise ValueError(f"unknown axis {axis!r} in pattern {pattern!r}{sampled}; "
                                     f"axes: {', '.join(names)}")
                if value != "*":
                    fixed[axis] = value
            parts: list[str] = [fixed.get(a, "*") for a in names]
        else:
            parts = [x.strip() for x in p.split("/")]
            if len(parts) != len(names):
                raise ValueError(f"pattern {pattern!r} has {len(parts)} part(s), the grid has "
                                 f"{len(names)} axes ({'/'.join(names)})")
        out: list[str | None] = []
        for axis, value in zip(names, parts):
            if value == "*":
                out.append(None)
            elif value in self.axes[axis]:
                out.append(value)
            else:
                raise ValueError(f"no value {value!r} on axis {axis!r} in pattern {pattern!r}; "
                                 f"values: {', '.join(self.axes[axis])}")
        return tuple(out)

    def pattern_error(self, pattern: str) -> str | None:
        try:
            self.parse_pattern(pattern)
        except ValueError as e:
            return str(e)
        return None

    @staticmethod
    def matches(parsed: tuple[str | None, ...], cell: Cell) -> bool:
        return all(p is None or p == v for p, v in zip(parsed, cell.values))

    @staticmethod
    def specificity(parsed: tuple[str | None, ...]) -> int:
        return sum(p is not None for p in parsed)

    def quota(self, cell: Cell) -> int:
        """Records requested for a cell: the most specific ``counts`` pattern matching it
        (the later one among equals), else ``count`` times the cell's weight, rounded."""
        best, best_spec = None, -1
        for key, n in self.counts.items():
            parsed = self.parse_pattern(key)
            if self.matches(parsed, cell) and self.specificity(parsed) >= best_spec:
                best, best_spec = n, self.specificity(parsed)
        if best is not None:
            return best
        return math.floor(self.count * cell.weight + 0.5)
