"""Runs a recipe into a run directory: stages built from the registry, one backend per
named model, records streamed through the stages by an executor, every drop to the
ledger, every call through the journal.

Resume is replay: a rerun in the same directory rebuilds the ledger from the start, and
each call already in the journal is replayed from it, so no completed call is repeated.
Sampling is seeded per call, decisions are taken in submission order and files are
written in order-key order (see :mod:`tane.pipeline.local`), so on a deterministic backend
the rerun ends with the same dataset as an uninterrupted run.

Executors decide where, stages decide what: :class:`Runner` holds the configuration,
opens the run directory and the models, builds the stages and hands an executor (chosen
by name from :mod:`tane.pipeline.executors`) an
:class:`~tane.pipeline.execution.ExecutionPlan`; the executor never sees the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import __version__
from ..engine import StageStats
from ..errors import ServerError, TaneError
from ..llm.base import CallStats, LLMError
from ..llm.cache import CachedBackend
from ..llm.factory import build_backend
from ..recipe import Recipe
from ..schema import Record
from ..seeds.loader import load_seeds
from ..stage import check_chain
from ..store.revisions import write_outputs
from ..store.rundir import RunDir, check_dir_target
from ..store.shards import absorb_shards
from .execution import ExecutionPlan, Executor, Item, Progress, generator_call
from .executors import executor as executor_entry
from .local import over_target
from .stages import (Stages, build_stages, offline_models, resolve_path, stage_configs,
                     stage_names)
from .source import Source, load_source

SOURCE_CHUNK = 64
# what may change between a run and its resume without --force
RESUMABLE_KEYS = ("target", "llm", "models")


@dataclass
class RunState(Progress):
    """What progress displays read while a run works (the executor counts ``round`` and
    ``survived``)."""

    target: int | None = None
    kept: int = 0
    started: float = field(default_factory=time.perf_counter)
    models: dict[str, CallStats] = field(default_factory=dict)
    stages: list[StageStats] = field(default_factory=list)


def recipe_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Top-level recipe keys (and stage numbers) that differ, except those a resume may
    change (target, models)."""
    out = []
    for key in sorted(set(old) | set(new)):
        if key in RESUMABLE_KEYS or old.get(key) == new.get(key):
            continue
        if key == "stages" and isinstance(old.get(key), list) and isinstance(new.get(key), list):
            a, b = old[key], new[key]
            diff = [str(i) for i in range(max(len(a), len(b)))
                    if i >= len(a) or i >= len(b) or a[i] != b[i]]
            out.append(f"stages {', '.join(diff)}")
        else:
            out.append(key)
    return out


