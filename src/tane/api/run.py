"""``tane.run`` / ``tane.run_async``: a recipe into a run directory, from Python.

``run`` works from plain code and from a notebook, where an event loop is already running
(Jupyter): there it runs the recipe on a worker thread with its own loop and blocks until
it ends, as a cell does. Async code awaits ``run_async``. Both take the recipe as a
:class:`~tane.recipe.Recipe`, a path to its YAML or a dict, and the overrides of
``tane run`` (``target``, ``llm``, ``model``, ``license``, ``slots``, ``threads``,
``timeout``, ``force``, and the executor's options).

A ``progress`` callback (plain or async) receives a :class:`RunProgress` every
``progress_every`` seconds while the run works and once more when it ends (``done``).
If the callback raises, the run stops (what was journaled stays, as after Ctrl-C) and
the callback's exception propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import TaneError
from ..pipeline.overrides import apply_overrides
from ..pipeline.runner import Runner, RunState
from ..recipe import ChainError, Recipe, at_recipe_line, field_path
from .load import Records, load

RecipeLike = Recipe | str | Path | Mapping[str, Any]
ProgressCallback = Callable[["RunProgress"], None | Awaitable[None]]


# -- progress -----------------------------------------------------------------------------
@dataclass(frozen=True)
class StageProgress:
    """One stage's counts so far (those of the live table of ``tane run``)."""

    name: str
    model: str
    records_in: int      # records that reached it (a generator: items it decided on)
    kept: int
    dropped: int
    in_flight: int       # records (a generator: rounds) inside it now
    calls: int           # model calls made (cached ones not counted)
    completion_tokens: int


@dataclass(frozen=True)
class RunProgress:
    """A snapshot of a working run. ``kept`` counts records that came out of the last
    stage (before the cut at the target); ``target`` is None for a source run without
    one (every row)."""

    kept: int
    target: int | None
    round: int
    elapsed: float
    stages: tuple[StageProgress, ...]
    done: bool = False

    def __str__(self) -> str:
        goal = "all" if self.target is None else self.target
        parts = [f"{s.name} {s.kept}/{s.records_in}" for s in self.stages]
        return (f"kept {self.kept}/{goal} · round {self.round} · {self.elapsed:.0f}s · "
                + " · ".join(parts) + (" · done" if self.done else ""))


def snapshot(state: RunState, names: Sequence[str], done: bool = False) -> RunProgress:
    stages = tuple(
        StageProgress(name=n, model=st.model, records_in=st.records_in or st.items_in,
                      kept=st.kept, dropped=sum(st.dropped.values()), in_flight=st.active,
                      calls=st.llm.calls, completion_tokens=st.llm.completion_tokens)
        for n, st in zip(names, state.stages))
    return RunProgress(kept=state.kept if done else state.survived, target=state.target,
                       round=state.round, elapsed=time.perf_counter() - state.started,
                       stages=stages, done=done)


# -- the result ---------------------------------------------------------------------------
@dataclass
class RunResult:
    """What a run left: its directory, ``stats`` (stats.json as a dict) and the recipe
    that ran (with the overrides applied)."""

    out: Path
    stats: dict[str, Any]
    recipe: Recipe
    _records: Records | None = field(default=None, repr=False)

    @property
    def kept(self) -> int:
        return int(self.stats["kept"])

    @property
    def target(self) -> int | None:
        return self.stats["target"]

    @property
    def complete(self) -> bool:
        """False when the run ended below its target (``tane run`` exits 3 then)."""
        return self.target is None or self.kept >= self.target

    @property
    def dataset_path(self) -> Path:
        return self.out / "dataset.jsonl"

    @property
    def rejected_path(self) -> Path:
        return self.out / "rejected.jsonl"

    @property
    def stats_path(self) -> Path:
        return self.out / "stats.json"

    @property
    def manifest_path(self) -> Path:
        return self.out / "manifest.json"

    @property
    def shortfall(self) -> str | None:
        """Why the run ended below its target, and what to do; None when complete."""
        if self.complete:
            return None
        failed = self.stats["llm"]["failures"]
        why = (f"{sum(failed.values())} calls failed ("
               + ", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
               + "); see rejected.jsonl for the server's messages" if failed
               else "raise max_rounds, or use a stronger model (most drops: see stats)")
        return (f"kept {self.kept} of {self.target} within {self.stats['rounds']} rounds; "
                f"{why}")

    def __fspath__(self) -> str:
        """The run directory: ``tane.load(result)``, ``tane.export(result, ...)``."""
        return str(self.out)

    def load(self) -> Records:
        """The run's records (:func:`tane.load` of ``out``), read once."""
        if self._records is None:
            self._records = load(self.out)
        return self._records

    def __repr__(self) -> str:
        goal = "all" if self.target is None else self.target
        return f"RunResult(out={str(self.out)!r}, kept={self.kept}/{goal})"


