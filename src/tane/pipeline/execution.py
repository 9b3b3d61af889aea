"""What an executor is given, and what it gives back.

Executors decide where, stages decide what. An executor receives an
:class:`ExecutionPlan`: the built stages and their specs, the goal and the limits, the
generator callable (or the source's chunks), the counts to keep and a :class:`Sink` for
what each stage kept and dropped. It never sees the runner. It returns the records past
every stage under their order keys (:data:`Item`), in key order.

An executor is registered by name with the options it takes
(:mod:`tane.pipeline.executors`); ``docs/engine.md`` says how to add one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, ClassVar, Protocol

from ..engine import GeneratorStage, StageStats
from ..llm.base import CallStats
from ..recipe import Recipe
from ..schema import Drop, Record
from ..stage import Batch, StageSpec
from .stages import Stages

Item = tuple[str, Record]  # (order key, record)


def unit_key(u: int) -> str:
    return f"{u:09d}"


def drop_key(key: str, stage: int, j: int) -> str:
    return f"{key}|{stage:02d}|{j:05d}"


class Sink(Protocol):
    """Where an executor logs each stage's kept records and drops, under their order keys
    (the run directory's ledger; a remote worker's collector)."""

    def log_kept(self, stage: str, records: list[Record], keys: list[str]) -> None: ...

    def log_drops(self, drops: list[Drop], keys: list[str]) -> None: ...


@dataclass
class Progress:
    """What an executor tells the progress display: the unit started last, and the
    records that came through every stage so far."""

    round: int = 0
    survived: int = 0


def generator_call(gen: GeneratorStage, spec: StageSpec
                   ) -> Callable[[int, int], Awaitable[Batch]]:
    """``(unit, need) -> Batch`` of a generator. One whose rounds share state without
    turns of their own (not ``lookahead_safe``) runs whole rounds in order (its calls
    within a round still run concurrently)."""
    if spec.lookahead_safe:
        return gen.round
    turns = gen.ctx.turns_for("round")

    async def in_order(u: int, need: int) -> Batch:
        async with turns.turn(u):
            return await gen.round(u, need)

    return in_order


@dataclass
class ExecutionPlan:
    """All an executor reads. ``generate`` makes unit ``u``'s records (asked for ``need``)
    when the recipe generates, else ``chunk`` gives unit ``u`` of the source. ``windows``:
    per stage, the calls its model works on at once (a server's ``concurrency``, an
    embedded model's ``slots``). ``limit`` (a preview's ``n``; ``goal`` is then None):
    units start only until the first stage has put out about ``limit`` records (the
    generator's, or the source's first rows), and every later stage takes all of them.
    ``recipe``, ``base_dir`` and ``run_path`` are for an
    executor that rebuilds stages elsewhere from configuration alone;
    ``model_names``/``model_stats`` name each stage's model and hold each model's counts;
    ``journal``: the run's call journal (``get_call_async``/``put_call_async``), where
    such an executor commits the calls its workers made."""

    names: list[str]
    specs: list[StageSpec]
    stages: Stages
    stats: list[StageStats]
    sink: Sink
    goal: int | None = None
    max_units: int = 0
    lookahead: int = 1
    limit: int | None = None
    generate: Callable[[int, int], Awaitable[Batch]] | None = None
    chunk: Callable[[int], list[Item]] | None = None
    windows: list[int] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    recipe: Recipe | None = None
    base_dir: Path = Path(".")
    run_path: Path = Path(".")
    model_names: list[str] = field(default_factory=list)
    model_stats: dict[str, CallStats] = field(default_factory=dict)
    journal: RunJournal | None = None


class RunJournal(Protocol):
    """The run's call journal as an executor that commits its workers' calls sees it
    (the run directory: `tane.store.rundir.RunDir`)."""

    async def get_call_async(self, key: str) -> dict[str, Any] | None: ...

    async def put_call_async(self, key: str, kind: str, request: dict[str, Any],
                             response: dict[str, Any]) -> None: ...

    def call_count(self) -> int: ...


class Executor(Protocol):
    """Runs a plan. ``replays_shards``: unfinished shard journals in the run directory
    stay for the executor to replay (else the runner takes their calls into the run's
    journal before it starts)."""

    replays_shards: ClassVar[bool]
    started_units: int

    async def run(self) -> list[Item]: ...

    def summary(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


__all__ = ["ExecutionPlan", "Executor", "Item", "Progress", "Sink", "drop_key",
           "generator_call", "unit_key"]
