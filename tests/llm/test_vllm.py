"""The in-process vLLM backend.

CPU: request batching, parameter mapping and per-call failures, with `StandInLLM`, a
fault stand-in for ``vllm.LLM`` (no GPU here; it records what the backend hands the
engine and fails the way vLLM does: a ValueError for the whole batch). GPU: the real
engine on a small model, skipped without a GPU or without vLLM."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from tane.config.llm import LLMConfig
from tane.llm.base import CallStats, GenParams, LLMError
from tane.llm.retry import RetryingBackend
from tane.llm.vllm import VLLMBackend, sampling_params

# -- the stand-in -------------------------------------------------------------------------

@dataclass
class StandInSamplingParams:
    """Records the keyword arguments vLLM's SamplingParams would get."""

    kw: dict[str, Any]


class StandInStructured:
    def __init__(self, json=None):
        self.json = json


@dataclass
class StandInOutput:
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"


@dataclass
class StandInRequestOutput:
    prompt_token_ids: list[int]
    outputs: list[StandInOutput]


class StandInTokenizer:
    chat_template = "{{ messages }}"
    bos_token, eos_token = "<s>", "</s>"

    def encode(self, text: str) -> list[int]:
        return list(range(len(text.split())))


class StandInLLM:
    """Fault stand-in for vllm.LLM: answers "<seed>:<prompt>" per request, one word per
    token; a prompt containing BOOM makes the whole call raise ValueError (as vLLM
    rejects a batch with one bad request); `delay` seconds per call."""

    max_model_len = 12
    delay = 0.0

    def __init__(self, model: str, **kw: Any):
        self.model, self.kw = model, kw
        self.calls: list[tuple[str, int]] = []
        self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(
            max_model_len=self.max_model_len))
        self.threads: set[str] = set()

    def get_tokenizer(self) -> StandInTokenizer:
        return StandInTokenizer()

    def _answer(self, kind: str, payloads: list[Any], sps: list[StandInSamplingParams]):
        self.threads.add(threading.current_thread().name)
        self.calls.append((kind, len(payloads)))
        if self.delay:
            time.sleep(self.delay)
        texts = [p if isinstance(p, str) else p[-1]["content"] for p in payloads]
        if any("BOOM" in t for t in texts):
            raise ValueError("engine rejected the batch")
        out = []
        for t, sp in zip(texts, sps):
            words = [f"{sp.kw['seed']}:", *t.split()][: sp.kw["max_tokens"]]
            reason = "length" if len(words) == sp.kw["max_tokens"] else "stop"
            out.append(StandInRequestOutput(list(range(len(t.split()))),
                                            [StandInOutput(" ".join(words),
                                                           list(range(len(words))), reason)]))
        return out

    def generate(self, prompts, sampling_params, use_tqdm=True):
        return self._answer("generate", prompts, sampling_params)

    def chat(self, messages, sampling_params, use_tqdm=True):
        return self._answer("chat", messages, sampling_params)


def _api(llm_cls=StandInLLM, field_name="structured_outputs"):
    made: list[StandInLLM] = []

    def make(model, **kw):
        llm = llm_cls(model, **kw)
        made.append(llm)
        return llm

    return SimpleNamespace(LLM=make, SamplingParams=lambda **kw: StandInSamplingParams(kw),
                           structured=StandInStructured, structured_field=field_name), made


def _backend(**kw) -> tuple[VLLMBackend, list[StandInLLM]]:
    api, made = _api()
    return VLLMBackend("stand-in/model", api=api, **kw), made


# -- parameter mapping ---------------------------------------------------------------------

def test_each_call_gets_its_own_seeded_sampling_params():
    api, _ = _api()
    p = GenParams(temperature=0.3, top_p=0.9, max_tokens=7, stop=("\n\n", "###"), seed=42,
                  presence_penalty=0.5, frequency_penalty=0.25)
    sp = sampling_params(api, p)
    assert sp.kw == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 7, "seed": 42,
                     "presence_penalty": 0.5, "frequency_penalty": 0.25,
                     "stop": ["\n\n", "###"]}
    assert "ignore_eos" not in sp.kw and sampling_params(api, p, True).kw["ignore_eos"]


def test_a_json_schema_becomes_structured_output_in_the_field_of_the_version():
    schema = {"type": "object", "properties": {"reason": {"type": "string"},
                                               "score": {"type": "integer"}}}
    api, _ = _api()
    sp = sampling_params(api, GenParams(json_schema=schema))
    assert sp.kw["structured_outputs"].json == schema
    old, _ = _api(field_name="guided_decoding")
    assert sampling_params(old, GenParams(json_schema=schema)).kw["guided_decoding"].json \
        == schema
    assert "structured_outputs" not in sampling_params(api, GenParams()).kw