# -- preparing ----------------------------------------------------------------------------
def _validated(data: Mapping[str, Any]) -> Recipe:
    """A recipe from a dict; errors as TaneError naming the field (like a file's)."""
    try:
        return Recipe.model_validate(dict(data))
    except ValidationError as e:
        err = e.errors()[0]
        loc = field_path(tuple(err["loc"]))
        msg = err["msg"]
        chain = (err.get("ctx") or {}).get("error")
        if isinstance(chain, ChainError):
            loc = ("stages", chain.index) + ((chain.key,) if chain.key else ())
            msg = str(chain)
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise TaneError(msg, field=".".join(str(x) for x in loc) or None) from None


def _names(value: float | str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (int, float)):
        return [str(value)]
    return [value] if isinstance(value, str) else [str(v) for v in value]


def recipe_for(recipe: RecipeLike, *, target: int | None = None,
               llm: str | Sequence[str] | None = None,
               model: str | Sequence[str] | None = None,
               license: str | Sequence[str] | None = None, slots: int | None = None,
               threads: int | None = None, timeout: float | str | Sequence[str] | None = None,
               llm_options: Mapping[str, Any] | None = None,
               base_dir: str | Path | None = None) -> tuple[Recipe, Path]:
    """(the recipe with the overrides applied, the folder its relative paths are read
    from). ``llm`` / ``model`` / ``license`` / ``timeout`` take what ``--llm`` /
    ``--model`` / ``--license`` / ``--timeout`` take, one value or a list
    (``"NAME=VALUE"`` for a named model);
    ``llm_options`` changes settings of the default model (``{"slots": 4}``; ``slots``
    and ``threads`` are shorthands). The folder is ``base_dir``, else the YAML file's,
    else the current directory (a recipe built in code)."""
    if target is not None and target < 1:
        raise TaneError(f"--target must be at least 1, got {target}", field="target")
    if isinstance(recipe, Recipe):
        rec = recipe if target is None else recipe.model_copy(update={"target": target})
    elif isinstance(recipe, Mapping):
        rec = _validated(dict(recipe) | ({"target": target} if target is not None else {}))
    elif isinstance(recipe, (str, Path)):
        from ..shipped import find_recipe

        recipe = find_recipe(recipe)  # a shipped recipe's name: its file in the package
        rec = Recipe.from_yaml(recipe, **({"target": target} if target is not None else {}))
        base_dir = base_dir if base_dir is not None else Path(recipe).resolve().parent
    else:
        raise TaneError(f"a recipe is a tane.Recipe, a path to its YAML or a dict, not "
                        f"{type(recipe).__name__}")
    rec = apply_overrides(rec, _names(llm), _names(model), _names(license),
                          _names(timeout))
    options = (dict(llm_options or {}) | ({"slots": slots} if slots is not None else {})
               | ({"threads": threads} if threads is not None else {}))
    if options:
        try:
            llm_cfg = rec.llm.model_validate(rec.llm.model_dump(exclude_unset=True) | options)
        except ValidationError as e:
            err = e.errors()[0]
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            raise TaneError(msg, field=".".join(["llm", *map(str, err["loc"])])) from None
        rec = rec.model_copy(update={"llm": llm_cfg})
    return rec, Path(base_dir) if base_dir is not None else Path.cwd()


