"""The one small LLM contract every backend and wrapper speaks.

A backend offers ``complete`` (raw text completion) and/or ``chat`` (messages), both
async, both returning a :class:`Completion` with text, token usage and finish reason.

A backend may serve completion and chat with different models (the embedded one does).
``complete(prompt, params, target=CHAT)`` asks for a raw completion on the model that
serves chat, with the prompt already in that model's chat format (Magpie needs this); a
backend that can do it declares ``RAW_CHAT``. Callers above the backend name such calls
with the kind ``RAW_CHAT`` (journal keys, provenance, ``StageContext.call``).
Retries, concurrency limits and the call cache wrap any backend (see ``retry.py`` and
``cache.py``); backends do not re-implement them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

COMPLETION = "completion"
CHAT = "chat"
JSON_SCHEMA = "json_schema"
RAW_CHAT = "raw_chat"  # raw completion on the chat model: a call kind and a capability
# the reason of a call made after its backend was closed (a failed run stopping)
CLOSED = "closed"
# answers that say every later call will fail the same way
FATAL_REASONS = frozenset({"http_401", "http_403", "http_404"})


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters of one call. Part of the cache key and of provenance."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    # constrain the output to this JSON schema; pass a dict, stored as canonical JSON text
    # so the frozen dataclass stays hashable. Only in to_dict() when set, so cache keys
    # of calls without a schema are unchanged.
    json_schema: str | None = None
    # ask for the log-probabilities of each generated token and of its ``logprobs`` most
    # likely alternatives (0: not asked). Only in to_dict() when asked, as json_schema.
    logprobs: int = 0

    def __post_init__(self) -> None:
        if self.json_schema is not None and not isinstance(self.json_schema, str):
            # key order kept: servers generate properties in the schema's order
            object.__setattr__(self, "json_schema", json.dumps(
                self.json_schema, ensure_ascii=False, separators=(",", ":")))

    @property
    def schema(self) -> dict[str, Any] | None:
        return json.loads(self.json_schema) if self.json_schema else None

    def to_dict(self) -> dict[str, Any]:
        # the fields in declaration order, as dataclasses.asdict gives them (the key order
        # is part of the journal's request JSON), without its recursive copying
        d: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p,
                             "max_tokens": self.max_tokens, "stop": list(self.stop),
                             "seed": self.seed, "presence_penalty": self.presence_penalty,
                             "frequency_penalty": self.frequency_penalty}
        if self.json_schema is not None:
            d["json_schema"] = self.schema
        if self.logprobs:
            d["logprobs"] = self.logprobs
        return d

    def to_request(self, chat: bool = False) -> dict[str, Any]:
        """The OpenAI-style request fields (llama.cpp's server reads the same names);
        optional ones only when set.

        A JSON schema goes out as ``response_format: {"type": "json_schema", ...}`` (OpenAI,
        vLLM; llama.cpp's chat endpoint reads it too) and, for raw completions, also as
        llama.cpp's top-level ``json_schema`` (its /completions ignores response_format).
        Log-probabilities go out as ``logprobs: true, top_logprobs: N`` on chat and as
        ``logprobs: N`` on raw completions (the OpenAI fields; vLLM and llama.cpp read
        them)."""
        req: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                               "top_p": self.top_p}
        if self.stop:
            req["stop"] = list(self.stop)
        if self.seed is not None:
            req["seed"] = self.seed
        if self.presence_penalty:
            req["presence_penalty"] = self.presence_penalty
        if self.frequency_penalty:
            req["frequency_penalty"] = self.frequency_penalty
        if self.json_schema is not None:
            schema = self.schema
            name = (schema.get("title") if isinstance(schema, dict) else None) or "response"
            req["response_format"] = {"type": "json_schema",
                                      "json_schema": {"name": str(name), "schema": schema}}
            if not chat:
                req["json_schema"] = schema
        if self.logprobs:
            if chat:
                req["logprobs"] = True
                req["top_logprobs"] = self.logprobs
            else:
                req["logprobs"] = self.logprobs
        return req


@dataclass
class Completion:
    text: str
    finish_reason: str  # "stop" | "length" | other backend value
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    cached: bool = False  # True when served from the run's call journal
    # per generated token, when the call asked for them and the server gave them:
    # ``{"token": str, "logprob": float, "top": [[token, logprob], ...]}`` (see
    # :mod:`.logprobs`); None otherwise. Journaled with the call, so a replay has them.
    logprobs: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model": self.model,
        }
        if self.logprobs is not None:
            d["logprobs"] = self.logprobs
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], cached: bool = False) -> "Completion":
        return cls(
            text=d["text"],
            finish_reason=d.get("finish_reason") or "",
            prompt_tokens=int(d.get("prompt_tokens") or 0),
            completion_tokens=int(d.get("completion_tokens") or 0),
            model=d.get("model") or "",
            cached=cached,
            logprobs=d.get("logprobs"),
        )


class LLMError(Exception):
    """A failed call. ``reason`` is a short stable label used in stats, e.g.
    ``http_429``, ``http_500``, ``timeout``, ``connection``, ``http_400``, ``bad_response``.
    ``retryable`` says whether the retry wrapper may try again."""

    def __init__(self, reason: str, message: str = "", *, retryable: bool = False,
                 retry_after: float | None = None, fatal: bool = False):
        self.reason = reason
        self.retryable = retryable
        # no later call can do better (a refused key, a missing model or endpoint, a
        # server that has failed call after call): the run stops
        self.fatal = fatal or reason in FATAL_REASONS
        self.retry_after = retry_after  # seconds the server asked us to wait (429)
        super().__init__(f"{reason}: {message}" if message else reason)


@dataclass
class ModelInfo:
    """What provenance and the dataset card need to know about a model."""

    id: str
    revision: str = ""
    license: str = "unknown"
    backend: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """A model behind tane's calls. A backend class names this protocol as its base to get
    the defaults of ``check`` and ``chat_template``; the retry and call-cache wrappers
    pass both on, so callers ask the outermost wrapper."""

    info: ModelInfo
    capabilities: frozenset[str]

    async def complete(self, prompt: str, params: GenParams,
                       target: str = COMPLETION) -> Completion:
        """Raw completion on the model that serves ``target`` (COMPLETION or CHAT). Wrappers
        pass ``target`` on only when it is not COMPLETION."""
        ...

    async def chat(self, messages: list[dict[str, str]], params: GenParams) -> Completion: ...

    def model_for(self, kind: str) -> ModelInfo:
        """The model that serves calls of ``kind`` (COMPLETION, CHAT or RAW_CHAT), for
        provenance."""
        ...

    async def aclose(self) -> None: ...

    async def check(self) -> list[str]:
        """Before a run: the model answers (and takes the key); returns warnings, raises
        :class:`LLMError` when it cannot be used. Default: nothing to check."""
        return []

    async def chat_template(self) -> TemplateSource | None:
        """The model's chat template as the backend knows it (the model file, the server).
        Default: not known."""
        return None


@dataclass
class TemplateSource:
    """A chat template as a backend knows it: from the model file or the server."""

    template: str
    source: str  # "gguf:PATH" or "server:URL"
    name: str = ""
    bos_token: str = ""
    eos_token: str = ""


@dataclass
class CallStats:
    """Counters shared by the wrappers around one backend; read by progress and stats."""

    calls: int = 0  # completed calls that reached the backend
    model: str = ""  # the id of the model that answered the latest call (or cache hit)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    retries: dict[str, int] = field(default_factory=dict)  # reason -> retried attempts
    failures: dict[str, int] = field(default_factory=dict)  # reason -> calls that gave up
    # adaptive concurrency (retry.py): the limit now, the configured ceiling, the lowest
    # limit so far, and how often it was cut, by cause ("overload": 429/503, "latency")
    concurrency: int = 0
    concurrency_ceiling: int = 0
    concurrency_min: int = 0
    concurrency_cuts: dict[str, int] = field(default_factory=dict)
    # calls that failed for good one after another, with no success between them
    failed_in_a_row: int = 0
    # attempts that timed out, when the last one did (time.monotonic()), and the
    # configured seconds per call (0: unknown): the live display says when calls time out
    timeouts: int = 0
    last_timeout: float = 0.0
    timeout: float = 0.0

    def count(self, table: dict[str, int], reason: str) -> None:
        table[reason] = table.get(reason, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