def test_engine_args_keep_prefix_caching_on_and_pass_the_rest():
    b, made = _backend(engine_args={"max_model_len": 4096, "tensor_parallel_size": 2})

    async def go():
        await b.check()
        await b.aclose()

    asyncio.run(go())
    assert made[0].kw == {"enable_prefix_caching": True, "max_model_len": 4096,
                          "tensor_parallel_size": 2}
    assert LLMConfig(backend="vllm", model="m").where() == "m in-process (vLLM)"
    with pytest.raises(ValueError, match="needs model"):
        LLMConfig(backend="vllm")


# -- batching --------------------------------------------------------------------------

def test_concurrent_awaits_become_one_generate_and_one_chat_call():
    b, made = _backend(batch_wait_ms=50)

    async def go():
        comp = [b.complete(f"prompt {i}", GenParams(seed=i, max_tokens=5)) for i in range(20)]
        chats = [b.chat([{"role": "user", "content": f"hello {i}"}],
                        GenParams(seed=100 + i, max_tokens=5)) for i in range(5)]
        res = await asyncio.gather(*comp, *chats)
        await b.aclose()
        return res

    res = asyncio.run(go())
    llm = made[0]
    assert llm.calls == [("generate", 20), ("chat", 5)]
    assert [r.text for r in res[:20]] == [f"{i}: prompt {i}" for i in range(20)]
    assert [r.text for r in res[20:]] == [f"{100 + i}: hello {i}" for i in range(5)]
    assert res[0].prompt_tokens == 2 and res[0].completion_tokens == 3
    assert res[0].finish_reason == "stop" and res[0].model == "stand-in/model"
    assert llm.threads == {"tane-vllm_0"}  # never on the event loop's thread


def test_calls_arriving_while_the_engine_is_busy_form_the_next_batch():
    class Slow(StandInLLM):
        delay = 0.3

    api, made = _api(Slow)
    b = VLLMBackend("m", api=api, batch_wait_ms=5)

    async def go():
        first = asyncio.ensure_future(b.complete("one", GenParams(seed=1)))
        await asyncio.sleep(0.1)  # the first batch is running now
        rest = [b.complete(f"p {i}", GenParams(seed=i)) for i in range(8)]
        out = await asyncio.gather(first, *rest)
        await b.aclose()
        return out

    out = asyncio.run(go())
    assert made[0].calls == [("generate", 1), ("generate", 8)] and b.batches == [1, 8]
    assert out[0].text == "1: one"


def test_max_batch_splits_a_burst():
    b, made = _backend(batch_wait_ms=20, max_batch=4)

    async def go():
        r = await asyncio.gather(*[b.complete(f"x {i}", GenParams(seed=i)) for i in range(10)])
        await b.aclose()
        return r

    r = asyncio.run(go())
    assert [n for _, n in made[0].calls] == [4, 4, 2]
    assert [x.text for x in r] == [f"{i}: x {i}" for i in range(10)]


# -- failures stay per call -----------------------------------------------------------------

def test_an_over_long_prompt_fails_alone_before_the_batch():
    b, made = _backend(batch_wait_ms=20)

    async def go():
        res = await asyncio.gather(b.complete("short one", GenParams(seed=1)),
                                   b.complete(" ".join(["w"] * 12), GenParams(seed=2)),
                                   b.complete("short two", GenParams(seed=3)),
                                   return_exceptions=True)
        await b.aclose()
        return res

    ok1, bad, ok2 = asyncio.run(go())
    assert isinstance(bad, LLMError) and bad.reason == "prompt_too_long"
    assert not bad.retryable and not bad.fatal and "12 tokens" in str(bad)
    assert ok1.text == "1: short one" and ok2.text == "3: short two"
    assert made[0].calls == [("generate", 2)]


def test_a_batch_the_engine_rejects_is_rerun_call_by_call():
    b, made = _backend(batch_wait_ms=20)

    async def go():
        res = await asyncio.gather(*[b.chat([{"role": "user", "content": t}], GenParams(seed=i))
                                     for i, t in enumerate(["a", "BOOM here", "c"])],
                                   return_exceptions=True)
        await b.aclose()
        return res

    a, boom, c = asyncio.run(go())
    assert a.text == "0: a" and c.text == "2: c"
    assert isinstance(boom, LLMError) and boom.reason == "vllm_error" and not boom.fatal
    assert "ValueError" in str(boom)
    assert made[0].calls == [("chat", 3), ("chat", 1), ("chat", 1), ("chat", 1)]


def test_through_the_retry_wrapper_a_failed_call_is_a_counted_failure_not_a_dead_job():
    b, _ = _backend(batch_wait_ms=1)
    stats = CallStats()
    r = RetryingBackend(b, stats, concurrency=8, max_retries=3)

    async def go():
        res = await asyncio.gather(*[r.complete(t, GenParams(seed=1))
                                     for t in ["fine", "BOOM", "fine too"] * 4],
                                   return_exceptions=True)
        await b.aclose()
        return res

    res = asyncio.run(go())
    errs = [x for x in res if isinstance(x, LLMError)]
    assert len(errs) == 4 and all(not e.fatal for e in errs)
    assert stats.failures == {"vllm_error": 4} and stats.retries == {}
    assert stats.calls == 8 and stats.failed_in_a_row == 0


