"""How a unit's records go through the stages the feed rule guards (:mod:`.feed`).

The guarded stages are the last run of per-record stages that calls a model, and every
stage after it, none of which calls a model (a curate stage, ordered or not). The run is
cut into *parts*, one for each stage in it that calls a model (a rewrite, then a
reply): each part has its own :class:`~.feed.Feed`, so a record is rewritten only while
the target needs it, and a rewritten one is replied to only while the target still
needs it. A part takes its records in key order, in groups: the unit's records for the
first part, the records made from one record of the part before (in that part's feed
order) for the next; it feeds each group in waves of what its rule allows. What a record
fed to any part *keeps* is what survives of it after the last stage, so every part's rule
counts the same thing, the records the dataset gets.

The stages after the run go wave after wave, in the order the waves were fed (units in
order, then feed order): an ordered stage (greedy dedup) sees the records of a unit in
key order, as it would see the whole unit, less those never fed. A stage that ranks a
whole unit first (dedup ``keep: best``) cannot take it so: there is then no feed rule.

Every decision is taken from what is known at fixed points, in order (groups and waves
are cut from outcomes, never from timing), so a rerun and a resume feed the same records.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ..schema import Drop
from .execution import ExecutionPlan, Item, drop_key
from .feed import Feed

Part = tuple[int, list[int], Feed]  # (segment index, its stage indexes, its rule)
Outcome = asyncio.Future[list[Item]]  # what survives of a record after the last stage
Group = list[tuple[Item, Outcome]]  # records in key order, each with its outcome
Made = tuple[asyncio.Future[list[Item]], Outcome]  # what a fed record became; its outcome


def plan_feed(plan: ExecutionPlan, segments: list[tuple[bool, list[int]]]
              ) -> tuple[list[tuple[bool, list[int]]], list[Part]]:
    """The segments, with the guarded run cut into parts, and the parts (none: no rule).
    The run is the last per-record segment with a stage that calls a model; every stage
    after it must call none and rank no unit."""
    if plan.goal is None:
        return segments, []
    calls = [s for s, (ordered, ii) in enumerate(segments)
             if not ordered and any(plan.specs[i].llm for i in ii)]
    if not calls:
        return segments, []
    s = calls[-1]
    after = [i for _, ii in segments[s + 1:] for i in ii]
    if any(plan.specs[i].llm or plan.specs[i].ranks for i in after):
        return segments, []
    stages = segments[s][1]
    starts = [j for j, i in enumerate(stages) if plan.specs[i].llm][1:]
    bounds = [0, *starts, len(stages)]
    cut = [stages[a:b] for a, b in zip(bounds, bounds[1:])]
    out = segments[:s] + [(False, ii) for ii in cut] + segments[s + 1:]
    parts = [(s + k, ii, Feed(plan.goal, max(plan.windows[i] for i in ii if plan.specs[i].llm),
                              math.prod(plan.specs[i].out_per_in for i in ii)))
             for k, ii in enumerate(cut)]
    return out, parts


class FeedFlow:
    """The guarded stages of :class:`~.local.LocalExecutor` (its ``parts``, the
    ``segments`` after them, ``launch``, ``_step``)."""

    p: ExecutionPlan
    parts: list[Part]
    segments: list[tuple[bool, list[int]]]
    cut: dict[int, int]
    trail_last: asyncio.Future[None] | None

    def launch(self, s: int, stages: list[int], unit: int,
               items: list[Item]) -> list[asyncio.Future[list[Item]]]:
        raise NotImplementedError

    async def _step(self, i: int, items: list[Item], unit: int) -> list[Item]:
        raise NotImplementedError

    async def _fed(self, unit: int, items: list[Item]) -> list[Item]:
        """A unit through the guarded stages: what survives of it, in key order."""
        loop = asyncio.get_running_loop()
        bag: list[asyncio.Future[Any]] = []
        err: asyncio.Future[None] = loop.create_future()

        def failed(t: asyncio.Future[Any]) -> None:
            e = None if t.cancelled() else t.exception()
            if e is not None and not err.done():
                err.set_exception(e)

        def watch(f: asyncio.Future[Any]) -> asyncio.Future[Any]:
            bag.append(f)
            f.add_done_callback(failed)
            return f

        top: Group = [(it, loop.create_future()) for it in sorted(items, key=lambda x: x[0])]
        inbox: asyncio.Queue[Group | None] = asyncio.Queue()
        inbox.put_nowait(top)
        inbox.put_nowait(None)
        tasks = []
        for k in range(len(self.parts)):
            outbox: asyncio.Queue[Group | None] = asyncio.Queue()
            tasks.append(watch(asyncio.ensure_future(
                self._part(k, unit, inbox, outbox, watch))))
            inbox = outbox
        every = asyncio.ensure_future(asyncio.gather(*tasks, *(o for _, o in top)))
        try:
            await asyncio.wait({every, err}, return_when=asyncio.FIRST_COMPLETED)
            if err.done():
                raise err.exception() or RuntimeError("a record failed")
            outs = every.result()[len(tasks):]
        except BaseException:
            for f in [every, *bag]:
                f.cancel()
            await asyncio.gather(every, *bag, return_exceptions=True)
            raise
        finally:
            if not err.done():
                err.cancel()
        return sorted((x for o in outs for x in o), key=lambda x: x[0])

    async def _part(self, k: int, unit: int, inbox: asyncio.Queue[Group | None],
                    outbox: asyncio.Queue[Group | None], watch: Any) -> None:
        """One part of the guarded run: its groups fed in waves while its rule allows,
        the rest cut; what its fed records make goes on to the next part, group by group."""
        s, stages, feed = self.parts[k]
        last = k == len(self.parts) - 1
        made: asyncio.Queue[Made | None] = asyncio.Queue()
        fwd = None if last else watch(asyncio.ensure_future(self._forward(made, outbox, watch)))
        try:
            async with feed.turns.turn(unit):
                feed.known_through(unit - (self.p.lookahead + 2))  # the start rule's point
                cutting = False
                while (group := await inbox.get()) is not None:
                    pending = group
                    while pending and not cutting:
                        n = await feed.how_many()
                        if n == 0:
                            cutting = True
                            break
                        wave, pending = pending[:n], pending[n:]
                        futs = [watch(f) for f in
                                self.launch(s, stages, unit, [it for it, _ in wave])]
                        outcomes = [o for _, o in wave]
                        feed.fed(unit, outcomes)
                        if last:
                            self._settle(unit, futs, outcomes, watch)
                        else:
                            for f, o in zip(futs, outcomes):
                                made.put_nowait((f, o))
                    if pending:
                        self._cut(unit, k, [it for it, _ in pending])
                        for _, o in pending:
                            o.set_result([])
        finally:
            made.put_nowait(None)
        if fwd is not None:
            await fwd

    async def _forward(self, made: asyncio.Queue[Made | None],
                       outbox: asyncio.Queue[Group | None], watch: Any) -> None:
        """In feed order: what each fed record became, as one group for the next part;
        the record's outcome is then its group's outcomes together."""
        loop = asyncio.get_running_loop()
        try:
            while (x := await made.get()) is not None:
                fut, outcome = x
                group: Group = [(it, loop.create_future()) for it in await fut]
                watch(asyncio.ensure_future(_join([o for _, o in group], outcome)))
                outbox.put_nowait(group)
        finally:
            outbox.put_nowait(None)

    def _settle(self, unit: int, futs: list[asyncio.Future[list[Item]]],
                outcomes: list[Outcome], watch: Any) -> None:
        """A wave of the last part: each record's outcome once the stages after the run
        have taken it, waves in the order they were fed (each record's own, when there
        are none)."""
        after = self.segments[self.parts[-1][0] + 1:]
        if not after:
            for f, o in zip(futs, outcomes):
                watch(asyncio.ensure_future(_join([f], o)))
            return
        prev = self.trail_last

        async def go() -> None:
            outs = await asyncio.gather(*futs)
            if prev is not None:
                await prev
            owner = {key: j for j, out in enumerate(outs) for key, _ in out}
            items = sorted((x for out in outs for x in out), key=lambda x: x[0])
            for t, (ordered, stages) in enumerate(after, start=self.parts[-1][0] + 1):
                if not items:
                    break
                if ordered:
                    items = await self._step(stages[0], items, unit)
                else:
                    res = await asyncio.gather(*self.launch(t, stages, unit, items))
                    items = [x for r in res for x in r]
                items = sorted(items, key=lambda x: x[0])
            kept: list[list[Item]] = [[] for _ in outcomes]
            for it in items:  # a record an ordered stage made goes with the wave's last
                kept[owner.get(it[0], len(outcomes) - 1)].append(it)
            for o, mine in zip(outcomes, kept):
                o.set_result(mine)

        self.trail_last = watch(asyncio.ensure_future(go()))

    def _cut(self, unit: int, k: int, items: list[Item]) -> None:
        """Records a part's rule holds back: ``over_target`` drops of the stage that
        passed them on (of the part's first stage when none did), made without a call."""
        first = self.parts[k][1][0]
        if k == 0:
            self.cut[unit] = len(items)
        by = first - 1 if first > 0 else first
        st = self.p.stats[by]
        if by < first:
            st.kept -= len(items)
        else:
            st.records_in += len(items)
        st.dropped["over_target"] = st.dropped.get("over_target", 0) + len(items)
        name = self.p.names[by]
        drops = [Drop(stage=name, reason="over_target", text=rec.instruction, record_id=rec.id,
                      detail={"before": self.p.names[first]}) for _, rec in items]
        self.p.sink.log_drops(drops, [drop_key(key, first, 0) for key, _ in items])


async def _join(parts: list[asyncio.Future[list[Item]]], outcome: Outcome) -> None:
    res = await asyncio.gather(*parts)
    outcome.set_result([x for r in res for x in r])


__all__ = ["FeedFlow", "plan_feed"]
