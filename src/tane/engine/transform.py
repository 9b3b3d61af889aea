"""The engine's half of a per-record LLM transform: the calls, their failures as drops,
and the provenance of each reply."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Union

from ..llm.base import Completion
from ..schema import Drop, Record
from ..stage import Batch, Request, prompt_text
from .context import StageContext


Outcome = Union[Record, Drop, Request]
"""What reading one reply gives: the record it made, a drop, or a follow-up request (a
retry with another prompt or seed, or a second call such as a check of the first reply)."""

Parsed = Union[Outcome, list[Outcome]]
"""One outcome, or several (a stage that makes several records from one, each followed by
the request that goes on from it)."""


class RecordTransform:
    """The engine's half of a per-record LLM transform (:class:`tane.stage.LLMTransform`).

    A subclass says what to ask (``prompt(record) -> Request | None``; None passes the
    record on unchanged) and how to read the reply (``parse(record, request, completion)
    -> Parsed``): a record, a drop, a follow-up :class:`Request`, or a list of these. This
    class makes the calls concurrently (:meth:`StageContext.ask_all`), then the follow-ups
    of all records together, until none is left. A failed call becomes an
    ``llm_error:<reason>`` drop carrying the server's message, and a reply cut at
    ``max_tokens`` a ``truncated`` drop (when the class or the request names that reason);
    :meth:`failed` may turn such a drop into something else. Each record a reply made gets
    the call's provenance step (:meth:`step`: stage, method, model, licence, the request's
    ``meta``, finish reason). What a record gave comes out in the order it was made; the
    records' outcomes in the order of the records."""

    method = ""
    # the drop of a reply cut at max_tokens (None: ``parse`` reads a cut reply itself)
    truncated: str | None = None
    ctx: StageContext

    def prompt(self, record: Record) -> Any:  # pragma: no cover - subclasses
        raise NotImplementedError

    def parse(self, record: Record, request: Any, completion: Completion) -> Parsed:
        raise NotImplementedError  # pragma: no cover - subclasses

    def failed(self, record: Record, request: Request, drop: Drop) -> Parsed:
        """What a failed call or a cut reply gives: by default its drop."""
        return drop

    def step(self, record: Record, request: Request, completion: Completion
             ) -> dict[str, Any] | None:
        """The provenance step a record made by this reply gets (None: none)."""
        return {"stage": self.ctx.name, "method": self.method,
                **self.ctx.model_provenance(request.kind), **request.meta,
                "finish_reason": completion.finish_reason}

    def preview(self, record: Record | None, i: int) -> str | None:
        """The prompt's text for ``record`` (:class:`tane.stage.Previews`)."""
        q = self.prompt(record) if record is not None else None
        return prompt_text(q.prompt) if q is not None else None

    async def process(self, records: list[Record]) -> Batch:
        outs: list[list[Record | Drop]] = [[] for _ in records]
        pending: list[tuple[int, Request]] = []
        for i, rec in enumerate(records):
            q = self.prompt(rec)
            if q is None:
                outs[i].append(rec)  # passed on as it is
            else:
                pending.append((i, self._subject(rec, q)))
        while pending:
            replies = await self.ctx.ask_all([q for _, q in pending])
            later: list[tuple[int, Request]] = []
            for (i, req), res in zip(pending, replies):
                rec = records[i]
                got = self.failed(rec, req, res) if isinstance(res, Drop) \
                    else self.parse(rec, req, res)
                for o in got if isinstance(got, list) else [got]:
                    if isinstance(o, Request):
                        later.append((i, self._subject(rec, o)))
                    elif isinstance(o, Record) and isinstance(res, Completion):
                        outs[i].append(self._stepped(o, req, res))
                    else:
                        outs[i].append(o)
            pending = later
        batch = Batch()
        for made in outs:
            for o in made:
                if isinstance(o, Drop):
                    batch.drops.append(o)
                else:
                    batch.records.append(o)
        return batch

    def _stepped(self, out: Record, req: Request, res: Completion) -> Record:
        step = self.step(out, req, res)
        if step is None:
            return out
        # a copy with the step appended: the input record is not changed
        return out.model_copy(update={"provenance": out.provenance.with_step(step)})

    def _subject(self, record: Record, req: Request) -> Request:
        """``req`` naming ``record`` in its drops (unless it names its own), and its cut
        reply's reason."""
        return replace(req, text=req.text or record.instruction,
                       record_id=req.record_id or record.id,
                       truncated=req.truncated or self.truncated)
