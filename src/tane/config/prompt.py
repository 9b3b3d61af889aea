"""Recipe section of a prompt stage (methods/prompt_stage.py): a step of the user's own.

A Jinja template (``template:`` inline, or ``template_file:`` beside the recipe) is
rendered over each record; the reply either becomes one field (``field:``) or, read as
JSON and validated against ``output_schema:``, several (``keep_if:`` then selects rows).
Everything here is checked before any call: a bad schema, expression or template is an
error at its own key of the recipe (file, YAML line, field).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import jinja2
import jinja2.meta
from pydantic import Field, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from ..provenance import Shape, Step
from ..stage import FIELDS, Cost, Counts, StageSpec, ratio
from .base import Sampling, StageBase, passing, per_record
from .keep_if import KeepIf, KeepIfError
from .output_schema import RESERVED, SchemaError, field_types, normalize

# what a template may name: the record's fields, its named fields, provenance, the seeds
TEMPLATE_NAMES = frozenset({"instruction", "input", "output", "id", "fields", "provenance",
                            "seeds"})
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


class PromptSampling(Sampling):
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1, le=32768)


def template_names(source: str) -> set[str]:
    """The variables a template reads (jinja2.TemplateSyntaxError when it does not parse)."""
    return set(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))


def unknown_names(source: str) -> list[str]:
    return sorted(template_names(source) - TEMPLATE_NAMES)


class PromptStep(Step):
    """A prompt stage's step: its template (id and source), the field it wrote or the
    output schema (and whether it constrained the call), ``keep_if``, the attempt, and
    the values it replaced (``previous``)."""

    METHOD: ClassVar[str] = "prompt"
    prompt_template: str = ""
    field: str | None = None
    output_schema: dict[str, Any] | None = None
    constrained: bool | None = None
    keep_if: str | None = None
    attempt: int | None = None
    previous: dict[str, Any] = Field(default_factory=dict)


class PromptStage(StageBase):
    card_text: ClassVar[str] = (
        "Prompt: a step of the recipe's own: a Jinja template over each record (its fields, "
        "provenance and the seeds); the reply becomes one field, or JSON validated against "
        "a schema whose fields land in the record, selected by keep_if.")

    method: Literal["prompt"]
    provenance: ClassVar[Shape] = PromptStep
    template: str | None = Field(None, description="the prompt, a Jinja template over "
                                 "instruction, input, output, id, fields, provenance, seeds")
    template_file: str | None = Field(None, description="the template in a file, relative "
                                                        "to the recipe")
    field: str | None = Field(None, description=(
        "where the reply goes: instruction, input, output, or a new name kept in the "
        "record's provenance.fields"))
    output_schema: dict[str, Any] | None = Field(None, description=(
        "read the reply as JSON with these fields: a field list {quality: int, category: "
        "[a, b]} or a JSON Schema"))
    keep_if: str | None = Field(None, description="keep a record only when this holds over "
                                                  "the schema's fields: quality >= 3")
    prompt_style: Literal["completion", "chat"] = "chat"
    system: str | None = Field(None, description="chat: a system message")
    stop: list[str] | None = Field(None, description=(
        "stop strings (default: completion '\\n###' and '\\n\\n\\n' with field:, none "
        "with a schema or in chat)"))
    json_schema: bool = Field(True, description="send the schema as response_format where "
                                                "the backend supports it")
    retry_temperature: float = Field(0.7, ge=0.0, le=2.0, description=(
        "temperature of the one retry after a reply that fails the schema, when sampling "
        "is greedy"))
    sampling: PromptSampling = PromptSampling()

    @model_validator(mode="after")
    def _consistent(self) -> "PromptStage":
        errors: list[InitErrorDetails] = []

        def err(loc: tuple[Any, ...], msg: str, value: Any) -> None:
            errors.append(InitErrorDetails(type=PydanticCustomError("prompt", msg), loc=loc,
                                           input=value))

        if (self.template is None) == (self.template_file is None):
            err(("template",), "give the prompt as template: (inline) or template_file: "
                               "(a file beside the recipe), one of them", self.template)
        elif self.template is not None:
            try:
                bad = unknown_names(self.template)
            except jinja2.TemplateSyntaxError as e:
                err(("template",), f"template syntax error (line {e.lineno} of the "
                                   f"template): {e.message}", self.template)
            else:
                if bad:
                    err(("template",), f"the template names {', '.join(bad)}: it may use "
                                       f"{', '.join(sorted(TEMPLATE_NAMES))} (a named field "
                                       "as fields.NAME)", self.template)
        if (self.field is None) == (self.output_schema is None):
            err(("field",), "give field: (the reply is one field) or output_schema: (the "
                            "reply is JSON with these fields), one of them", self.field)
        if self.field is not None and (not FIELD_NAME.match(self.field)
                                       or self.field in RESERVED):
            err(("field",), f"field name {self.field!r}: instruction, input, output, or a "
                            "new name of letters, digits and _ (not "
                            f"{', '.join(sorted(RESERVED))})", self.field)
        schema = None
        if self.output_schema is not None:
            try:
                schema = normalize(self.output_schema)
            except SchemaError as e:
                err(("output_schema", *e.loc), str(e), self.output_schema)
        if self.keep_if is not None:
            if self.output_schema is None:
                err(("keep_if",), "keep_if selects on the fields of output_schema: give one",
                    self.keep_if)
            elif schema is not None:
                try:
                    KeepIf.parse(self.keep_if, field_types(schema))
                except KeepIfError as e:
                    err(("keep_if",), f"keep_if {self.keep_if!r}: {e}", self.keep_if)
        if errors:
            raise ValidationError.from_exception_data("PromptStage", errors)
        return self

    # -- what the stage uses ---------------------------------------------------------
    @property
    def schema(self) -> dict[str, Any] | None:
        return normalize(self.output_schema) if self.output_schema is not None else None

    def rule(self) -> KeepIf | None:
        s = self.schema
        return KeepIf.parse(self.keep_if, field_types(s)) if self.keep_if and s else None

    def written(self) -> set[str]:
        """The record fields (instruction, input, output) the stage writes."""
        if self.field is not None:
            return {self.field} & set(FIELDS)
        return set((self.schema or {}).get("properties") or {}) & set(FIELDS)

    def contract(self) -> StageSpec:
        # input is always there (empty when a record has none); an output the template
        # reads must have been written by an earlier stage
        reads = (template_names(self.template) & {"output"} if self.template
                 else set()) | {"instruction"}
        return StageSpec("transform", reads=frozenset(reads),
                         writes=frozenset(self.written()))

    def estimate(self, need: int, counts: Counts) -> Cost:
        # one call a record, and one retry after a reply that fails the schema; the
        # schema, keep_if and empty or cut replies decide how many are kept
        per = ratio(counts, "calls", "records_in", 1.0)
        return per_record(self, need, counts, per, what=f"{per:.2f} calls a record")

    def measure(self, stage: dict[str, Any]) -> Counts:
        return passing(stage)
