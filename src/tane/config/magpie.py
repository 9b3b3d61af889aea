"""Recipe section of Magpie (methods/magpie.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Strict


class MagpieStage(Strict):
    """Magpie (methods/magpie.py). Fields owned by that module."""

    method: Literal["magpie"]
    max_rounds: int = Field(200, ge=1)
