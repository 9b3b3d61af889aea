"""Shared fixtures. Tests run with the package installed or with ``PYTHONPATH=src``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SRC = Path(__file__).resolve().parents[1] / "src"
if importlib.util.find_spec("tane") is None and _SRC.is_dir():  # plain checkout, no install
    sys.path.insert(0, str(_SRC))


@pytest.fixture(scope="session")
def llama_server():
    """The real Gemma 3 270M model behind llama.cpp's OpenAI-compatible HTTP server on
    127.0.0.1 (a free port), 4 slots. Yields the base URL, ending in ``/v1``.
    Tests that use it are marked ``@pytest.mark.slow``."""
    pytest.importorskip("xllamacpp")
    from tane.llm.embedded import gemma_path, start_server

    # 2048 a slot: Self-Instruct's upstream instance prompts are about 1,700 tokens
    server = start_server(gemma_path(), slots=4, ctx_per_slot=2048, host="127.0.0.1", port=0)
    address = server.listening_address
    assert address.startswith("http://127.0.0.1:"), address
    yield address + "/v1"
    del server  # xllamacpp has no explicit stop; the server goes with the object
