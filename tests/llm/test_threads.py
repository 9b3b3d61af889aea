"""The embedded model's decode threads: an automatic choice from the free CPUs, a recipe
key and a CLI flag, and the number really handed to llama.cpp."""

from __future__ import annotations

import os

import pytest

from helpers import run_tane
from tane.config.llm import LLMConfig
from tane.llm import embedded
from tane.llm.base import CallStats
from tane.llm.factory import build_backend


def test_auto_threads_follows_free_cpus_and_load(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert embedded.auto_threads() == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert embedded.auto_threads() == 1  # 4 - 2.6 = 1.4
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert embedded.auto_threads() == 1  # never below one
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert embedded.auto_threads() == embedded.MAX_AUTO_THREADS


def test_recipe_key_reaches_the_backend():
    be = build_backend(LLMConfig(threads=3), CallStats())
    inner = be
    while hasattr(inner, "inner"):
        inner = inner.inner
    assert inner.threads == 3
    auto = build_backend(LLMConfig(), CallStats())
    while hasattr(auto, "inner"):
        auto = auto.inner
    assert 1 <= auto.threads <= embedded.MAX_AUTO_THREADS
    with pytest.raises(ValueError):
        LLMConfig(threads=0)


def test_start_server_uses_the_given_threads(monkeypatch):
    xl = pytest.importorskip("xllamacpp")
    seen = {}

    class Spy:  # records the parameters instead of loading a model
        def __init__(self, cp):
            seen["threads"] = cp.cpuparams.n_threads
            seen["batch"] = cp.cpuparams_batch.n_threads

    monkeypatch.setattr(xl, "Server", Spy)
    embedded.start_server(embedded.Path("model.gguf"), threads=1)
    assert seen == {"threads": 1, "batch": 1}


def test_threads_flag_is_checked(tmp_path):
    res = run_tane("run", "recipes/quickstart.yaml", "--out", str(tmp_path / "r"),
                   "--threads", "0", timeout=120)
    assert res.returncode == 2 and "--threads must be at least 1" in res.stderr
    assert not (tmp_path / "r").exists()
