"""``check`` and ``chat_template`` are on the Backend protocol, with defaults (nothing to
check, no template known), and the retry and call-cache wrappers pass them through, so no
caller walks the wrappers' ``inner`` to find them."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest

from fakes import ScriptedBackend
from tane.llm.base import Backend, CallStats, LLMError
from tane.llm.cache import CachedBackend
from tane.llm.openai import OpenAIBackend
from tane.llm.retry import RetryingBackend
from tane.store.rundir import RunDir

SRC = Path(__file__).resolve().parents[2] / "src" / "tane"


def _wrapped(inner: Backend, rd: RunDir) -> CachedBackend:
    return CachedBackend(RetryingBackend(inner, CallStats(), max_retries=0), rd)


def test_a_backend_without_them_gets_the_defaults_through_the_wrappers(tmp_path):
    rd = RunDir(tmp_path / "run")
    try:
        b = _wrapped(ScriptedBackend(["x"]), rd)  # a scripted stand-in: no server
        assert asyncio.run(b.check()) == []
        assert asyncio.run(b.chat_template()) is None
    finally:
        rd.close()


def test_a_server_check_runs_through_the_wrappers(tmp_path):
    with socket.socket() as s:  # a port nothing listens on: a real refused connection
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rd = RunDir(tmp_path / "run")
    inner = OpenAIBackend(f"http://127.0.0.1:{port}", "m", timeout=5)

    async def go() -> None:
        try:
            await _wrapped(inner, rd).check()
        finally:
            await inner.aclose()

    try:
        with pytest.raises(LLMError) as e:
            asyncio.run(go())
        assert e.value.reason == "connection"
    finally:
        rd.close()


def test_no_caller_walks_the_wrappers_for_them():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        # a backend's, a wrapper's inner or a stage's model (a tokenizer's template is not)
        for m in re.finditer(r"(hasattr|getattr)\((?!tok\b)[^)]*\"(check|chat_template)\"",
                             text):
            found.append(f"{path.relative_to(SRC)}:{text[:m.start()].count(chr(10)) + 1}")
    assert not found
