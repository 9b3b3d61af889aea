"""The feed rule: how many of a unit's records go on to the last per-record stages.

A record past the target should not cost a call. The generator is asked for about what is
missing, but the keep rate it was asked with is a guess, and a unit's records reach the
next stage together; without a rule each of them gets its call and the surplus is cut at
the end (``over_target``). So before the last run of per-record stages that call a model
(before each stage in it that calls one: :mod:`tane.pipeline.feed_flow`), the records of
each unit are fed in key order, and a record is fed only while

    kept + in flight x keep rate < target

where *kept* counts what the records already settled have kept, *in flight* the records
fed but not settled, and the keep rate is measured on the settled ones (records out per
record in, counted as (kept + 1) / (settled + 1), so one early drop does not read as
"nothing survives"). Records that fall short of the target even if every one in flight
is kept go freely; past that, at most a window of records is in flight (what the stages'
model decodes at once: a server's ``concurrency``, an embedded model's ``slots``), so a
keep rate measured on a few records does not send many more than the target needs. When the rule says no more, it waits for the next fed
record, in feed order, to settle, and asks again; when none is in flight and the kept
records meet the target, the rest of the unit is dropped as ``over_target`` without a call.

Like the start rule (:mod:`tane.pipeline.local`) it is decided from what is known at fixed
points, never from timing: units decide in unit order, "settled" advances only through
records in feed order (and through every record of a unit the start rule has already
waited for), so a resumed run, or the Ray executor, feeds exactly the same records.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ..engine import Turns



class Feed:
    def __init__(self, goal: int, window: int, fan: float = 1.0):
        self.goal = goal
        self.window = max(1, window)
        self.fan = max(fan, 1.0)  # records a fed one may become (the rate before any settles)
        self.turns = Turns()  # units decide in order
        self.outcomes: list[asyncio.Future[list[Any]]] = []  # per fed record, in feed order
        self.unit_of: list[int] = []
        self.settled = 0  # fed records 0..settled-1 are counted in ``kept``
        self.kept = 0

    def known_through(self, unit: int) -> None:
        """Every record of units 0..unit has settled (the start rule waited for them)."""
        while self.settled < len(self.outcomes) and self.unit_of[self.settled] <= unit:
            self.kept += len(self.outcomes[self.settled].result())
            self.settled += 1

    async def how_many(self) -> int:
        """Records to feed now (0: the target is met by the records already fed)."""
        while True:
            fed = len(self.outcomes)
            rate = (self.kept + self.fan) / (self.settled + 1)
            flying = fed - self.settled
            expected = self.kept + flying * rate
            # short even if every one in flight becomes all it may
            sure = math.ceil((self.goal - self.kept - flying * self.fan) / self.fan - 1e-9)
            if expected < self.goal:
                n = min(self.window - flying, math.ceil((self.goal - expected) / rate - 1e-9))
                if max(n, sure) > 0:
                    return max(n, sure)
            if self.settled == fed:  # nothing in flight: what is kept meets the target
                return 0
            self.kept += len(await self.outcomes[self.settled])
            self.settled += 1

    def fed(self, unit: int, outcomes: list[asyncio.Future[list[Any]]]) -> None:
        self.outcomes += outcomes
        self.unit_of += [unit] * len(outcomes)


__all__ = ["Feed"]
