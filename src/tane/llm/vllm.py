"""vLLM in-process (``backend: vllm``, extra ``gpu``): offline ``LLM.generate`` /
``LLM.chat`` on the GPUs of this machine, no server.

- One engine per process, built on first use (or by ``check()``, the run's preflight) with
  ``enable_prefix_caching=True``; ``engine_args`` go to ``vllm.LLM`` unchanged
  (``max_model_len``, ``gpu_memory_utilization``, ``tensor_parallel_size``, ``dtype``...).
- Every call gets its own ``SamplingParams`` from tane's `GenParams`: temperature, top_p,
  max_tokens, stop, presence/frequency penalty and the call's ``seed``, so a seeded call
  samples the same way however it is batched.
- A JSON schema (the judge) becomes structured output: ``StructuredOutputsParams(json=...)``
  in ``SamplingParams(structured_outputs=...)`` (vLLM >= 0.11; ``GuidedDecodingParams``
  in ``guided_decoding=`` on older releases, whose fields were removed in 0.12).
- Concurrent awaits are batched: calls that arrive within ``batch_wait_ms`` of each other
  (and while the engine is busy with the previous batch) go to the engine as one
  ``generate`` (raw completions) and one ``chat`` call (chats), ``max_batch`` at most.
  The engine runs on one worker thread; the event loop never blocks on it.
- Failures stay per call: a prompt longer than the model's context is refused before the
  batch (``prompt_too_long``); if the engine still rejects a batch, its calls are retried
  one by one so that only the offending call fails (``vllm_error``). Both are
  non-retryable `LLMError`s, which the engine records as that record's drop with its
  reason; the job goes on.

Written against vLLM's documented offline API (pinned in the ``gpu`` extra) and checked
on CPU with a stand-in engine; see docs/scale.md for what was run on a GPU.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from .base import (
    CHAT,
    COMPLETION,
    JSON_SCHEMA,
    RAW_CHAT,
    Backend,
    Completion,
    GenParams,
    LLMError,
    ModelInfo,
    TemplateSource,
)

log = logging.getLogger(__name__)
PIP = "pip install 'tane[gpu]'"


def load_api() -> SimpleNamespace:
    """vLLM's classes this backend uses: LLM, SamplingParams and the structured-output
    parameters (``structured``: the class, ``structured_field``: SamplingParams' field)."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise LLMError("vllm_missing", f"backend vllm needs vLLM on a GPU machine: {PIP}",
                       fatal=True) from None
    try:
        from vllm.sampling_params import StructuredOutputsParams as structured
        field_name = "structured_outputs"
    except ImportError:  # vLLM < 0.11
        from vllm.sampling_params import GuidedDecodingParams as structured
        field_name = "guided_decoding"
    return SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams, structured=structured,
                           structured_field=field_name)


def sampling_params(api: SimpleNamespace, p: GenParams, ignore_eos: bool = False) -> Any:
    """vLLM SamplingParams for one call (see module doc)."""
    kw: dict[str, Any] = {"temperature": p.temperature, "top_p": p.top_p,
                          "max_tokens": p.max_tokens, "seed": p.seed,
                          "presence_penalty": p.presence_penalty,
                          "frequency_penalty": p.frequency_penalty}
    if p.stop:
        kw["stop"] = list(p.stop)
    if ignore_eos:
        kw["ignore_eos"] = True
    if p.json_schema is not None:
        kw[api.structured_field] = api.structured(json=p.schema)
    return api.SamplingParams(**kw)


@dataclass
class _Call:
    kind: str  # "generate" or "chat"
    payload: Any  # prompt text or messages
    params: GenParams
    future: asyncio.Future = field(repr=False)


