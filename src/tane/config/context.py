"""Sampled context: values drawn per item instead of crossed (methods/sampled.py).

A grid axis, or an entry of ``context:`` in Self-Instruct, Magpie and answer, may be
*sampled*: each item draws one value, with a seeded RNG derived from the recipe seed and
the item's key, and records it in provenance.

- weighted values: ``difficulty: {values: {easy: 1, hard: 2}, sample: per_item}``; a
  value is a weight, a description, or ``{weight, description, details}``;
- category -> subcategory: a value given as a list (or a mapping of weights) of
  subcategories: the category is drawn by its weight, then a subcategory within it,
  ``topic: {values: {math: [algebra, geometry], history: {weight: 2, values: [...]}}}``;
- rows of a file: ``persona: {file: personas.jsonl, sample: per_item}``, one JSON object
  a line; ``text`` names the column shown in prompts, ``id`` the column naming a row,
  ``where`` keeps the rows whose columns equal the given values, ``weight`` a column of
  weights. ``file: bundled:personas`` is the persona file shipped with tane.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ..provenance import Origin, Step
from .base import Strict


class SampledProvenance(BaseModel):
    """What a stage with sampled context records of an item's draws (mixed into its
    provenance shape): the labels drawn, the item's key (``draw(*key)`` draws the same
    again), the drawn rows of file axes and those files."""

    sampled: dict[str, str] = Field(default_factory=dict)
    sample_key: Any = None
    sampled_rows: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sampled_files: dict[str, dict[str, Any]] = Field(default_factory=dict)


class SampledOrigin(SampledProvenance, Origin):
    """The sampled context of any generator's origin (a view for readers)."""


class SampledStep(SampledProvenance, Step):
    """The sampled context of any step (a view for readers)."""

Weight = Annotated[float, Field(gt=0.0, le=1e9, strict=True, allow_inf_nan=False,
                                description="a positive number")]


class Choice(Strict):
    """One value of a sampled axis: its weight and what prompts say of it; with
    ``values``, a category whose subcategories are drawn within it."""

    weight: Weight = 1.0
    description: str = ""
    details: list[str] = Field(default_factory=list)
    values: dict[str, Weight] | None = Field(None, description="subcategories (a list, or "
                                                               "a mapping of weights)")

    @field_validator("details", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("values", mode="before")
    @classmethod
    def _sub_list(cls, v: Any) -> Any:
        if isinstance(v, list):
            for x in v:
                if not isinstance(x, str) or not x.strip():
                    raise ValueError("subcategories are non-empty names")
            if len(set(v)) != len(v):
                raise ValueError("a subcategory is named twice")
            return {x: 1.0 for x in v}
        return v

    @field_validator("values")
    @classmethod
    def _not_empty(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and not v:
            raise ValueError("a category needs at least one subcategory")
        return v


class SampledAxis(Strict):
    """Values drawn per item (weighted values, categories, or rows of a file)."""

    sample: Literal["per_item"] = Field("per_item", description="one draw per item")
    values: dict[str, Choice] | None = None
    file: str | None = Field(None, description="JSON Lines, one object a row, relative to "
                                               "the recipe; bundled:personas is tane's own")
    text: str = Field("persona", description="the column shown in prompts")
    id: str | None = Field(None, description="the column naming a row (default: its line)")
    where: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="keep the rows whose columns equal these values")
    weight: str | None = Field(None, description="a column of positive weights")
    label: str | None = Field(None, description="how prompts introduce the value "
                                                "(label: text); default: the text alone")

    @field_validator("values", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """``[a, b]``: equal weights; ``name: 2``: a weight; ``name: text``: a description;
        ``name: [x, y]``: a category of subcategories."""
        if isinstance(v, list):
            if len(set(map(str, v))) != len(v):
                raise ValueError("a value is named twice")
            return {x: {} for x in v}
        if not isinstance(v, dict):
            return v
        out: dict[Any, Any] = {}
        for k, x in v.items():
            if x is None:
                x = {}
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                x = {"weight": x}
            elif isinstance(x, str):
                x = {"description": x}
            elif isinstance(x, list):
                x = {"values": x}
            out[k] = x
        return out

    @field_validator("values")
    @classmethod
    def _not_empty(cls, v: dict[str, Choice] | None) -> dict[str, Choice] | None:
        if v is not None and not v:
            raise ValueError("a sampled axis needs at least one value")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> SampledAxis:
        if (self.values is None) == (self.file is None):
            raise ValueError("give either values or file")
        return self

    @property
    def nested(self) -> bool:
        return bool(self.values) and any(c.values for c in (self.values or {}).values())


def is_sampled(spec: Any) -> bool:
    """An axis mapping that is sampled rather than crossed: it has ``sample`` with
    ``values`` or ``file`` beside it, or ``sample: per_item``."""
    return isinstance(spec, dict) and "sample" in spec and (
        "values" in spec or "file" in spec or spec.get("sample") == "per_item")


__all__ = ["Choice", "SampledAxis", "Weight", "is_sampled"]
