"""The embedded model's decode threads: an automatic choice from the CPUs free right now, a recipe
key and a CLI flag, and the number really handed to llama.cpp."""

from __future__ import annotations

import os

import pytest

from helpers import run_tane
from tane.config.llm import LLMConfig
from tane.llm import embedded
from tane.llm.base import CallStats
from tane.llm.factory import build_backend


def test_threads_are_the_free_cpus_rounded():
    assert embedded.threads_for(4, 0.2) == 4
    assert embedded.threads_for(4, 2.6) == 1  # 4 - 2.6 = 1.4
    assert embedded.threads_for(4, 9.0) == 1  # never below one
    assert embedded.threads_for(2, 0.4) == 2
    assert embedded.threads_for(2, 0.8) == 1
    assert embedded.threads_for(64, 0.0) == embedded.MAX_AUTO_THREADS


def _spin(stop) -> None:  # runs in a child process pinned to one CPU
    while not stop.is_set():
        for _ in range(100_000):
            pass


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux CPU affinity")
def test_a_core_busy_now_counts_whatever_the_load_average_says(monkeypatch):
    """A process spinning on one core right now is seen at once; the 1-minute load
    average (here claiming an idle machine) is not what decides."""
    import multiprocessing as mp

    cpus = sorted(embedded.usable_cpus())
    if len(cpus) < 2:
        pytest.skip("needs two usable CPUs")
    pair = set(cpus[:2])
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    stop = mp.Event()
    child = mp.Process(target=_spin, args=(stop,), daemon=True)
    child.start()
    try:
        os.sched_setaffinity(child.pid, {cpus[0]})
        busy = embedded.others_busy_cpus(pair, 0.5)
    finally:
        stop.set()
        child.join(5)
    assert busy >= 0.8, busy
    assert embedded.threads_for(len(pair), busy) == 1


def test_the_choice_is_measured_once_a_process(monkeypatch):
    calls = []

    def spy(cpus, seconds):  # counts the measurements instead of sampling
        calls.append(seconds)
        return 0.0

    monkeypatch.delenv(embedded.THREADS_ENV, raising=False)
    monkeypatch.setattr(embedded, "_AUTO", None)
    monkeypatch.setattr(embedded, "others_busy_cpus", spy)
    first = embedded.auto_threads()
    assert first == embedded.threads_for(len(embedded.usable_cpus()), 0.0)
    assert embedded.auto_threads() == first and len(calls) == 1


def test_the_environment_overrides_the_choice(monkeypatch):
    monkeypatch.setenv(embedded.THREADS_ENV, "3")
    assert embedded.auto_threads() == 3
    monkeypatch.setenv(embedded.THREADS_ENV, "0")
    with pytest.raises(embedded.BackendError, match="TANE_THREADS"):
        embedded.auto_threads()


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
