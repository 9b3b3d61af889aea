"""``tane.preview``: every stage of a recipe on about ``n`` items, before the real run.

The recipe runs with the same engine under a limit of ``n`` (:class:`Runner`'s
``limit``): the first stage puts out about ``n`` records (a generator's rounds stop once
it has, a source gives its first ``n`` rows) and every later stage takes all that
reaches it, so the calls are about ``n`` a stage that calls a model, and fewer than
``n`` may be kept. It runs in a temporary run directory (removed after) or in ``keep``
(kept: a later ``tane run --out KEEP`` on it replays the preview's calls from its
journal and makes only the missing ones). What comes back (:class:`PreviewResult`): per
stage what came in, was kept and dropped by reason; the kept records and the drops; and
the plan for the full target (``tane plan``'s) with the preview's measured rates and
speed. Nothing is written anywhere else.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..pipeline.plan import Plan, decided_only, make_plan, speed_of_run
from ..pipeline.runner import Runner
from ..recipe import Recipe
from ..shipped import find_recipe
from .load import load
from .run import (ProgressCallback, RecipeLike, check_needs, execute, on_worker_thread,
                  recipe_for, runner_for)

MARK = "preview.json"  # in a kept preview's directory: the preview's n


@dataclass(frozen=True)
class StagePreview:
    """One stage of the preview: records that reached it, kept, dropped by reason (a
    generator's ``over_target``: what it made past ``n``), model calls and seconds."""

    name: str
    method: str
    model: str
    records_in: int
    kept: int
    dropped: dict[str, int]
    calls: int
    seconds: float


@dataclass
class PreviewResult:
    """What a preview found. ``kept`` and ``dropped`` are the rows of the run's
    ``dataset.jsonl`` and ``rejected.jsonl``; ``plan`` the estimate for ``target`` (the
    recipe's, unless given) from the preview's rates; ``kept_dir`` the run directory
    when it was kept."""

    recipe: Recipe
    n: int
    target: int | None
    stages: list[StagePreview]
    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    stats: dict[str, Any]
    plan: Plan
    kept_dir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return float(self.stats.get("wall_seconds") or 0.0)

    def __repr__(self) -> str:
        goal = "all" if self.target is None else self.target
        return (f"PreviewResult(n={self.n}, kept={len(self.kept)}, dropped="
                f"{len(self.dropped)}, seconds={self.seconds:.1f}, full target {goal}: "
                f"{self.plan.calls} calls)")


def _is_preview_dir(path: Path) -> bool:
    """A directory an earlier preview kept, that no full run has used since."""
    try:
        mark = json.loads((path / MARK).read_text(encoding="utf-8"))
        stats = json.loads((path / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return (path / MARK).exists() and not (path / "stats.json").exists()
    return stats.get("limit") == mark.get("n")


class Preview:
    """A prepared preview: bad input (recipe, seeds, source, templates, ``keep``) fails
    here, before any directory is made or model started. ``run()`` does it once."""

    def __init__(self, recipe: RecipeLike, n: int = 5, *, target: int | None = None,
                 keep: str | Path | None = None,
                 llm: str | Sequence[str] | None = None,
                 model: str | Sequence[str] | None = None,
                 license: str | Sequence[str] | None = None, slots: int | None = None,
                 threads: int | None = None,
                 timeout: float | str | Sequence[str] | None = None,
                 llm_options: Mapping[str, Any] | None = None,
                 base_dir: str | Path | None = None, yes: bool = False):
        if n < 1:
            raise TaneError(f"n must be at least 1, got {n}", field="n")
        if target is not None and target < 1:
            raise TaneError(f"--target must be at least 1, got {target}", field="target")
        self.n = n
        rec, self.base = recipe_for(recipe, llm=llm, model=model, license=license,
                                    slots=slots, threads=threads, timeout=timeout,
                                    llm_options=llm_options, base_dir=base_dir)
        self.where = (str(find_recipe(recipe)) if isinstance(recipe, (str, Path))
                      else None)
        check_needs(rec, self.where, bool(llm), yes)
        self.full = rec if target is None else rec.model_copy(update={"target": target})
        self.small = rec  # run under the limit n: its target plays no part
        self.keep = Path(keep) if keep is not None else None
        if self.keep is not None and self.keep.exists() and (
                not self.keep.is_dir() or any(self.keep.iterdir())) \
                and not _is_preview_dir(self.keep):
            raise TaneError("--keep names a directory that holds something other than a "
                            "preview (a run's outputs would be replaced by the preview's); "
                            "give a new or empty directory", path=str(self.keep))
        self.dir = self.keep or Path(tempfile.mkdtemp(prefix="tane-preview-"))
        try:
            self.runner = runner_for(self.small, self.dir, self.base, where=self.where,
                                     limit=n)
        except BaseException:
            self._clean()
            raise

    def _clean(self) -> None:
        if self.keep is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def run(self, progress: ProgressCallback | None = None,
                  progress_every: float = 0.5) -> PreviewResult:
        try:
            if self.keep is not None:
                self.dir.mkdir(parents=True, exist_ok=True)
                (self.dir / MARK).write_text(json.dumps({"n": self.n}) + "\n",
                                             encoding="utf-8")
            res = await execute(self.runner, progress, progress_every)
            return self._result(res.stats)
        finally:
            self._clean()

    def _result(self, stats: dict[str, Any]) -> PreviewResult:
        recs = load(self.dir)
        stages = [StagePreview(name, cfg.method, str(st.get("model", "default")),
                               int(st.get("records_in", 0)), int(st.get("kept", 0)),
                               dict(st.get("dropped") or {}), int(st.get("llm_calls", 0)),
                               float(st.get("wall_seconds", 0.0)))
                  for (name, st), cfg in zip((stats.get("stages") or {}).items(),
                                             self.small.stages)]
        full = Runner(self.full, self.dir, base_dir=self.base)
        gen = self.small.source is None
        plan = make_plan(full, self.dir, speed_of_run(stats, self.small),
                         history=decided_only(stats, gen))
        if self.keep is None:  # the temporary directory goes: say where the rates came from
            plan.notes = [f"rates measured by this preview ({stats['llm']['calls']} calls "
                          f"on {self.n} items)" if x.startswith(("rates from the earlier run",
                                                                "the same recipe and target"))
                          else x for x in plan.notes]
            plan.history = None
        notes = []
        if not stats["kept"]:
            notes.append("no item came through every stage: see the drops")
        return PreviewResult(self.small, self.n, self.full.goal, stages, list(recs.kept),
                             list(recs.dropped), stats, plan,
                             kept_dir=self.dir if self.keep is not None else None,
                             notes=notes)


async def preview_async(recipe: RecipeLike, n: int = 5, *, target: int | None = None,
                        keep: str | Path | None = None,
                        progress: ProgressCallback | None = None,
                        progress_every: float = 0.5, **options: Any) -> PreviewResult:
    """Every stage of ``recipe`` on about ``n`` items; see the module doc. ``options``:
    those of :func:`tane.run` (``llm``, ``model``, ``license``, ``slots``, ``threads``,
    ``timeout``, ``llm_options``, ``base_dir``, ``yes``)."""
    return await Preview(recipe, n, target=target, keep=keep, **options).run(
        progress, progress_every)


def preview(recipe: RecipeLike, n: int = 5, *, target: int | None = None,
            keep: str | Path | None = None, progress: ProgressCallback | None = None,
            progress_every: float = 0.5, **options: Any) -> PreviewResult:
    """:func:`preview_async` for code that is not async (a notebook cell included: there
    it runs on a worker thread, as :func:`tane.run` does)."""
    p = Preview(recipe, n, target=target, keep=keep, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(p.run(progress, progress_every))
    return on_worker_thread(lambda: p.run(progress, progress_every))  # type: ignore[arg-type,return-value]


__all__ = ["Preview", "PreviewResult", "StagePreview", "preview", "preview_async"]
