"""A full disk: one line (``no space left on … while writing …; free space and rerun the
same command``), exit code 5, the manifest saying ``failed``, no half set of files.

Faults: SQLite's own SQLITE_FULL, made real by capping the database's page count
(``PRAGMA max_page_count``) on the journal's write connection; and ENOSPC injected as
``OSError(28)`` from ``os.fsync`` of new files, or from the writes of ``tane dedup``'s
output (named stand-ins: a real full file system needs root to mount). Each runs the real
CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

ENOSPC_AFTER = '''
import errno, os, sys
_real = os.fsync
_state = {"full": False}
def _fsync(fd):
    name = os.readlink(f"/proc/self/fd/{fd}")
    # new files need new blocks: once the disk is full, every one fails
    if name.endswith(".tmp") and (_state["full"] or TRIGGER in os.path.basename(name)):
        _state["full"] = True
        raise OSError(errno.ENOSPC, "No space left on device")
    return _real(fd)
os.fsync = _fsync
'''

SQLITE_FULL = '''
from tane.store.rundir import RunDir
_open = RunDir._open_write_connection
def _capped(self):
    db = _open(self)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")
    return db
RunDir._open_write_connection = _capped
'''


def _tane(cwd: Path, prelude: str, *args: str) -> subprocess.CompletedProcess:
    code = prelude + "\nimport sys\nfrom tane.cli import main\nsys.argv = ['tane'] + " \
        + repr(list(args)) + "\nmain()\n"
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def _error_lines(stderr: str) -> list[str]:
    if stderr.startswith("tane run:") and "\nerror: " in stderr:
        stderr = stderr[stderr.index("\nerror: ") + 1:]
    return [x for x in stderr.splitlines() if x.strip()]


def _source_recipe(d: Path, rows: int = 40) -> Path:
    lines = [json.dumps({"instruction": f"日本の都市について説明してください（{i}）。",
                         "output": f"都市{i}は日本にあります。人口は{i * 1000}人です。"},
                        ensure_ascii=False) for i in range(rows)]
    (d / "src.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rec = d / "recipe.yaml"
    rec.write_text("name: disk\nsource: {path: src.jsonl}\nstages:\n  - method: curate\n"
                   "    steps:\n      - name: length\n", encoding="utf-8")
    return rec


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_run_on_a_full_disk_is_one_line_and_the_manifest_says_failed(tmp_path):
    _source_recipe(tmp_path)
    run = tmp_path / "run"
    res = _tane(tmp_path, "TRIGGER = 'dataset'\n" + ENOSPC_AFTER,
                "run", "recipe.yaml", "-o", str(run), "--no-progress")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 5, res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: no space left on ")
    assert "while writing " in lines[0] and "dataset" in lines[0]
    assert lines[0].endswith("free space and rerun the same command")
    # the manifest was rewritten in place (no new blocks): it says failed
    assert _manifest(run)["status"] == "failed"
    assert not (run / "dataset.jsonl").exists()
    assert not [p.name for p in run.iterdir() if p.name.endswith((".tmp", ".old"))]
    # space freed: the same command completes
    again = _tane(tmp_path, "", "run", "recipe.yaml", "-o", str(run), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert _manifest(run)["status"] == "complete"
    assert len((run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()) == 40


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_run_when_sqlite_says_database_or_disk_is_full(tmp_path):
    _source_recipe(tmp_path, rows=400)
    run = tmp_path / "run"
    res = _tane(tmp_path, SQLITE_FULL, "run", "recipe.yaml", "-o", str(run), "--no-progress")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 5, res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: no space left on "), res.stderr
    assert f"while writing {run / 'run.sqlite'}" in lines[0]
    assert _manifest(run)["status"] == "failed"


def _export_run(d: Path) -> Path:
    from tane.store.rundir import RunDir

    d.mkdir()
    recs = [{"id": f"r{i}", "instruction": f"質問{i}", "input": "", "output": f"答え{i}",
             "provenance": {"method": "self_instruct", "seed_ids": ["s"], "model": "m",
                            "license": "apache-2.0"}} for i in range(5)]
    (d / "dataset.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in recs), encoding="utf-8")
    (d / "rejected.jsonl").write_text("", encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({"status": "complete",
                                                 "recipe": {"name": "t"}}), encoding="utf-8")
    RunDir(d).close()
    return d


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_export_on_a_full_disk_leaves_no_half_set(tmp_path):
    run = _export_run(tmp_path / "run")
    out = tmp_path / "out"
    # the data file is written, then the card finds the disk full
    res = _tane(tmp_path, "TRIGGER = 'README'\n" + ENOSPC_AFTER, "export", str(run),
                "-f", "alpaca", "--to", str(out / "data.jsonl"), "--val-ratio", "0.4")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 5, res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: no space left on ")
    assert f"while writing {out / 'README.md'}; free space and rerun" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == []  # nothing of the new set


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_export_on_a_full_disk_keeps_the_previous_set_whole(tmp_path):
    run = _export_run(tmp_path / "run")
    out = tmp_path / "out"
    first = _tane(tmp_path, "", "export", str(run), "-f", "alpaca",
                  "--to", str(out / "data.jsonl"))
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"data.jsonl", "README.md", "dataset_info.json"} <= set(before)
    res = _tane(tmp_path, "TRIGGER = 'README'\n" + ENOSPC_AFTER, "export", str(run),
                "-f", "alpaca", "--to", str(out / "data.jsonl"), "--system", "別の指示")
    assert res.returncode == 5, res.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_dedup_on_a_full_disk_names_the_output_and_leaves_nothing(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"質問その{i}です。"},
                                      ensure_ascii=False) + "\n" for i in range(20)),
                   encoding="utf-8")
    # dedup writes through its own temporary files: the fault is the write itself
    code = ("import errno, os\n"
            "_fdopen = os.fdopen\n"
            "class Full:\n"
            "    def __init__(self, f): self.f = f\n"
            "    def __enter__(self): return self\n"
            "    def __exit__(self, *a): self.f.close()\n"
            "    def write(self, s): raise OSError(errno.ENOSPC, 'No space left on device')\n"
            "os.fdopen = lambda fd, mode='r', *a, **k: (Full(_fdopen(fd, mode, *a, **k))\n"
            "    if 'w' in mode else _fdopen(fd, mode, *a, **k))\n")
    out = tmp_path / "out.jsonl"
    res = _tane(tmp_path, code, "dedup", str(src), "-o", str(out))
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 5, res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: no space left on "), res.stderr
    assert f"while writing {tmp_path / 'out.jsonl'}; free space" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
