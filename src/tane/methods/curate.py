"""The ``curate`` stage of a recipe: the configured curation steps (curate/steps/) over
the records that reach it; see :mod:`tane.curate.stage` for how steps run.

A stage with a step that remembers what it kept (the dedup steps) is ordered: the engine
feeds it one unit at a time, in submission order, so its decisions are reproducible.
A stage with a step that waits on other processes (``code``) checks its batch in a thread,
so the event loop goes on serving the other stages' calls meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..curate.stage import build_steps, record_fields, run_batch
from ..schema import Record
from .base import Batch, StageContext


class CurateStage:
    """Transform stage: ``process(records) -> Batch`` (kept records in order + drops)."""

    def __init__(self, cfg: Any, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.steps = build_steps(cfg.lang, cfg.steps, getattr(ctx, "seeds", None) or ())

    async def process(self, records: list[Record]) -> Batch:
        ctx, batch = self.ctx, Batch()
        fields = [record_fields(r) for r in records]
        if any(getattr(s, "blocking", False) for s in self.steps):
            # a step that waits on processes (code) runs off the event loop
            results = await asyncio.to_thread(run_batch, self.steps, fields)
        else:
            results = run_batch(self.steps, fields)
        for r, res in zip(records, results):
            if res is None:
                batch.records.append(r)
                continue
            reason, detail = res
            # the fields the step judged, so a dropped record can be read (tane show)
            seen = {k: v for k, v in (("input", r.input), ("output", r.output)) if v}
            batch.drops.append(ctx.drop(reason, r.instruction, r.id, **detail,
                                        **({"record": seen} if seen else {})))
        return batch
