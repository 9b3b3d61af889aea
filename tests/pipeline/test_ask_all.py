"""StageContext.ask_all: the one place where a failed call and a reply cut at max_tokens
become drops, named by the request (text, record id, detail); other replies come back
as they are, in submission order."""

from __future__ import annotations

import asyncio

from fakes import ScriptedBackend
from tane.engine import NoModel, RecordTransform, Request, StageContext, StageStats
from tane.llm.base import COMPLETION, Completion, GenParams, LLMError, ModelInfo
from tane.schema import Drop, Provenance, Record


def _ctx(backend) -> StageContext:
    return StageContext("gen", backend, StageStats("gen"), [], 0)


def _req(prompt: str, **kw) -> Request:
    return Request(COMPLETION, prompt, GenParams(seed=1), **kw)


def test_fault_cut_and_reply_in_order():
    # ScriptedBackend is a mock: a server error and a cut reply at chosen calls
    replies = {"a": LLMError("http_500", "the server fell over"),
               "b": Completion("一つ目の問い。二つ目の", "length"),
               "c": Completion("答え。", "stop"),
               "d": Completion("切れた", "length")}
    ctx = _ctx(ScriptedBackend(lambda kind, prompt, params: replies[prompt]))
    out = asyncio.run(ctx.ask_all([
        _req("a", text="問い", record_id="r1", detail={"round": 3}),
        _req("b", text="", detail={"round": 3}, truncated="truncated_question",
             cut_text=lambda t: t.split("。")[0]),
        _req("c", truncated="truncated_answer"),
        _req("d")]))  # no reason for a cut reply: the stage reads it itself
    err, cut, ok, kept = out
    assert isinstance(err, Drop) and err.reason == "llm_error:http_500"
    assert (err.text, err.record_id, err.stage) == ("問い", "r1", "gen")
    assert err.detail == {"round": 3, "error": "http_500: the server fell over"}
    assert isinstance(cut, Drop) and cut.reason == "truncated_question"
    assert cut.text == "一つ目の問い"  # cut_text of the reply, when not empty
    assert list(cut.detail) == ["round", "raw"] and cut.detail["raw"] == "一つ目の問い。二つ目の"
    assert isinstance(ok, Completion) and ok.text == "答え。"
    assert isinstance(kept, Completion) and kept.finish_reason == "length"
    assert ctx.errors == {"http_500": "http_500: the server fell over"}


def test_cut_reply_named_by_the_request_text_when_cut_text_is_empty():
    ctx = _ctx(ScriptedBackend([Completion("   ", "length")]))
    [d] = asyncio.run(ctx.ask_all([_req("x", text="元の問い", truncated="truncated_output",
                                        cut_text=str.strip)]))
    assert isinstance(d, Drop) and (d.reason, d.text) == ("truncated_output", "元の問い")


def test_a_fatal_error_stops_the_stage():
    ctx = _ctx(NoModel(ModelInfo(id="m", backend="none")))
    try:
        asyncio.run(ctx.ask_all([_req("x")]))
    except Exception as e:  # ServerError: the model refuses every call
        assert "stage gen, model m" in str(e)
    else:  # pragma: no cover - the test fails
        raise AssertionError("a fatal error came back as a drop")


class _Twice(RecordTransform):
    """A toy transform: each record's first reply is followed by a second call; the second
    gives the record and, for a record marked 'both', a drop before it."""

    method = "twice"

    def __init__(self, ctx: StageContext):
        self.ctx = ctx

    def prompt(self, rec: Record) -> Request | None:
        if rec.output:
            return None
        return Request(COMPLETION, rec.instruction, GenParams(seed=0), {"call": 1})

    def parse(self, rec, req, res):
        if req.meta["call"] == 1:
            return Request(COMPLETION, f"{req.prompt}?", GenParams(seed=1), {"call": 2},
                           truncated="truncated_second")
        out = rec.model_copy(update={"output": res.text})
        if rec.instruction == "both":
            return [self.ctx.drop("half", rec.instruction, rec.id), out]
        return out


def _rec(i: str, output: str | None = None) -> Record:
    return Record(id=i, instruction=i, output=output, provenance=Provenance(method="seed"))


def test_record_transform_follow_ups_run_after_every_first_call():
    # ScriptedBackend is a mock: fixed replies, and a cut reply to one follow-up
    def reply(kind, prompt, params):
        if prompt == "cut?":
            return Completion("途中", "length")
        return f"{prompt}!"
    llm = ScriptedBackend(reply)
    st = _Twice(_ctx(llm))
    batch = asyncio.run(st.process([_rec("a"), _rec("done", "x"), _rec("both"), _rec("cut")]))
    # the first calls of all records, then the follow-ups
    assert llm.texts == ["a", "both", "cut", "a?", "both?", "cut?"]
    assert [(r.id, r.output) for r in batch.records] == \
        [("a", "a?!"), ("done", "x"), ("both", "both?!")]
    assert [(d.reason, d.record_id) for d in batch.drops] == \
        [("half", "both"), ("truncated_second", "cut")]
    # one provenance step, from the request that made the record
    assert [s["call"] for s in batch.records[0].provenance.steps] == [2]
    assert batch.records[1].provenance.steps == []
