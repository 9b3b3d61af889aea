"""The engine's contract with the stages it runs: the context a stage is built with, its
counts, the round-order turns, the per-record LLM transform, and the Protocols of a
generator and a transform stage.

Layering: below ``methods`` (which implement these) and ``pipeline`` (which runs them);
above ``llm`` (a context holds a model) and the bottom floor (``stage``: the spec and
the batch)."""

from __future__ import annotations

from ..stage import Batch, Request, StageSpec
from .context import (KINDS, Model, NoModel, StageContext, StageStats, Turns, as_messages,
                      to_params)
from .stages import GeneratorStage, Stage, TransformStage
from .transform import Outcome, Parsed, RecordTransform

__all__ = ["Batch", "GeneratorStage", "KINDS", "Model", "NoModel", "Outcome", "Parsed",
           "RecordTransform", "Request", "Stage", "StageContext", "StageSpec", "StageStats",
           "TransformStage", "Turns", "as_messages", "to_params"]
