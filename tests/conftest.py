"""Shared fixtures. Tests run with the package installed or with ``PYTHONPATH=src``.

The suite runs in parallel (``pytest -n auto``, one worker a core; see the Makefile):
each worker's embedded models decode on one thread (``TANE_THREADS=1``), so two workers
on two cores never make llama.cpp threads wait for each other; the modules that run a
real model go first, so the long ones start at once and the short ones fill in behind;
a finished real-model run that several tests read is made once for the whole session
(``shared_run``), whichever worker asks first."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest

_SRC = Path(__file__).resolve().parents[1] / "src"
if importlib.util.find_spec("tane") is None and _SRC.is_dir():  # plain checkout, no install
    sys.path.insert(0, str(_SRC))


def pytest_configure(config):
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        os.environ.setdefault("TANE_THREADS", "1")  # read by tane.llm.embedded.auto_threads


# The modules that take longest (each runs the embedded model on a recipe, one run after
# another), longest first, as `make test --durations` measured them: started first, they
# overlap the rest of the suite instead of trailing it.
LONGEST = ["test_demo_pty"]


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """A test that uses the real llama.cpp server is ``slow`` whether or not it says so.
    Modules holding a ``slow`` (real-model) test go first, each module kept whole (its
    module-scoped fixtures are made once); the order within a module is kept."""
    for it in items:
        if "llama_server" in getattr(it, "fixturenames", ()):
            it.add_marker(pytest.mark.slow)
    slow_modules = {it.module.__name__ for it in items
                    if it.get_closest_marker("slow") and getattr(it, "module", None)}

    def rank(it) -> int:
        name = it.module.__name__ if getattr(it, "module", None) else ""
        if name.rsplit(".", 1)[-1] in LONGEST:
            return LONGEST.index(name.rsplit(".", 1)[-1])
        return len(LONGEST) + (0 if name in slow_modules else 1)

    items.sort(key=rank)


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


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory) -> Callable[[str, Callable[[Path], None]], Path]:
    """``shared_run(key, build)``: the folder ``build(folder)`` filled, made once for the
    whole session across parallel workers (a file lock in the session's common temporary
    folder; the workers that ask meanwhile wait for it). Readers must not change it: copy
    it first (``shutil.copytree``) to resume or edit it. A build that failed fails every
    test that asks for it, with the build's message, without building again."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-N/: common to this session's workers
    root = base / "shared-runs"
    root.mkdir(exist_ok=True)

    def get(key: str, build: Callable[[Path], None]) -> Path:
        folder, done, failed = root / key, root / f"{key}.done", root / f"{key}.failed"
        with open(root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists() and not failed.exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                try:
                    build(folder)
                except BaseException as e:
                    failed.write_text(f"{type(e).__name__}: {e}"[:20000], encoding="utf-8")
                    raise
                done.touch()
        if failed.exists():
            pytest.fail(f"the shared run {key!r} failed to build: "
                        + failed.read_text(encoding="utf-8"), pytrace=False)
        return folder

    return get