def test_a_model_that_cannot_load_stops_the_run_in_preflight():
    def broken(model, **kw):
        raise OSError("no such model: stand-in/missing")

    api = SimpleNamespace(LLM=broken, SamplingParams=lambda **kw: StandInSamplingParams(kw),
                          structured=StandInStructured, structured_field="structured_outputs")
    b = VLLMBackend("stand-in/missing", api=api)

    async def go():
        with pytest.raises(LLMError) as ei:
            await b.check()
        with pytest.raises(LLMError):  # every call fails the same way, none hangs
            await asyncio.wait_for(b.complete("x", GenParams()), 5)
        await b.aclose()
        return ei.value

    e = asyncio.run(go())
    assert e.reason == "vllm_load" and e.fatal and "stand-in/missing" in str(e)


# -- the real engine (GPU) ---------------------------------------------------------------------

def _gpu_and_vllm() -> bool:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.slow
@pytest.mark.skipif(not _gpu_and_vllm(), reason="no GPU / vllm not installed")
def test_real_vllm_seeded_calls_repeat_and_the_judge_schema_holds():
    from tane.methods.judge import parse_verdict, verdict_schema

    model = os.environ.get("TANE_VLLM_MODEL", "Qwen/Qwen2.5-0.5B-Instruct")
    b = VLLMBackend(model, engine_args={"max_model_len": 2048,
                                        "gpu_memory_utilization": 0.3})

    async def go():
        p = GenParams(temperature=1.0, max_tokens=32, seed=7)
        a = await asyncio.gather(*[b.complete("日本の首都は", p) for _ in range(2)])
        schema = verdict_schema()
        j = await b.chat([{"role": "user", "content": "Rate: 'Paris is in France.' JSON."}],
                         GenParams(temperature=0.0, max_tokens=200, json_schema=schema))
        long = await asyncio.gather(b.complete("word " * 5000, p), return_exceptions=True)
        await b.aclose()
        return a, j, long[0]

    a, j, long = asyncio.run(go())
    assert a[0].text == a[1].text and a[0].completion_tokens > 0
    assert isinstance(json.loads(j.text), dict)
    parse_verdict(j.text)
    assert isinstance(long, LLMError) and long.reason == "prompt_too_long"


# -- through a run ------------------------------------------------------------------------------

RUN_RECIPE = """\
name: vllm-stand-in
source: {path: questions.jsonl, fields: {instruction: prompt}}
llm: {backend: vllm, model: stand-in/model, concurrency: 16}
stages:
  - method: answer
    sampling: {max_tokens: 8}
"""


def test_a_run_turns_failed_calls_into_drops_with_their_reason(tmp_path, monkeypatch):
    """`tane run` with backend vllm (the engine a stand-in): the records whose call the
    engine rejects or whose prompt is too long are drops naming the reason; the others
    are answered and the run completes."""
    from typer.testing import CliRunner

    import tane.llm.vllm as vllm_mod
    from tane.cli import app

    class Roomy(StandInLLM):
        """Answers every prompt with a short sentence (finish_reason stop)."""

        max_model_len = 400

        def _answer(self, kind, payloads, sps):
            super()._answer(kind, payloads, [StandInSamplingParams({**sp.kw, "max_tokens": 1})
                                             for sp in sps])  # BOOM raises here
            return [StandInRequestOutput([0, 1], [StandInOutput(f"回答です（{sp.kw['seed']}）。",
                                                                [0, 1, 2])]) for sp in sps]

    api, made = _api(Roomy)
    monkeypatch.setattr(vllm_mod, "load_api", lambda: api)
    questions = ["日本の首都はどこですか。", "BOOM を説明してください。",
                 " ".join(["長い"] * 500), "富士山の高さを教えてください。"]
    (tmp_path / "questions.jsonl").write_text(
        "".join(json.dumps({"prompt": q, "id": f"q{i}"}, ensure_ascii=False) + "\n"
                for i, q in enumerate(questions)), encoding="utf-8")
    (tmp_path / "recipe.yaml").write_text(RUN_RECIPE, encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(tmp_path / "recipe.yaml"), "--out", str(out),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8")
            .splitlines()]
    assert sorted(r["id"] for r in rows) == ["q0", "q3"]
    assert all(r["output"].startswith("回答です（") for r in rows)
    drops = {d["record_id"]: d for d in (json.loads(x) for x in
                                  (out / "rejected.jsonl").read_text(encoding="utf-8")
                                  .splitlines())}
    assert drops["q1"]["reason"] == "llm_error:vllm_error"
    assert drops["q2"]["reason"] == "llm_error:prompt_too_long"
    assert made and made[0].kw["enable_prefix_caching"] is True
