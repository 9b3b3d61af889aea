"""Shared helpers for the integration tests: run the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def tane_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tane.cli", *args]


def run_tane(*args: str, timeout: float = 900, env: dict | None = None
             ) -> subprocess.CompletedProcess:
    e = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")} | (env or {})
    return subprocess.run(tane_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=e, cwd=ROOT)


def journal_count(run_dir: Path) -> int:
    db = run_dir / "run.sqlite"
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def max_puts(run_dir: Path) -> int:
    con = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return con.execute("SELECT COALESCE(MAX(puts), 0) FROM calls").fetchone()[0]
    finally:
        con.close()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_stats(run_dir: Path) -> dict:
    return json.loads((run_dir / "stats.json").read_text(encoding="utf-8"))


def answer_few_ja(folder: Path, extra: str = "", max_tokens: int = 48) -> Path:
    """A recipe for tests of the plumbing over real calls (faults, retries, accounting):
    the six short questions of ``data/few_ja.jsonl`` answered in up to ``max_tokens``, with
    no few-shot examples, so a call is a short prompt and a short answer (a cut one is a
    ``truncated_answer`` drop). ``extra`` goes before ``stages:``. Returns the recipe's path (written into ``folder``)."""
    recipe = folder / "answer_few_ja.yaml"
    recipe.write_text(
        "name: answer-few-ja\nseed: 5\n"
        f"source: {{path: {DATA / 'few_ja.jsonl'}}}\n{extra}"
        "stages:\n  - method: answer\n    mode: ja\n    num_examples: 0\n"
        f"    sampling: {{temperature: 0.0, top_p: 1.0, max_tokens: {max_tokens}}}\n",
        encoding="utf-8")
    return recipe
