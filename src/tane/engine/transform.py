"""The engine's half of a per-record LLM transform: the calls, their failures as drops,
and the provenance of each reply."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..llm.base import Completion
from ..schema import Drop, Record
from ..stage import Batch, Request, prompt_text
from .context import StageContext


class RecordTransform:
    """The engine's half of a per-record LLM transform (:class:`tane.stage.LLMTransform`).

    A subclass says what to ask (``prompt(record) -> Request | None``; None passes the
    record on unchanged) and how to read the reply (``parse(record, request, completion)
    -> Record | Drop``). This class makes the calls concurrently
    (:meth:`StageContext.ask_all`), turns a failed call into an ``llm_error:<reason>``
    drop carrying the server's message and a reply cut at ``max_tokens`` into a
    ``truncated`` drop (when the class or the request names that reason), and appends the
    call's provenance (stage, method, model, licence, the request's ``meta``, finish reason) to
    each record the reply made."""

    method = ""
    # the drop of a reply cut at max_tokens (None: ``parse`` reads a cut reply itself)
    truncated: str | None = None
    ctx: StageContext

    def prompt(self, record: Record) -> Any:  # pragma: no cover - subclasses
        raise NotImplementedError

    def parse(self, record: Record, request: Any, completion: Completion) -> Record | Drop:
        raise NotImplementedError  # pragma: no cover - subclasses

    def preview(self, record: Record | None, i: int) -> str | None:
        """The prompt's text for ``record`` (:class:`tane.stage.Previews`)."""
        q = self.prompt(record) if record is not None else None
        return prompt_text(q.prompt) if q is not None else None

    async def process(self, records: list[Record]) -> Batch:
        ctx, batch = self.ctx, Batch()
        requests: list[Request | None] = [self.prompt(r) for r in records]
        asked = [self._subject(r, q) for r, q in zip(records, requests) if q is not None]
        replies = iter(await ctx.ask_all(asked))
        for rec, req in zip(records, requests):
            if req is None:
                batch.records.append(rec)
                continue
            res = next(replies)
            out = res if isinstance(res, Drop) else self.parse(rec, req, res)
            if isinstance(out, Drop):
                batch.drops.append(out)
                continue
            assert isinstance(res, Completion)
            step = {"stage": ctx.name, "method": self.method,
                    **ctx.model_provenance(req.kind), **req.meta,
                    "finish_reason": res.finish_reason}
            # a new steps list on a shallow copy: the input record is not changed
            prov = out.provenance.model_copy(update={"steps": [*out.provenance.steps, step]})
            batch.records.append(out.model_copy(update={"provenance": prov}))
        return batch

    def _subject(self, record: Record, req: Request) -> Request:
        """``req`` naming ``record`` in its drops, and its cut reply's reason."""
        return replace(req, text=record.instruction, record_id=record.id,
                       truncated=req.truncated or self.truncated)