def runner_for(recipe: Recipe, out: str | Path, base_dir: Path, *, where: str | None = None,
               force: bool = False, **runner_options: Any) -> Runner:
    """The Runner of a recipe from :func:`recipe_for`: every check on bad input (seeds,
    source, templates) is done here, before the run directory is touched. ``where``
    names the recipe file in errors; ``runner_options`` go to the Runner as they are
    (``executor="ray"``, ...)."""
    seeds = recipe.seeds.path
    try:
        if not seeds.startswith("bundled:") and not (base_dir / seeds).exists():
            raise TaneError(f"seed file not found: {base_dir / seeds}", path=where,
                            field="seeds.path")
        return Runner(recipe, out, base_dir=base_dir, force=force, **runner_options)
    except TaneError as e:  # a file or template the recipe names: said at its line
        if where is None:
            raise
        raise at_recipe_line(e, where) from None


def check_needs(rec: Recipe, where: str | None, llm_given: bool, yes: bool,
                served: str = "llm=URL, model=NAME", anyway: str = "yes=True") -> None:
    """A recipe meant for a served model (``needs:``) started on the embedded one stops
    with a :class:`TaneError` saying what it needs, unless ``yes`` or an explicit ``llm``
    was given (the command line words ``served`` and ``anyway`` as its flags)."""
    needs = getattr(rec, "needs", None)
    if needs is None or yes or llm_given:
        return
    if not any(rec.llm_for(rec.model_of(s)).backend == "embedded" for s in rec.stages):
        return
    kind = ("an instruction-tuned chat model" if needs.model == "chat"
            else "a base model with raw completions")
    lang = " that writes Japanese" if needs.japanese else ""
    why = f" ({needs.why})" if needs.why else ""
    raise TaneError(f"this recipe is meant for a served model: {kind}{lang}{why}. On the "
                    f"embedded model it only shows the plumbing. Point it at a server with "
                    f"{served}, or run it here anyway with {anyway}", path=where)


def prepare(recipe: RecipeLike, out: str | Path, *, target: int | None = None,
            llm: str | Sequence[str] | None = None,
            model: str | Sequence[str] | None = None,
            license: str | Sequence[str] | None = None, slots: int | None = None,
            threads: int | None = None, timeout: float | str | Sequence[str] | None = None,
            llm_options: Mapping[str, Any] | None = None, force: bool = False,
            base_dir: str | Path | None = None, yes: bool = False,
            **runner_options: Any) -> Runner:
    """:func:`recipe_for`, the ``needs:`` check (:func:`check_needs`), then
    :func:`runner_for`."""
    rec, base = recipe_for(recipe, target=target, llm=llm, model=model, license=license,
                           slots=slots, threads=threads, timeout=timeout,
                           llm_options=llm_options, base_dir=base_dir)
    where = str(recipe) if isinstance(recipe, (str, Path)) else None
    check_needs(rec, where, bool(llm), yes)
    return runner_for(rec, out, base, where=where, force=force, **runner_options)


# -- running ------------------------------------------------------------------------------
async def _notify(callback: ProgressCallback, p: RunProgress) -> None:
    res = callback(p)
    if inspect.isawaitable(res):
        await res


