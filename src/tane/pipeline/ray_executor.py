"""The Ray executor: the same recipe, its per-record stages fanned out over a Ray cluster.

What runs where. The driver (the ``tane run`` process) keeps everything that depends on
order: the generator and its rounds, ordered stages (greedy dedup, novelty), the start
rule, the ledger and the files, exactly as :class:`~tane.pipeline.local.LocalExecutor`
does. Each run of per-record stages (those that call a model, stateless curate steps) is cut
into *shards* of up to ``shard_size`` records of one unit; a shard goes to one of the
worker actors, which runs the records through those stages concurrently and returns what
each stage kept and dropped, with the same order keys the local executor gives. The driver
logs them in that order, so on a deterministic backend the dataset is the one a local run
makes.

Workers rebuild their context from data sent with them and read nothing of the driver's
filesystem (no shared filesystem is needed): the recipe, the seeds and the files the
workers' stages name beside the recipe (:mod:`tane.pipeline.ray_files`). Nothing live
(HTTP clients, SQLite handles) is pickled. Each worker builds the backends of the models
its stages use, once, on first use, each with its share of the model's ``concurrency``
(the setting is for the whole run), and takes up to that share of shards at once (a shard
holds one record or more; the backend's limiter bounds the calls); every shard gets stage
objects of its own.

Journals (:mod:`tane.pipeline.ray_journal`). A worker writes each call to a cache on its
own node before using it, and returns the shard's calls with its results; the driver
commits them to the run's journal, then writes the shard's completion marker
(``DIR/shards/<id>.done.json``, its results), then uses them. A shard with a marker is not
sent again on resume; a shard without one is sent again, replays what its node's cache
holds, and asks the driver for any call already in the run's journal. A worker killed
mid-shard is restarted by Ray and the shard retried (``max_restarts``/
``max_task_retries``): on the same node it replays the cache; elsewhere it loses at most
that shard's uncommitted calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import socket
from pathlib import Path
from typing import Any, Callable, ClassVar

from ..engine import Model, StageStats
from ..errors import ServerError, TaneError
from ..llm.base import Backend, CallStats
from ..llm.cache import CachedBackend
from ..llm.factory import build_backend
from ..recipe import Recipe
from ..schema import Drop, Record, stable_hash
from ..seeds.loader import load_seeds
from ..store.shards import mark_done, read_done
from .execution import ExecutionPlan, Item, unit_key
from .executor_options import RayOptions
from .local import LocalExecutor
from .ray_files import node_folder, seeds_data, seeds_from, stage_files, write_files
from .ray_journal import JournalDesk, ShardCache, commit_calls, forget, serve_desk
from .stages import build_stages, resolve_path, stage_configs, stage_names

def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise TaneError("the Ray executor needs Ray: pip install 'tane[ray]'",
                        field="executor") from None
    return ray


class _Collector:
    """Stands in for the run directory inside a worker: keeps what the stages log."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, list[str], list[dict[str, Any]]]] = []
        self.drops: list[tuple[list[str], list[dict[str, Any]]]] = []

    def log_kept(self, stage: str, records: list[Record], keys: list[str]) -> None:
        if records:
            self.kept.append((stage, list(keys), [r.model_dump(mode="json") for r in records]))

    def log_drops(self, drops: list[Drop], keys: list[str]) -> None:
        if drops:
            self.drops.append((list(keys), [d.model_dump(mode="json") for d in drops]))


def _counts(cs: CallStats) -> dict[str, Any]:
    return {"calls": cs.calls, "cache_hits": cs.cache_hits, "prompt_tokens": cs.prompt_tokens,
            "completion_tokens": cs.completion_tokens, "retries": dict(cs.retries),
            "failures": dict(cs.failures)}


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in after.items():
        if isinstance(v, dict):
            out[k] = {r: n - before[k].get(r, 0) for r, n in v.items()
                      if n - before[k].get(r, 0)}
        else:
            out[k] = v - before[k]
    return out


