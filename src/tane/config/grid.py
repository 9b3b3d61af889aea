"""Recipe section of Requirement grid, task x theme (methods/grid.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Strict


class GridStage(Strict):
    """Requirement grid, task x theme (methods/grid.py). Fields owned by that module."""

    method: Literal["grid"]
    max_rounds: int = Field(200, ge=1)
