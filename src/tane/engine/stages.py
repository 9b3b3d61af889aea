"""What the engine runs: a generator stage makes records in rounds, a transform stage
takes records and gives back records and drops. Each holds the :class:`StageContext` it
was built with (its model, counts and the messages of its failed calls).

A stage is built as ``Class(config, ctx)`` by :func:`tane.pipeline.stages.build_stages`,
which checks the object against the Protocol of its role (its config's
:meth:`~tane.config.base.StageBase.spec`)."""

from __future__ import annotations

from typing import Protocol, Union, runtime_checkable

from ..schema import Record
from ..stage import Batch
from .context import StageContext


@runtime_checkable
class GeneratorStage(Protocol):
    """Makes round ``r``'s records, asked for about ``need`` of them."""

    ctx: StageContext

    async def round(self, r: int, need: int) -> Batch: ...


@runtime_checkable
class TransformStage(Protocol):
    """Takes records (one, or a whole unit for a stage that is not per-record) and gives
    back what it kept and what it dropped."""

    ctx: StageContext

    async def process(self, records: list[Record]) -> Batch: ...


Stage = Union[GeneratorStage, TransformStage]