class Runner:
    """Everything that can fail on bad input (seeds, source, templates) fails in
    ``__init__``, before the run directory is touched or any backend is started.
    ``limit``: a preview of about that many items instead of a run to the target (the
    first stage puts out about ``limit`` records, every later stage takes all that
    reaches it; see :mod:`tane.pipeline.local`)."""

    def __init__(self, recipe: Recipe, out_dir: str | Path, base_dir: Path | None = None,
                 force: bool = False, executor: str = "local",
                 executor_options: dict[str, Any] | None = None,
                 limit: int | None = None):
        self.executor = executor_entry(executor)
        self.executor_name = executor
        self.executor_options = self.executor.parse(executor_options or {})
        self.recipe = recipe
        self.base_dir = base_dir or Path.cwd()
        self.out_dir = Path(out_dir)
        check_dir_target(self.out_dir)  # before any progress display: one line
        self.force = force
        self.limit = limit
        self.goal = recipe.goal if limit is None else None
        self.state = RunState(target=self.goal)
        self.seeds = load_seeds(resolve_path(recipe.seeds.path, self.base_dir), recipe.seeds.format)
        self.source: Source | None = None
        if recipe.source is not None:
            self.source = load_source(recipe.source, self.base_dir)
            bad = check_chain([(s.method, s.contract()) for s in stage_configs(recipe)],
                              self.source.availability())
            if bad:
                raise TaneError(f"{bad[1]} (not in {self.source.path})",
                                field=f"stages.{bad[0]}")
        self.names = stage_names(recipe)
        self.specs = [s.spec() for s in stage_configs(recipe)]
        self.model_names = [recipe.model_of(s) for s in stage_configs(recipe)]
        self.stats = [StageStats(n, model=m) for n, m in zip(self.names, self.model_names)]
        self.state.stages = self.stats
        first = self.specs[0]
        self.lookahead = first.lookahead if self.source is None else 0
        # built without a model: every bad input (templates, files) fails here, and the
        # plan renders its prompts from them; a run builds its own with the models
        self.stages: Stages = build_stages(recipe, self.seeds, self.base_dir, self.stats,
                                           self.lookahead, offline_models(recipe))
        self.executor.check(recipe, self.base_dir)  # what the executor cannot run
        if self.source is None:
            self.max_units = first.max_rounds
        else:
            n = len(self.source.records)
            self.max_units = -(-n // SOURCE_CHUNK)
            # enough chunks in flight to fill every model's concurrency several times
            most = max(recipe.llm_for(m).concurrency * max(recipe.llm_for(m).slots, 1)
                       for m in set(self.model_names))
            self.lookahead = max(2, -(-4 * most // SOURCE_CHUNK))
        self.run_dir: RunDir | None = None
        self.warnings: list[str] = []
        # told each warning of the check of the endpoints, before the first stage starts
        self.on_warning: Callable[[str], None] | None = None

    # -- what the executor is given ---------------------------------------------------
    def chunk(self, u: int) -> list[Item]:
        assert self.source is not None
        part = self.source.records[u * SOURCE_CHUNK:(u + 1) * SOURCE_CHUNK]
        return [(f"{u:09d}.{j:06d}", rec) for j, rec in enumerate(part)]

    # -- the run ---------------------------------------------------------------------
    def _manifest(self, rd: RunDir, status: str, extra: dict[str, Any] | None = None) -> None:
        rd.write_json("manifest.json", {
            "tane_version": __version__,
            "status": status,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "recipe": self.recipe.model_dump(mode="json"),
            "models": self._models(),
            "seeds": {"path": self.recipe.seeds.path, "count": len(self.seeds)},
        } | ({"source": {"path": self.source.path, "rows": len(self.source.records)
                         + len(self.source.drops)}} if self.source else {}) | (extra or {}))

    def _models(self) -> dict[str, Any]:
        out = {}
        for name in sorted(set(self.model_names)):
            cfg = self.recipe.llm_for(name)
            out[name] = {"backend": cfg.backend, "model": cfg.model or "", "license": cfg.license,
                         "base_url": cfg.urls, "stages": [n for n, m in
                                                          zip(self.names, self.model_names)
                                                          if m == name]}
        return out

    def _check_resume(self, rd: RunDir) -> None:
        path = rd.path / "manifest.json"
        if self.force or not path.exists():
            return
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("recipe") or {}
        except ValueError:
            return
        diff = recipe_differences(old, self.recipe.model_dump(mode="json"))
        if diff:
            raise TaneError(f"this run directory was made by another recipe (differs in: "
                            f"{'; '.join(diff)}); use another --out, or --force to reuse "
                            "its cached calls", path=str(self.out_dir))

    async def run(self) -> dict[str, Any]:
        with _young_gc_less_often():
            return await self._run()

    async def _run(self) -> dict[str, Any]:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise TaneError("--out names a file, not a directory", path=str(self.out_dir))
        rd = self.run_dir = RunDir(self.out_dir, lock=True)
        try:
            self._check_resume(rd)
        except BaseException:
            rd.close()
            raise
        self._manifest(rd, "running")
        backends: dict[str, CachedBackend] = {}
        status = "failed"
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)  # type: ignore[union-attr]
        try:
            for name in sorted(set(self.model_names)):
                cs = self.state.models[name] = CallStats()
                backends[name] = CachedBackend(build_backend(self.recipe.llm_for(name), cs), rd)
            await self._preflight(backends)
            stages = build_stages(self.recipe, self.seeds, self.base_dir, self.stats,
                                  self.lookahead, backends)
            rd.reset_ledger()
            if self.source is not None and self.source.drops:
                rd.log_drops(self.source.drops, [f"{0:09d}|src|{j:06d}"
                                                 for j in range(len(self.source.drops))])
            executor = self._executor(rd, stages)
            try:
                items = await executor.run()
            finally:
                executor.close()
            result = self._finish(rd, executor, items)
            status = "done"
        except (asyncio.CancelledError, KeyboardInterrupt):
            status = "interrupted"
            raise
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)
            for b in backends.values():
                with contextlib.suppress(Exception):
                    await b.aclose()
            if status != "done":  # what was journaled stays; the manifest says why it stopped
                with contextlib.suppress(Exception):
                    await rd.flush_async()
                with contextlib.suppress(Exception):
                    self._manifest(rd, status)
                with contextlib.suppress(Exception):
                    rd.close()
        return result

    def plan(self, stages: Stages, sink: RunDir) -> ExecutionPlan:
        """What an executor is given: the stages built for this run, and ``sink`` for
        what they keep and drop."""
        rec = self.recipe
        gen = stages.generator
        return ExecutionPlan(
            names=self.names, specs=self.specs, stages=stages, stats=self.stats, sink=sink,
            goal=self.goal, limit=self.limit, max_units=self.max_units,
            lookahead=self.lookahead,
            generate=generator_call(gen, self.specs[0]) if gen is not None else None,
            chunk=self.chunk if self.source is not None else None,
            windows=[c.slots if c.backend == "embedded" else c.concurrency
                     for c in (rec.llm_for(m) for m in self.model_names)],
            progress=self.state, recipe=rec, base_dir=Path(self.base_dir).resolve(),
            run_path=self.out_dir.resolve(), model_names=self.model_names,
            model_stats=self.state.models, journal=sink)

    def _executor(self, rd: RunDir, stages: Stages) -> Executor:
        cls = self.executor.executor_class()
        # an executor that replays unfinished shards keeps their journals; any other
        # takes over every shard's calls
        absorb_shards(rd.db, rd.path, finished_only=cls.replays_shards)
        return cls(self.plan(stages, rd), self.executor_options)

    async def _preflight(self, backends: dict[str, CachedBackend]) -> None:
        """Each served model's endpoint responds, and takes the key, before any stage."""
        for name, b in backends.items():
            try:
                found = await b.check()
            except LLMError as e:
                raise ServerError(f"model {name!r} ({self.recipe.llm_for(name).model}): {e}"
                                  ) from None
            self.warnings += found
            for w in found:
                if self.on_warning is not None:
                    self.on_warning(w)

    def _finish(self, rd: RunDir, executor: Executor, items: list[Item]) -> dict[str, Any]:
        last = len(self.stages) - 1
        final, extra = over_target(items, self.goal, self.names[last], last + 1)
        if extra:
            rd.log_drops([d for _, d in extra], [k for k, _ in extra])
            # the last stage passed them on; the target cut them: counted as its drops
            st = self.stats[last]
            st.kept -= len(extra)
            st.dropped["over_target"] = st.dropped.get("over_target", 0) + len(extra)
        records: list[Record] = [rec for _, rec in final]
        self.state.kept = len(records)
        wall = time.perf_counter() - self.state.started
        rd.flush()
        absorb_shards(rd.db, rd.path)  # one journal for everything that reads it later
        # machine copies + human review revisions (kept across reruns) applied on top
        reviewed, _ = write_outputs(rd, records, rd.drops())
        result = self._stats(records, wall, executor.started_units)
        # what dataset.jsonl holds: the kept records with a review's drops taken out
        result["dataset_records"] = len(reviewed)
        result["executor"] = {"name": self.executor_name} | executor.summary()
        rd.write_json("stats.json", result)
        complete = self.goal is None or len(records) >= self.goal
        self._manifest(rd, "complete" if complete else "incomplete",
                       {"kept": len(records), "rounds": executor.started_units})
        rd.close()
        return result

    def _stats(self, final: list[Record], wall: float, units: int) -> dict[str, Any]:
        stats = self.stats
        calls = sum(s.llm.calls for s in stats)
        tokens = sum(s.llm.completion_tokens for s in stats)
        retries: dict[str, int] = {}
        failures: dict[str, int] = {}
        for cs in self.state.models.values():
            for k, v in cs.retries.items():
                retries[k] = retries.get(k, 0) + v
            for k, v in cs.failures.items():
                failures[k] = failures.get(k, 0) + v
        stages = {n: s.to_dict() for n, s in zip(self.names, stats)}
        models = self._models()
        for name, cs in self.state.models.items():
            models[name] |= {"calls": cs.calls,
                             "concurrency": {"limit": cs.concurrency,
                                             "ceiling": cs.concurrency_ceiling,
                                             "lowest": cs.concurrency_min,
                                             "cuts": dict(sorted(cs.concurrency_cuts.items()))},
                             "retries": dict(sorted(cs.retries.items())),
                             "failures": dict(sorted(cs.failures.items()))}
        return {
            "target": self.goal,
            **({"limit": self.limit} if self.limit is not None else {}),
            "kept": len(final),
            "rounds": units,
            "wall_seconds": round(wall, 3),
            "warnings": self.warnings,
            "source": ({"path": self.source.path, "records": len(self.source.records),
                        "dropped": len(self.source.drops),
                        "drops": _reasons(self.source.drops)} if self.source else None),
            "stages": stages,
            "models": models,
            "llm": {
                "calls": calls,
                "cache_hits": sum(s.llm.cache_hits for s in stats),
                "prompt_tokens": sum(s.llm.prompt_tokens for s in stats),
                "completion_tokens": tokens,
                "tokens_per_second": round(tokens / wall, 2) if wall > 0 else 0.0,
                "retries": dict(sorted(retries.items())),
                "failures": dict(sorted(failures.items())),
                "journal_size": self.run_dir.call_count() if self.run_dir else 0,
            },
        }


def _reasons(drops: list[Any]) -> dict[str, int]:
    """Drops counted by reason, most first."""
    counts: dict[str, int] = {}
    for d in drops:
        counts[d.reason] = counts.get(d.reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@contextlib.contextmanager
def _young_gc_less_often(threshold: int = 10_000) -> Iterator[None]:
    """Collect the youngest generation after ``threshold`` allocations instead of
    Python's 700, for the duration of a run. Every call allocates many short-lived
    containers while hundreds of calls and their records stay alive, so the default
    collected (and scanned the survivors) several times per call: about 0.1 ms of CPU a
    call of 0.35 ms with an instant backend. The old thresholds are restored after."""
    old = gc.get_threshold()
    if old[0] == 0 or old[0] >= threshold:  # collection off, or already less often
        yield
        return
    gc.set_threshold(threshold, *old[1:])
    try:
        yield
    finally:
        if gc.get_threshold()[0] == threshold:  # nobody else changed it meanwhile
            gc.set_threshold(*old)


__all__ = ["Runner", "RunState"]
