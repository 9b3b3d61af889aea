"""mypy --strict on the engine's seams: the stage contract (``stage.py``), a record's
provenance (``provenance.py``), the engine's contract (``engine/``) and the pipeline
(``pipeline/``), as ``[tool.mypy]`` in
pyproject.toml says. What they import is read for its types, not reported on.

No model: about 10 s with mypy's cache (``.mypy_cache``), a minute or two without."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is in the dev extra")

ROOT = Path(__file__).resolve().parents[1]


def test_the_engines_seams_are_strictly_typed():
    res = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_is_strict_on_the_seams():
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert cfg["strict"] is True
    assert set(cfg["files"]) >= {"src/tane/stage.py", "src/tane/engine", "src/tane/pipeline"}
