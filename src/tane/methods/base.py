"""What a method sees of the engine, as the methods import it: the engine's contract
(:mod:`tane.engine`) under its old names, and the helpers method code shares."""

from __future__ import annotations

from ..engine import (KINDS, Batch, Outcome, RecordTransform, Request, StageContext,
                      StageStats, Turns, as_messages, to_params)
from ..schema import Drop, Record, stable_hash
from ..stage import prompt_text

__all__ = ["Batch", "Drop", "KINDS", "Outcome", "Record", "RecordTransform", "Request",
           "StageContext",
           "StageStats", "Turns", "as_messages", "prompt_text", "stable_hash", "to_params"]
