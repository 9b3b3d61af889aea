"""Runs a recipe: a generator stage in rounds, each round's records through the later
stages, every drop to the ledger, every call through the journal.

Resume is replay: a rerun in the same directory rebuilds the ledger from the start, and
each call already in the journal is answered from it, so no completed call is repeated.
Sampling is seeded per call and results are folded in submission order, so on a
deterministic backend the rerun ends with the same dataset as an uninterrupted run.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..llm.base import CallStats
from ..llm.cache import CachedBackend
from ..llm.factory import build_backend
from ..methods.alpaca import Alpaca
from ..methods.answer import Answer
from ..methods.base import Batch, StageContext, StageStats
from ..methods.self_instruct import SelfInstruct
from ..recipe import Recipe
from ..errors import TaneError
from ..schema import Record
from ..seeds.loader import load_seeds
from ..store.rundir import RunDir
from ..store.revisions import rewrite_outputs, write_outputs  # noqa: F401

METHODS: dict[str, Callable[..., Any] | str] = {
    "self_instruct": SelfInstruct,
    "alpaca": Alpaca,
    "answer": Answer,
    # imported when a recipe uses them
    "magpie": "tane.methods.magpie:Magpie",
    "grid": "tane.methods.grid:Grid",
    "agent_instruct": "tane.methods.agent_instruct:AgentInstruct",
    "evol_instruct": "tane.methods.evol_instruct:EvolInstruct",
    "curate": "tane.curate.stage:CurateStage",
    "judge": "tane.curate.judge:Judge",
}


def method_class(name: str) -> Callable[..., Any]:
    target = METHODS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target


@dataclass
class RunState:
    """What progress displays read while a run works."""

    target: int
    kept: int = 0
    round: int = 0
    started: float = field(default_factory=time.perf_counter)
    llm: CallStats = field(default_factory=CallStats)


def _stage_names(recipe: Recipe) -> list[str]:
    names, seen = [], {}
    for st in recipe.stages:
        seen[st.method] = seen.get(st.method, 0) + 1
        names.append(st.method if seen[st.method] == 1 else f"{st.method}#{seen[st.method]}")
    return names


def _seeds_path(recipe: Recipe, base_dir: Path) -> str:
    p = recipe.seeds.path
    if p.startswith("bundled:") or Path(p).is_absolute():
        return p
    return str(base_dir / p)


class Runner:
    """Everything that can fail on bad input (seeds, templates) fails in ``__init__``,
    before the run directory is touched or any backend is started."""

    def __init__(self, recipe: Recipe, out_dir: str | Path, base_dir: Path | None = None,
                 on_round: Callable[[RunState], None] | None = None):
        self.recipe = recipe
        self.base_dir = base_dir or Path.cwd()
        self.out_dir = Path(out_dir)
        self.state = RunState(target=recipe.target)
        self.on_round = on_round
        self.seeds = load_seeds(_seeds_path(recipe, self.base_dir), recipe.seeds.format)
        self.names = _stage_names(recipe)
        self.stats = [StageStats(n) for n in self.names]
        self.stages = []
        for i, (cfg, name, st) in enumerate(zip(recipe.stages, self.names, self.stats)):
            ctx = StageContext(name, None, st, self.seeds, recipe.seed,  # type: ignore[arg-type]
                               self.base_dir)
            try:
                self.stages.append(method_class(cfg.method)(cfg, ctx))
            except TaneError as e:
                if e.field:
                    e = TaneError(e.message, path=e.path, line=e.line,
                                  field=f"stages.{i}.{e.field}")
                raise e from None

    def _manifest(self, rd: RunDir, status: str, extra: dict[str, Any] | None = None) -> None:
        rd.write_json("manifest.json", {
            "tane_version": __version__,
            "status": status,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "recipe": self.recipe.model_dump(mode="json"),
            "seeds": {"path": self.recipe.seeds.path, "count": len(self.seeds)},
        } | (extra or {}))

    async def run(self) -> dict[str, Any]:
        recipe, state, names, stats = self.recipe, self.state, self.names, self.stats
        rd = self.run_dir = RunDir(self.out_dir)
        self._manifest(rd, "running")
        llm = CachedBackend(build_backend(recipe.llm, state.llm), rd)
        for stage in self.stages:
            stage.ctx.llm = llm
        rd.reset_ledger()
        final: list[Record] = []
        gen, rest = self.stages[0], list(zip(self.stages[1:], stats[1:], names[1:]))
        max_rounds = recipe.stages[0].max_rounds
        try:
            for r in range(max_rounds):
                need = recipe.target - len(final)
                if need <= 0:
                    break
                state.round = r
                batch = await self._timed(stats[0], gen.round(r, need))
                self._log(names[0], stats[0], batch)
                records = batch.records
                for stage, st, name in rest:
                    if not records:
                        break
                    batch = await self._timed(st, stage.process(records))
                    self._log(name, st, batch)
                    records = batch.records
                final.extend(records)
                state.kept = len(final)
                if self.on_round:
                    self.on_round(state)
        finally:
            await llm.aclose()
        wall = time.perf_counter() - state.started
        # machine copies + human review revisions (kept across reruns) applied on top
        write_outputs(rd, final, rd.drops())
        result = self._stats(names, stats, final, wall)
        rd.write_json("stats.json", result)
        self._manifest(rd, "complete" if len(final) >= recipe.target else "incomplete",
                       {"kept": len(final), "rounds": state.round + 1})
        rd.close()
        return result

    async def _timed(self, st: StageStats, coro) -> Batch:
        t0 = time.perf_counter()
        try:
            return await coro
        finally:
            st.seconds += time.perf_counter() - t0

    def _log(self, name: str, st: StageStats, batch: Batch) -> None:
        st.kept += len(batch.records)
        for d in batch.drops:
            st.dropped[d.reason] = st.dropped.get(d.reason, 0) + 1
        self.run_dir.log_drops(batch.drops)
        self.run_dir.log_kept(name, batch.records)

    def _stats(self, names, stats, final, wall) -> dict[str, Any]:
        g = self.state.llm
        calls = sum(s.llm.calls for s in stats)
        tokens = sum(s.llm.completion_tokens for s in stats)
        return {
            "target": self.recipe.target,
            "kept": len(final),
            "rounds": self.state.round + 1,
            "wall_seconds": round(wall, 3),
            "stages": {n: s.to_dict() for n, s in zip(names, stats)},
            "llm": {
                "calls": calls,
                "cache_hits": sum(s.llm.cache_hits for s in stats),
                "prompt_tokens": sum(s.llm.prompt_tokens for s in stats),
                "completion_tokens": tokens,
                "tokens_per_second": round(tokens / wall, 2) if wall > 0 else 0.0,
                "retries": dict(sorted(g.retries.items())),
                "failures": dict(sorted(g.failures.items())),
                "journal_size": self.run_dir.call_count(),
            },
        }
