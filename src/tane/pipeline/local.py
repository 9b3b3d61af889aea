"""The local executor: records stream through the stages on one asyncio loop.

Units. A generator makes records in rounds; a ``source:`` file is cut into chunks. Each
round or chunk is a *unit*, numbered in submission order. Every record gets an order key
(``unit.index``; a record made from another adds ``.j``), and everything that ends up in
files is sorted by it, so the dataset and the drops come out in the same order however
the calls complete.

Streaming. A unit's records move on as soon as they exist: each record goes through a
run of per-record stages on its own, concurrently with every other record in flight. An
ordered stage (stateful: greedy dedup, a novelty index) takes whole units, one at a time,
in unit order. So a per-record stage works on round r while the generator works on rounds
r+1.. r+lookahead, and the server always has work.

When to stop. Starting a unit is decided from what is *known at a fixed point*, never
from timing, so a resumed run makes exactly the same calls as an uninterrupted one:
unit r is considered once units 0..r-D are finished (D = lookahead + 2) and the
generator has finished units 0..r-L (L = lookahead); from those alone it estimates what
the units still in flight will keep, and starts unit r only if that falls short of the
target. If it does not, it waits for the next unit to finish (in a fixed order) and asks
again. The last rounds therefore ask for about what is missing, not for a whole round.

When to stop calling. A unit's records are then fed to the last run of per-record
stages by the feed rule (:mod:`tane.pipeline.feed`): only while what is kept, plus what
is in flight at the measured keep rate, falls short of the target; the rest of a unit is
dropped as ``over_target`` before any call is made for it. The stages after that run, which
call no model, take the fed records wave by wave; a run with several stages that call a
model is fed part by part (:mod:`tane.pipeline.feed_flow`).

A preview's limit. With ``plan.limit`` there is no target: units start only while the
first stage's records (those units 0..r-L put out, plus what the later units were asked
for) fall short of the limit, each asked for what is missing (a source's chunk is cut to
it), and every later stage takes all that reaches it. Decided from the same fixed points,
so a kept preview's calls are those a run makes for the same records.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, ClassVar

from ..engine import StageStats, Turns
from ..schema import Drop
from ..stage import Batch
from .execution import ExecutionPlan, Item, drop_key, unit_key
from .feed_flow import FeedFlow, plan_feed


class LocalExecutor(FeedFlow):
    """Runs an :class:`~tane.pipeline.execution.ExecutionPlan`'s stages on this
    process."""

    replays_shards: ClassVar[bool] = False

    def __init__(self, plan: ExecutionPlan, options: Any = None):
        self.p = plan
        idx = sorted(plan.stages.transforms)
        # runs of per-record stages, split at ordered ones: [(ordered, [stage indexes])]
        self.segments: list[tuple[bool, list[int]]] = []
        for i in idx:
            if plan.specs[i].sequential:
                self.segments.append((True, [i]))
            elif self.segments and not self.segments[-1][0]:
                self.segments[-1][1].append(i)
            else:
                self.segments.append((False, [i]))
        # the feed rule guards the last per-record segment that calls a model, cut into
        # parts (one for each stage in it that calls a model), and the stages after it
        self.segments, self.parts = plan_feed(plan, self.segments)
        self.trail_last: asyncio.Future[None] | None = None  # the last wave fed to them
        self.seq = {i: Turns() for o, ii in self.segments if o for i in ii}
        self.cut: dict[int, int] = {}  # unit -> records the feed rule did not feed
        self.gen_count: dict[int, int] = {}  # unit -> records the generator emitted
        self.asked: dict[int, int] = {}  # unit -> records it was asked for
        self.survivors: dict[int, list[Item]] = {}  # unit -> records past every stage
        self.gen_done: dict[int, asyncio.Event] = {}
        self.unit_done: dict[int, asyncio.Event] = {}
        self.failed: asyncio.Future[None] | None = None
        self.started_units = 0

    def summary(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass

    # -- bookkeeping -----------------------------------------------------------------
    def _event(self, table: dict[int, asyncio.Event], u: int) -> asyncio.Event:
        ev = table.get(u)
        if ev is None:
            ev = table[u] = asyncio.Event()
        return ev

    async def _wait(self, table: dict[int, asyncio.Event], u: int) -> None:
        if u < 0:
            return
        ev = self._event(table, u)
        if ev.is_set():
            return
        assert self.failed is not None
        waiter = asyncio.ensure_future(ev.wait())
        either: set[asyncio.Future[Any]] = {waiter, self.failed}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
        if self.failed.done():
            raise self.failed.exception() or RuntimeError("a unit failed")

    def _log(self, i: int, batch: Batch, keys: list[str], drop_keys: list[str]) -> None:
        st: StageStats = self.p.stats[i]
        st.kept += len(batch.records)
        errors = self.p.stages.context(i).errors
        for d in batch.drops:
            st.dropped[d.reason] = st.dropped.get(d.reason, 0) + 1
            if d.reason.startswith("llm_error:") and "error" not in d.detail:
                msg = errors.get(d.reason.split(":", 1)[1])
                if msg:
                    d.detail["error"] = msg
        sink = self.p.sink
        sink.log_drops(batch.drops, drop_keys)
        sink.log_kept(self.p.names[i], batch.records, keys)

    # -- one stage on some records ---------------------------------------------------
    async def _step(self, i: int, items: list[Item], unit: int) -> list[Item]:
        st = self.p.stats[i]
        st.records_in += len(items)
        with st.working(len(items)):
            batch = await self.p.stages.transforms[i].process([rec for _, rec in items])
        by_id = {rec.id: key for key, rec in items}
        parent = items[0][0] if len(items) == 1 else unit_key(unit) + ".n"
        out: list[Item] = []
        fresh = 0
        for rec in batch.records:
            key = by_id.get(rec.id)
            if key is None:
                key = f"{parent}.{fresh:03d}"
                fresh += 1
            out.append((key, rec))
        dkeys = [drop_key(by_id.get(d.record_id or "", parent), i, j)
                 for j, d in enumerate(batch.drops)]
        self._log(i, Batch([r for _, r in out], batch.drops), [k for k, _ in out], dkeys)
        return out

    async def chain(self, stages: list[int], item: Item, unit: int) -> list[Item]:
        """One record through a run of per-record stages (indexes ``stages``): what it
        became, under its order keys. A remote worker runs its shard's records so."""
        items = [item]
        for i in stages:
            if len(items) == 1:  # the usual case: no task of its own for one step
                items = await self._step(i, items, unit)
                continue
            outs = await asyncio.gather(*(self._step(i, [it], unit) for it in items))
            items = [x for o in outs for x in o]
            if not items:
                break
        return items

    async def _transforms(self, unit: int, items: list[Item]) -> list[Item]:
        for s, (ordered, stages) in enumerate(self.segments):
            if self.parts and s == self.parts[0][0]:
                return await self._fed(unit, items)  # empty units take turns too
            if ordered:
                i = stages[0]
                async with self.seq[i].turn(unit):  # units pass in order, empty ones too
                    if items:
                        items = sorted(await self._step(i, sorted(items, key=lambda x: x[0]),
                                                        unit), key=lambda x: x[0])
            elif items:
                outs = await asyncio.gather(*self.launch(s, stages, unit, items))
                items = sorted((x for o in outs for x in o), key=lambda x: x[0])
        return items

    def launch(self, s: int, stages: list[int], unit: int,
                items: list[Item]) -> list[asyncio.Future[list[Item]]]:
        """Start records through a per-record segment (``s``-th segment, stage indexes
        ``stages``): one future per record, holding what that record became under its
        order keys. The extension point of an executor that runs these segments
        elsewhere (Ray actors, a thread pool): it returns such futures, having logged
        each stage's kept records and drops to the plan's sink and counted them in the
        plan's stats; everything else (units, order, the start and feed rules) stays
        this class's."""
        return [asyncio.ensure_future(self.chain(stages, it, unit)) for it in items]

    # -- one unit: generate (or take the chunk), then the transforms --------------------
    async def _unit(self, u: int, need: int) -> None:
        try:
            p = self.p
            if p.generate is not None:
                with p.stats[0].working(1):
                    batch = await p.generate(u, need)
                keys = [f"{unit_key(u)}.{j:06d}" for j in range(len(batch.records))]
                dkeys = [drop_key(unit_key(u), 0, j) for j in range(len(batch.drops))]
                self._log(0, batch, keys, dkeys)
                items = list(zip(keys, batch.records))
            else:
                assert p.chunk is not None, "a plan without a generator has chunks"
                items = p.chunk(u)
                if p.limit is not None:
                    items = items[:need]
            self.gen_count[u] = len(items)
            self._event(self.gen_done, u).set()
            self.survivors[u] = await self._transforms(u, items)
            p.progress.survived += len(self.survivors[u])
            self._event(self.unit_done, u).set()
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            if self.failed is not None and not self.failed.done():
                self.failed.set_exception(e)
            raise

    # -- the deterministic start rule -------------------------------------------------
    def _estimate(self, r: int, kd: int, kg: int) -> tuple[float, int]:
        """(records expected to survive from units 0..r-1, records to ask of unit r)
        from what is known when units 0..kd are finished and the generator has finished
        units 0..kg."""
        goal = self.p.goal
        surv = sum(len(self.survivors[i]) for i in range(kd + 1))
        emitted = sum(self.gen_count[i] - self.cut.get(i, 0) for i in range(kd + 1))
        rate = surv / emitted if emitted else 1.0
        between = sum(self.gen_count[i] for i in range(kd + 1, kg + 1))
        per_unit = (sum(self.gen_count[i] for i in range(kg + 1)) / (kg + 1)) if kg >= 0 else 0.0
        unknown = (r - 1) - kg
        expected = surv + (between + unknown * per_unit) * rate
        if goal is None:
            return expected, 0
        need = math.ceil((goal - expected) / max(rate, 0.05))
        return expected, max(need, 1)

    async def _short_of_goal(self, u: int, kd: int, kg: int) -> int | None:
        """The start rule: the records to ask of unit ``u`` (None: none, the units
        finished have kept the goal); while the units in flight are expected to meet
        it, waits for the next one to put out its records, or to finish, in a fixed
        order."""
        goal = self.p.goal
        while True:
            expected, need = self._estimate(u, kd, kg)
            done_surv = sum(len(self.survivors[i]) for i in range(kd + 1))
            if goal is not None and done_surv >= goal:
                return None
            if goal is None or expected < goal:
                return need
            if kg < u - 1:
                kg += 1
                await self._wait(self.gen_done, kg)
            elif kd < u - 1:
                kd += 1
                await self._wait(self.unit_done, kd)
            else:  # pragma: no cover - expected == done_surv < goal returns above
                return need

    async def _short_of_limit(self, u: int, kg: int) -> int | None:
        """Under a limit: the records to ask of unit ``u`` (None: none, the first stage
        has put out enough). Counted from what units 0..kg put out and what units kg+1..u-1
        were asked for; while those would reach the limit, waits for the next unit's
        records, in unit order."""
        limit = self.p.limit
        assert limit is not None
        while True:
            out = sum(self.gen_count[i] for i in range(kg + 1))
            expected = out + sum(self.asked[i] for i in range(kg + 1, u))
            if expected < limit:
                return limit - expected
            if kg >= u - 1:
                return None
            kg += 1
            await self._wait(self.gen_done, kg)

    async def run(self) -> list[Item]:
        p = self.p
        self.failed = asyncio.get_running_loop().create_future()
        L = p.lookahead
        D = L + 2
        tasks: list[asyncio.Task[None]] = []
        u = 0
        try:
            while u < p.max_units:
                kg, kd = max(u - L, -1), max(u - D, -1)
                await self._wait(self.gen_done, kg)
                await self._wait(self.unit_done, kd)
                need = (await self._short_of_limit(u, kg) if p.limit is not None
                        else await self._short_of_goal(u, kd, kg))
                if need is None:
                    break
                self.asked[u] = need
                p.progress.round = u
                tasks.append(asyncio.create_task(self._unit(u, need)))
                self.started_units = u = u + 1
            if tasks:
                await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if self.failed.done() and not self.failed.cancelled():
                self.failed.exception()  # retrieved: raised above through the unit
            else:
                self.failed.cancel()
        items = [it for k in sorted(self.survivors) for it in self.survivors[k]]
        return items


def over_target(items: list[Item], goal: int | None, stage: str, index: int
                ) -> tuple[list[Item], list[tuple[str, Drop]]]:
    """The first ``goal`` records in order; the rest as ``over_target`` drops, each with
    the input and output it had (``detail.record``, as a quality drop has them)."""
    if goal is None or len(items) <= goal:
        return items, []
    extra = []
    for k, rec in items[goal:]:
        seen = {f: v for f, v in (("input", rec.input), ("output", rec.output)) if v}
        extra.append((drop_key(k, index, 0),
                      Drop(stage=stage, reason="over_target", text=rec.instruction,
                           record_id=rec.id, detail={"record": seen} if seen else {})))
    return items[:goal], extra


__all__ = ["LocalExecutor", "over_target"]
