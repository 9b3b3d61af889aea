"""The one scripted backend for tests.

`ScriptedBackend` is a mock: it runs no model. Use it only where a real model cannot give
what the test needs:

- a fault at a chosen call (an `LLMError` such as ``http_500``, a reply cut off by
  ``max_tokens``, garbage where JSON was asked for), or
- a fixed answer, so that parsing, counting, drops and provenance can be checked exactly.

Everything else runs against the real model (the embedded backend, or the ``llama_server``
fixture and ``tests/faultproxy.py`` for the HTTP path).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from tane.llm.base import (CHAT, COMPLETION, RAW_CHAT, Backend, Completion, GenParams,
                           ModelInfo)

# What a script gives for one call: text (a Completion with finish_reason "stop"), a
# Completion as it is, or an exception (an LLMError, usually), which the call raises.
Reply = str | Completion | BaseException
Script = Iterable[Reply] | Callable[[str, Any, GenParams], Reply]


class Call(NamedTuple):
    """One call the backend got. kind: COMPLETION, CHAT, or RAW_CHAT (a raw completion
    on the chat model); prompt: the prompt text, or the messages of a chat call."""
    kind: str
    prompt: Any
    params: GenParams

    @property
    def text(self) -> str:
        """The prompt, or the content of a chat call's last message."""
        return self.prompt if isinstance(self.prompt, str) else self.prompt[-1]["content"]


class ScriptedBackend(Backend):
    """A backend (the protocol of `tane.llm.base.Backend`) that answers from a script.

    script: a list of replies, one per call in call order (then `when_done` for every
    later call; by default running out fails the test), or a function
    ``(kind, prompt, params) -> reply``. A reply is text, a `Completion` or an exception
    to raise (see `Reply`).

    Every call is recorded in `calls` before it is answered. With `delay` > 0 each call
    sleeps that long (so calls overlap; `peak` is the most that were in flight at once);
    without, it answers at once, never giving way to other tasks.
    `model_for(kind)` gives `models[kind]` where set, else `info`. Text replies carry
    `usage` (prompt, completion tokens) and the model id of `info`.

    The ``stats`` keyword of `complete`/`chat` (what the call-cache and retry wrappers
    take) is accepted and ignored, so a stage can call this backend directly.
    """

    def __init__(self, script: Script, *,
                 info: ModelInfo | None = None,
                 models: dict[str, ModelInfo] | None = None,
                 capabilities: Iterable[str] = (COMPLETION, CHAT),
                 usage: tuple[int, int] = (0, 0),
                 delay: float = 0.0,
                 when_done: Reply | None = None):
        if callable(script):
            self._fn: Callable[[str, Any, GenParams], Reply] | None = script
            self._queue: list[Reply] = []
        else:
            self._fn = None
            self._queue = list(script)
        self.info = info or ModelInfo(id="scripted", backend="scripted")
        self.models = dict(models or {})
        self.capabilities = frozenset(capabilities)
        self.usage = usage
        self.delay = delay
        self.when_done = when_done
        self.calls: list[Call] = []
        self.active = 0
        self.peak = 0
        self.closed = False

    @property
    def texts(self) -> list[str]:
        """`Call.text` of every call so far."""
        return [c.text for c in self.calls]

    @property
    def left(self) -> int:
        """Replies of a list script not used yet."""
        return len(self._queue)

    def _reply(self, kind: str, prompt: Any, params: GenParams) -> Reply:
        if self._fn is not None:
            return self._fn(kind, prompt, params)
        if self._queue:
            return self._queue.pop(0)
        if self.when_done is None:
            raise AssertionError(f"ScriptedBackend: the script ran out at call "
                                 f"{len(self.calls)} ({kind})")
        return self.when_done

    async def _answer(self, kind: str, prompt: Any, params: GenParams) -> Completion:
        self.calls.append(Call(kind, prompt, params))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            reply = self._reply(kind, prompt, params)
        finally:
            self.active -= 1
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            return Completion(reply, "stop", self.usage[0], self.usage[1],
                              model=self.info.id)
        if isinstance(reply, Completion):
            return dataclasses.replace(reply)  # a copy: a script may repeat one reply
        raise TypeError(f"ScriptedBackend: a reply must be text, a Completion or an "
                        f"exception, not {type(reply).__name__}")

    async def complete(self, prompt: str, params: GenParams, target: str = COMPLETION,
                       stats: Any = None) -> Completion:
        return await self._answer(COMPLETION if target == COMPLETION else RAW_CHAT,
                                  prompt, params)

    async def chat(self, messages: list[dict[str, str]], params: GenParams,
                   stats: Any = None) -> Completion:
        return await self._answer(CHAT, messages, params)

    def model_for(self, kind: str) -> ModelInfo:
        return self.models.get(kind, self.info)

    async def aclose(self) -> None:
        self.closed = True