class VLLMBackend(Backend):
    """In-process vLLM behind tane's backend contract (see module doc)."""

    capabilities = frozenset({COMPLETION, CHAT, JSON_SCHEMA, RAW_CHAT})

    def __init__(self, model: str, *, license: str = "unknown", revision: str = "",
                 engine_args: dict[str, Any] | None = None, batch_wait_ms: float = 5.0,
                 max_batch: int = 1024, ignore_eos: bool = False,
                 api: SimpleNamespace | None = None):
        self.model = model
        self.info = ModelInfo(id=model, revision=revision, license=license, backend="vllm")
        self.engine_args = {"enable_prefix_caching": True, **(engine_args or {})}
        self.batch_wait = max(0.0, batch_wait_ms) / 1000.0
        self.max_batch = max(1, int(max_batch))
        self.ignore_eos = ignore_eos  # benchmarks only: decode max_tokens every call
        self._api = api
        self._llm: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tane-vllm")
        self._queue: asyncio.Queue[_Call] | None = None
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []  # size of every engine batch so far (for stats/tests)

    # -- engine ------------------------------------------------------------------
    def _engine(self) -> Any:
        """The vllm.LLM, built on first use (in the engine thread)."""
        if self._llm is None:
            if self._api is None:
                self._api = load_api()
            try:
                self._llm = self._api.LLM(model=self.model, **self.engine_args)
            except Exception as e:  # noqa: BLE001 - any load failure ends the run, named
                raise LLMError("vllm_load", f"{self.model}: {type(e).__name__}: {e}"[:500],
                               fatal=True) from None
        return self._llm

    def _max_len(self, llm: Any) -> int | None:
        for path in (("llm_engine", "model_config"), ("model_config",)):
            obj = llm
            try:
                for name in path:
                    obj = getattr(obj, name)
                return int(obj.max_model_len)
            except (AttributeError, TypeError, ValueError):
                continue
        return None

    def _too_long(self, llm: Any, prompts: list[str]) -> list[str | None]:
        """Per prompt: why it cannot run (its length against max_model_len), or None."""
        limit = self._max_len(llm)
        if limit is None:
            return [None] * len(prompts)
        tok = llm.get_tokenizer()
        out: list[str | None] = []
        for p in prompts:
            if len(p.encode("utf-8")) + 16 < limit:  # a token is at least one byte
                out.append(None)
                continue
            n = len(tok.encode(p))
            out.append(f"prompt of {n} tokens, the model takes {limit}" if n >= limit
                       else None)
        return out

    def _to_completion(self, res: Any) -> Completion:
        o = res.outputs[0]
        return Completion(text=o.text, finish_reason=o.finish_reason or "",
                          prompt_tokens=len(res.prompt_token_ids or ()),
                          completion_tokens=len(o.token_ids or ()), model=self.model)

    def _run(self, kind: str, llm: Any, payloads: list[Any], sps: list[Any]) -> list[Any]:
        fn = llm.generate if kind == "generate" else llm.chat
        return fn(payloads, sps, use_tqdm=False)

    def _execute(self, kind: str, calls: list[_Call]) -> list[Completion | LLMError]:
        """One engine call for `calls` (all of one kind); runs in the engine thread."""
        llm = self._engine()
        results: list[Completion | LLMError | None] = [None] * len(calls)
        sps: list[Any] = []
        todo: list[int] = []
        reasons = (self._too_long(llm, [c.payload for c in calls]) if kind == "generate"
                   else [None] * len(calls))
        for i, c in enumerate(calls):
            if reasons[i] is not None:
                results[i] = LLMError("prompt_too_long", reasons[i])
                continue
            try:
                sps.append(sampling_params(self._api, c.params, self.ignore_eos))
            except Exception as e:  # noqa: BLE001 - a bad parameter fails its call only
                results[i] = LLMError("bad_request", f"{type(e).__name__}: {e}"[:300])
                continue
            todo.append(i)
        if todo:
            self.batches.append(len(todo))
            try:
                outs = self._run(kind, llm, [calls[i].payload for i in todo], sps)
                for i, res in zip(todo, outs):
                    results[i] = self._to_completion(res)
            except Exception as e:  # noqa: BLE001 - find the call(s) that fail alone
                if len(todo) == 1:
                    results[todo[0]] = LLMError("vllm_error",
                                                f"{type(e).__name__}: {e}"[:300])
                else:
                    log.warning("vLLM batch of %d failed (%s); running its calls one by "
                                "one", len(todo), type(e).__name__)
                    for i, sp in zip(todo, sps):
                        self.batches.append(1)
                        try:
                            res = self._run(kind, llm, [calls[i].payload], [sp])[0]
                            results[i] = self._to_completion(res)
                        except Exception as e1:  # noqa: BLE001
                            results[i] = LLMError("vllm_error",
                                                  f"{type(e1).__name__}: {e1}"[:300])
        return results  # type: ignore[return-value]

    # -- batching ------------------------------------------------------------------
    async def _collect(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.batch_wait
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            for kind in ("generate", "chat"):
                calls = [c for c in batch if c.kind == kind and not c.future.done()]
                if calls:
                    await self._dispatch(kind, calls)

    async def _dispatch(self, kind: str, calls: list[_Call]) -> None:
        loop = asyncio.get_running_loop()
        try:
            results: list[Any] = await loop.run_in_executor(self._pool, self._execute, kind,
                                                            calls)
        except LLMError as e:  # the engine could not be built: every call fails with it
            results = [e] * len(calls)
        except Exception as e:  # noqa: BLE001 - never leave a caller waiting
            results = [LLMError("vllm_error", f"{type(e).__name__}: {e}"[:300])] * len(calls)
        for c, r in zip(calls, results):
            if c.future.done():
                continue
            if isinstance(r, LLMError):
                c.future.set_exception(r)
            else:
                c.future.set_result(r)

    async def _submit(self, kind: str, payload: Any, params: GenParams) -> Completion:
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._collect())
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Call(kind, payload, params, fut))
        return await fut

    # -- the backend contract ----------------------------------------------------------
    async def complete(self, prompt: str, params: GenParams,
                       target: str = COMPLETION) -> Completion:
        return await self._submit("generate", prompt, params)

    async def chat(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        return await self._submit("chat", messages, params)

    def model_for(self, kind: str) -> ModelInfo:
        return self.info

    async def check(self) -> list[str]:
        """Load the engine before the first stage (a model that cannot load ends the run
        with one line); no warnings."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._engine)
        return []

    async def chat_template(self) -> TemplateSource | None:
        loop = asyncio.get_running_loop()

        def read() -> TemplateSource | None:
            tok = self._engine().get_tokenizer()
            tpl = getattr(tok, "chat_template", None)
            if not tpl:
                return None
            return TemplateSource(tpl, f"vllm:{self.model}", self.model,
                                  getattr(tok, "bos_token", "") or "",
                                  getattr(tok, "eos_token", "") or "")

        return await loop.run_in_executor(self._pool, read)

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._llm = None