async def execute(runner: Runner, progress: ProgressCallback | None = None,
                  progress_every: float = 0.5) -> RunResult:
    """Run a prepared runner on the running loop; see the module doc."""
    if progress is None:
        stats = await runner.run()
        return RunResult(runner.out_dir, stats, runner.recipe)
    failed: list[BaseException] = []
    main = asyncio.current_task()

    async def report() -> None:
        try:
            while True:
                await asyncio.sleep(progress_every)
                await _notify(progress, snapshot(runner.state, runner.names))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001  (the callback failed: stop the run, raise it)
            failed.append(e)
            if main is not None:
                main.cancel()

    reporter = asyncio.create_task(report())
    try:
        stats = await runner.run()
    except asyncio.CancelledError:
        if failed:
            if main is not None:
                main.uncancel()
            raise failed[0] from None
        raise
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
    await _notify(progress, snapshot(runner.state, runner.names, done=True))
    return RunResult(runner.out_dir, stats, runner.recipe)


async def run_async(recipe: RecipeLike, out: str | Path, *, target: int | None = None,
                    llm: str | Sequence[str] | None = None,
                    model: str | Sequence[str] | None = None,
                    license: str | Sequence[str] | None = None, slots: int | None = None,
                    threads: int | None = None, timeout: float | str | Sequence[str] | None = None,
                    progress: ProgressCallback | None = None, progress_every: float = 0.5,
                    force: bool = False, base_dir: str | Path | None = None,
                    yes: bool = False, **runner_options: Any) -> RunResult:
    """Run ``recipe`` into the run directory ``out`` (resumable: the same call again
    repeats no completed model call) and return a :class:`RunResult`."""
    runner = prepare(recipe, out, target=target, llm=llm, model=model, license=license,
                     slots=slots, threads=threads, timeout=timeout, force=force,
                     base_dir=base_dir, yes=yes, **runner_options)
    return await execute(runner, progress, progress_every)


def run(recipe: RecipeLike, out: str | Path, *, target: int | None = None,
        llm: str | Sequence[str] | None = None, model: str | Sequence[str] | None = None,
        license: str | Sequence[str] | None = None, slots: int | None = None,
        threads: int | None = None, timeout: float | str | Sequence[str] | None = None,
        progress: ProgressCallback | None = None, progress_every: float = 0.5,
        force: bool = False, base_dir: str | Path | None = None, yes: bool = False,
        **runner_options: Any) -> RunResult:
    """:func:`run_async` for code that is not async. Inside a running event loop (a
    notebook cell), the run goes to a worker thread with its own loop, and this call
    blocks until it ends; Ctrl-C (interrupting the kernel) stops it as ``tane run``
    stops. A progress callback is then called on that thread."""
    runner = prepare(recipe, out, target=target, llm=llm, model=model, license=license,
                     slots=slots, threads=threads, timeout=timeout, force=force,
                     base_dir=base_dir, yes=yes, **runner_options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(execute(runner, progress, progress_every))
    return on_worker_thread(lambda: execute(runner, progress, progress_every))


def on_worker_thread(make: Callable[[], Awaitable[RunResult]]) -> RunResult:
    box: dict[str, Any] = {}
    started, finished = threading.Event(), threading.Event()

    async def main() -> RunResult:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await make()

    def work() -> None:
        try:
            box["result"] = asyncio.run(main())
        except BaseException as e:  # noqa: BLE001  (handed to the caller's thread)
            box["error"] = e
        finally:
            started.set()
            finished.set()

    thread = threading.Thread(target=work, name="tane-run", daemon=True)
    # Ctrl-C must interrupt the wait below. A loop started by asyncio.run only cancels its
    # task on SIGINT, which a caller blocked here never sees; so the plain handler, for
    # the wait (a Jupyter kernel raises KeyboardInterrupt here already). The wait is on
    # an Event: a Thread.join interrupted by KeyboardInterrupt leaves the thread marked
    # as ended on Python 3.11.
    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.default_int_handler) if main_thread else None
    thread.start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        started.wait()
        if "loop" in box and not finished.is_set():
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                box["loop"].call_soon_threadsafe(box["task"].cancel)
        finished.wait()
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, old)
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


__all__ = ["RunProgress", "RunResult", "StageProgress", "execute", "prepare", "recipe_for",
           "run", "run_async", "runner_for"]
