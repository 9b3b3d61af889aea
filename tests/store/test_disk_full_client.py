"""A full disk in the middle of a run against a served model: exit 5, one line, and no
client session left open by the calls that were still running.

The fault is SQLite's own SQLITE_FULL, made real by capping the journal's page count
(``PRAGMA max_page_count``) on its write connection (a named stand-in: a real full file
system needs root to mount). The server is bench/simserver.py, a real HTTP server that
answers without a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from simserver import SimServer  # noqa: E402

SQLITE_FULL = '''
from tane.store.rundir import RunDir
_open = RunDir._open_write_connection
def _capped(self):
    db = _open(self)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages + 2}")
    return db
RunDir._open_write_connection = _capped
'''


def _tane(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = SQLITE_FULL + "\nimport sys\nfrom tane.cli import main\nsys.argv = ['tane'] + " \
        + repr(list(args)) + "\nmain()\n"
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_full_disk_mid_run_leaves_no_client_session_open(tmp_path):
    with SimServer.start(streams=8, ttft=0.0, tps=5000.0, tokens_mean=30) as sim:
        (tmp_path / "r.yaml").write_text(f"""\
target: 400
llm: {{backend: openai, base_url: {sim.url}, model: sim, concurrency: 1}}
seeds: {{path: bundled:en}}
stages:
  - {{method: self_instruct, mode: en, max_rounds: 200, request_batch_size: 2}}
""", encoding="utf-8")
        for i in range(3):
            res = _tane(tmp_path, "run", "r.yaml", "-o", str(tmp_path / f"run{i}"),
                        "--no-progress")
            assert res.returncode == 5, res.stderr[-3000:]
            assert "Traceback" not in res.stderr
            assert "no space left on " in res.stderr
            assert "Unclosed" not in res.stderr, res.stderr[-3000:]