class ShardWorker:
    """One worker's context, rebuilt from the data in ``spec`` (wrapped as a Ray actor):
    the recipe, the seeds, the files its stages read (written into a folder of this
    node's, which stands for the recipe's folder), the run's key (this node's cache of
    shard calls) and the driver's journal desk, if any."""

    def __init__(self, spec: dict[str, Any]):
        self.recipe = Recipe.model_validate(spec["recipe"])
        self.folder = node_folder(spec["run_key"])
        self.base_dir = write_files(spec["files"], self.folder)
        self.desk = spec.get("desk")
        self.workers = spec.get("workers", 1)
        self.seeds = seeds_from(spec["seeds"])
        self.lookahead = spec["lookahead"]
        self.names = stage_names(self.recipe)
        self.model_names = [self.recipe.model_of(s) for s in stage_configs(self.recipe)]
        self.specs = [s.spec() for s in stage_configs(self.recipe)]
        self.backends: dict[str, Backend] = {}
        self.model_stats: dict[str, CallStats] = {}

    def pid(self) -> int:
        import os

        return os.getpid()

    def _backend(self, name: str) -> Backend:
        if name not in self.backends:
            cs = self.model_stats[name] = CallStats()
            cfg = self.recipe.llm_for(name)
            # the model's concurrency is for the whole run: each worker takes its share
            share = max(1, -(-cfg.concurrency // self.workers))
            self.backends[name] = build_backend(cfg.model_copy(update={"concurrency": share}),
                                                cs)
        return self.backends[name]

    async def process(self, shard_id: str, stages: list[int], unit: int,
                      payload: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        try:
            return await self._process(shard_id, stages, unit, payload)
        except ServerError as e:
            return {"error": "server", "message": e.one_line()}
        except TaneError as e:
            return {"error": "tane", "message": e.one_line()}

    async def _process(self, shard_id: str, stages: list[int], unit: int,
                       payload: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        journal = ShardCache(self.folder, shard_id, self.desk)
        try:
            models = sorted({self.model_names[i] for i in stages})
            inner = {m: self._backend(m) for m in models}
            before = {m: _counts(self.model_stats[m]) for m in models}
            # this shard's own stage objects and counts (shards run side by side)
            stats = [StageStats(n, model=m) for n, m in zip(self.names, self.model_names)]
            cached: dict[str, Model] = {m: CachedBackend(inner[m], journal) for m in models}
            built = build_stages(self.recipe, self.seeds, self.base_dir, stats, self.lookahead,
                                 cached, only=set(stages))
            sink = _Collector()
            # the shard's plan: its stages only, no generator, no goal (the driver keeps
            # the start and feed rules)
            ex = LocalExecutor(ExecutionPlan(names=self.names, specs=self.specs,
                                             stages=built, stats=stats, sink=sink))
            items = [(k, Record.model_validate(r)) for k, r in payload]
            outs = await asyncio.gather(*(ex.chain(stages, it, unit) for it in items))
            done = sorted((x for o in outs for x in o), key=lambda x: x[0])
            result = {
                "items": [(k, r.model_dump(mode="json")) for k, r in done],
                "kept": sink.kept,
                "drops": sink.drops,
                "stages": {str(i): {"records_in": stats[i].records_in, "kept": stats[i].kept,
                                    "dropped": stats[i].dropped,
                                    "llm": _counts(stats[i].llm)} for i in stages},
                "models": {m: _delta(_counts(self.model_stats[m]), before[m]) for m in models},
                # every call made, or replayed from this node's cache: the driver commits
                # them before it uses the results
                "calls": list(journal.calls.values()),
            }
            return result
        finally:
            journal.close()

    def forget(self, shard_id: str) -> None:
        """The driver has committed the shard: its cache on this node goes."""
        forget(self.folder, shard_id)

    async def aclose(self) -> None:
        for b in self.backends.values():
            with contextlib.suppress(Exception):
                await b.aclose()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # left when a shard was not committed
            self.folder.rmdir()


def remote_models(plan: ExecutionPlan, segments: list[tuple[bool, list[int]]]) -> set[str]:
    """The models of the stages that go to the workers and call a model (a curate step
    calls none: it sizes no worker)."""
    return {plan.model_names[i] for ordered, ii in segments if not ordered for i in ii
            if plan.specs[i].llm}


class RayExecutor(LocalExecutor):
    """:class:`LocalExecutor` whose per-record stage runs go to Ray worker actors."""

    # no shard journal lives in the run directory: the runner takes over any left there
    # (by an older tane) before the run
    replays_shards: ClassVar[bool] = False

    def __init__(self, plan: ExecutionPlan, options: RayOptions | None = None):
        super().__init__(plan)
        opts = options or RayOptions()
        address, workers = opts.address, opts.workers
        if plan.recipe is None:
            raise TaneError("the Ray executor rebuilds stages from the recipe: the plan "
                            "has none", field="executor")
        recipe: Recipe = plan.recipe
        self.recipe = recipe
        if plan.journal is None:
            raise TaneError("the Ray executor commits its workers' calls to the run's "
                            "journal: the plan has none", field="executor")
        # what the workers need, as data, checked before Ray starts
        remote = [i for ordered, ii in self.segments if not ordered for i in ii]
        base_dir = Path(plan.base_dir).resolve()
        files = stage_files(recipe, remote, base_dir) if remote else {}
        seeds = load_seeds(resolve_path(recipe.seeds.path, base_dir), recipe.seeds.format)
        ray = self.ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.shard_size = opts.shard_size
        self.started_ray = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR, configure_logging=True)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise TaneError(f"cannot reach the Ray cluster at {address or 'a new local one'}"
                                f": {e}".splitlines()[0], field="address") from None
            self.started_ray = True
        res = ray.cluster_resources()
        cpus = int(res.get("CPU", 1))
        # a worker whose stages run vLLM in-process holds one engine: one GPU each
        calling = remote_models(plan, self.segments)
        gpus = 1 if any(recipe.llm_for(m).backend == "vllm" for m in calling) else 0
        n = workers or max(1, int(res.get("GPU", 0)) if gpus else cpus)
        # a run already holding calls (a resume, a rerun) replies to the workers' questions
        # about them; a new run asks nothing
        held = plan.journal.call_count() if plan.journal is not None else 0
        self.desk: Any = None
        if remote and held:
            self.desk = ray.remote(JournalDesk).options(
                num_cpus=0, max_concurrency=10_000,
                # beside the driver, whose node it does not outlive
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    ray.get_runtime_context().get_node_id(), soft=True)).remote()
        # what the records of a shard meet besides the recipe: a changed template or seed
        # file makes new shards, as it makes new prompts
        self.inputs = stable_hash([sorted((k, hashlib.sha256(v).hexdigest())
                                          for k, v in files.items()), seeds_data(seeds)], 16)
        spec = {"recipe": recipe.model_dump(mode="json"), "seeds": seeds_data(seeds),
                "files": files, "desk": self.desk,
                # this run's caches on each node: the same on a resume from this machine
                "run_key": stable_hash([socket.gethostname(),
                                        str(Path(plan.run_path).resolve())], 16),
                "lookahead": plan.lookahead}
        # enough shards at once on each worker to use its share of every model's concurrency
        # (a shard may hold fewer records than shard_size: a unit is cut into shards, and a
        # source chunk or a round can be smaller); the backends' limiters bound the calls
        share = max((recipe.llm_for(m).concurrency for m in calling), default=1)
        self.shards_per_worker = max(1, -(-share // max(n, 1)))
        actor = ray.remote(ShardWorker).options(
            max_concurrency=self.shards_per_worker, max_restarts=-1, max_task_retries=-1,
            num_gpus=gpus, num_cpus=min(1.0, cpus / n),
            # the nodes meant for workers: each worker takes one of their custom resource
            resources={opts.worker_resource: 1} if opts.worker_resource else None)
        n = n if remote else 0  # nothing to send: no workers
        spec["workers"] = n
        self.actors = [actor.remote(spec) for _ in range(n)]
        self.load = [0] * n
        self.workers = n
        self.shards_sent = 0
        self.shards_reused = 0
        self.shard_count: dict[tuple[int, int], int] = {}  # (unit, segment) -> last shard

    # the per-record segments go out (each record's future settles with its shard); the
    # ordered ones, and the feed rule, stay here (LocalExecutor's code)
    def launch(self, s: int, stages: list[int], unit: int,
                items: list[Item]) -> list[asyncio.Future[list[Item]]]:
        loop = asyncio.get_running_loop()
        out: list[asyncio.Future[list[Item]]] = []
        for j in range(0, len(items), self.shard_size):
            part = items[j:j + self.shard_size]
            k = self.shard_count[(unit, s)] = self.shard_count.get((unit, s), -1) + 1
            task = asyncio.ensure_future(self._shard(s, stages, unit, k, part))
            futs: list[asyncio.Future[list[Item]]] = [loop.create_future() for _ in part]
            for f in futs:  # a record given up (the run stops) gives its shard up
                f.add_done_callback(_give_up(task))
            task.add_done_callback(_settles(part, futs))
            out += futs
        return out

    async def _shard(self, s: int, stages: list[int], unit: int, k: int,
                     part: list[Item]) -> list[Item]:
        p, rec = self.p, self.recipe
        payload = [(key, r.model_dump(mode="json")) for key, r in part]
        cfgs = stage_configs(rec)
        configs = [cfgs[i].model_dump(mode="json") for i in stages]
        models = [[rec.llm_for(p.model_names[i]).backend,
                   rec.llm_for(p.model_names[i]).model] for i in stages]
        sid = (f"{unit_key(unit)}-{s:02d}-{k:05d}-"
               f"{stable_hash([rec.seed, configs, models, payload, self.inputs], 16)}")
        result = read_done(p.run_path, sid)
        if result is None:
            a = min(range(self.workers), key=lambda j: (self.load[j], j))
            self.load[a] += 1
            with contextlib.ExitStack() as spans:
                for j, i in enumerate(stages):
                    spans.enter_context(p.stats[i].working(len(part) if j == 0 else 0))
                try:
                    result = await self.actors[a].process.remote(sid, stages, unit, payload)
                finally:
                    self.load[a] -= 1
            self.shards_sent += 1
            if "error" in result:
                cls = ServerError if result["error"] == "server" else TaneError
                raise cls(result["message"])
            # the calls are durable in the run's journal, then the shard is marked done,
            # then its results are used
            await commit_calls(p.journal, result.pop("calls"))
            mark_done(p.run_path, sid, result)
            self.actors[a].forget.remote(sid)
            return self._apply(result)
        self.shards_reused += 1
        return self._apply(result, reused=True)

    def _apply(self, result: dict[str, Any], reused: bool = False) -> list[Item]:
        """Log a shard's results as the local executor would have. A shard finished by an
        earlier run counts its calls as cache hits, as a replay from the journal does."""
        p = self.p
        sink = p.sink
        for stage, keys, recs in result["kept"]:
            sink.log_kept(stage, [Record.model_validate(x) for x in recs], keys)
        for keys, drops in result["drops"]:
            sink.log_drops([Drop.model_validate(x) for x in drops], keys)
        for i, c in result["stages"].items():
            st = p.stats[int(i)]
            st.records_in += c["records_in"]
            st.kept += c["kept"]
            for reason, n in c["dropped"].items():
                st.dropped[reason] = st.dropped.get(reason, 0) + n
            if reused:
                st.llm.cache_hits += c["llm"]["calls"] + c["llm"]["cache_hits"]
                continue
            _add(st.llm, c["llm"])
        for name, c in ({} if reused else result["models"]).items():
            cs = p.model_stats.get(name)
            if cs is not None:
                _add(cs, c)
        return [(k, Record.model_validate(x)) for k, x in result["items"]]

    async def run(self) -> list[Item]:
        serving = (asyncio.ensure_future(serve_desk(self.desk, self.p.journal))
                   if self.desk is not None else None)
        try:
            return await super().run()
        finally:
            if serving is not None:
                serving.cancel()
                with contextlib.suppress(BaseException):
                    await serving

    def summary(self) -> dict[str, Any]:
        return {"workers": self.workers, "shard_size": self.shard_size,
                "shards_per_worker": self.shards_per_worker,
                "shards_sent": self.shards_sent, "shards_reused": self.shards_reused}

    def close(self) -> None:
        ray = self.ray
        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.get(a.aclose.remote(), timeout=10)
            with contextlib.suppress(Exception):
                ray.kill(a)
        self.actors = []
        if self.desk is not None:
            with contextlib.suppress(Exception):
                ray.kill(self.desk)
            self.desk = None
        if self.started_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()


def _give_up(task: asyncio.Future[list[Item]]) -> Callable[[asyncio.Future[list[Item]]], None]:
    """A record's callback: when it is given up (cancelled), so is its shard's task."""
    def done(f: asyncio.Future[list[Item]]) -> None:
        if f.cancelled():
            task.cancel()
    return done


def _settles(part: list[Item], futs: list[asyncio.Future[list[Item]]]
             ) -> Callable[[asyncio.Future[list[Item]]], None]:
    def done(task: asyncio.Future[list[Item]]) -> None:
        _settle(task, part, futs)
    return done


def _settle(task: asyncio.Future[list[Item]], part: list[Item],
            futs: list[asyncio.Future[list[Item]]]) -> None:
    """Each record's future gets what its shard made of it (the output keys start with
    the record's own; the longest such key wins)."""
    if task.cancelled() or task.exception() is not None:
        for f in futs:
            if not f.done():
                if task.cancelled():
                    f.cancel()
                else:
                    f.set_exception(task.exception())  # type: ignore[arg-type]
        return
    keys = sorted((k for k, _ in part), key=len, reverse=True)
    mine: dict[str, list[Item]] = {k: [] for k in keys}
    for key, rec in task.result():
        owner = next(k for k in keys if key == k or key.startswith(k + "."))
        mine[owner].append((key, rec))
    for (k, _), f in zip(part, futs):
        if not f.done():
            f.set_result(mine[k])


def _add(cs: CallStats, c: dict[str, Any]) -> None:
    cs.calls += c.get("calls", 0)
    cs.cache_hits += c.get("cache_hits", 0)
    cs.prompt_tokens += c.get("prompt_tokens", 0)
    cs.completion_tokens += c.get("completion_tokens", 0)
    for table, mine in (("retries", cs.retries), ("failures", cs.failures)):
        for reason, n in c.get(table, {}).items():
            mine[reason] = mine.get(reason, 0) + n


__all__ = ["RayExecutor", "ShardWorker", "remote_models"]
