"""Where records start: ``seeds:`` for a generator, or ``source:`` for existing records."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ..provenance import Origin, Shape
from .base import Strict

SOURCE_FIELDS = ("instruction", "input", "output", "id", "provenance")


class SeedsConfig(Strict):
    path: str = "bundled:ja"
    format: Literal["auto", "self_instruct", "elyza", "ichikara", "alpaca"] = "auto"


class SourceOrigin(Origin):
    """A record read from a recipe's ``source:`` that had no provenance of its own: the
    file and its row (1-based)."""

    METHOD: ClassVar[str] = "source"
    source: str = ""
    row: int = 0


class SourceConfig(Strict):
    """Existing records to start from instead of a generator: whatever ``tane curate``
    reads (JSONL, Parquet, CSV/JSON, a local Hugging Face dataset directory)."""

    provenance: ClassVar[Shape] = SourceOrigin

    path: str
    fields: dict[str, str] = Field(default_factory=dict, description=(
        "map a column: {instruction: prompt, output: response} (like tane curate --field)"))
    split: str | None = None

    @field_validator("fields")
    @classmethod
    def _known_targets(cls, v: dict[str, str]) -> dict[str, str]:
        for target in v:
            if target not in SOURCE_FIELDS:
                raise ValueError(f"{target!r} is not one of {', '.join(SOURCE_FIELDS)}")
        return v
