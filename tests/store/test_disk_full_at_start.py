"""A disk that is full before a run writes anything: the one line names the file tane
was writing (the run directory's ``.lock``) and the mount that holds it, not the mount of
the directory the command was started from.

The first test fills a real file system: a 64 KiB tmpfs mounted under ``tmp_path``
(needs root and permission to mount; skipped otherwise). The second injects ENOSPC into
``os.pwrite`` (a named stand-in for a full disk, which runs anywhere). Both run the real
CLI in a subprocess, started from a folder on another file system than the run's."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

ENOSPC_ON_PWRITE = '''
import errno, os
_real = os.pwrite
def _pwrite(fd, data, offset):  # stand-in for a full disk: the first write of a new file
    raise OSError(errno.ENOSPC, "No space left on device")
os.pwrite = _pwrite
'''


def _tane(cwd: Path, prelude: str, *args: str) -> subprocess.CompletedProcess:
    code = prelude + "\nimport sys\nfrom tane.cli import main\nsys.argv = ['tane'] + " \
        + repr(list(args)) + "\nmain()\n"
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def _recipe(d: Path) -> Path:
    rows = [json.dumps({"instruction": f"日本の都市について説明してください（{i}）。",
                        "output": f"都市{i}は日本にあります。"}, ensure_ascii=False)
            for i in range(5)]
    (d / "src.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    rec = d / "recipe.yaml"
    rec.write_text("name: disk\nsource: {path: src.jsonl}\nstages:\n  - method: curate\n"
                   "    steps:\n      - name: length\n", encoding="utf-8")
    return rec


def _error_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def full_tmpfs(tmp_path):
    """A real, full file system: a 64 KiB tmpfs filled to the last block."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        (mnt / "run").mkdir()
        with open(mnt / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_full_run_directory_names_its_lock_file_and_mount(tmp_path, full_tmpfs):
    work = tmp_path / "work"
    work.mkdir()
    _recipe(work)
    run = full_tmpfs / "run"
    res = _tane(work, "", "run", "recipe.yaml", "-o", str(run), "--no-progress")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 5, res.stderr
    line = _error_line(res.stderr)
    assert line == (f"error: no space left on {full_tmpfs} while writing {run / '.lock'}; "
                    "free space and rerun the same command")


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_run_directory_reached_through_a_link_names_the_full_mount(tmp_path, full_tmpfs):
    work = tmp_path / "work"
    work.mkdir()
    _recipe(work)
    link = work / "runs"
    link.symlink_to(full_tmpfs / "run")
    res = _tane(work, "", "run", "recipe.yaml", "-o", "runs", "--no-progress")
    assert res.returncode == 5, res.stderr
    assert _error_line(res.stderr).startswith(f"error: no space left on {full_tmpfs} while "
                                              "writing runs/.lock;")


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_enospc_on_the_lock_file_names_it(tmp_path):
    _recipe(tmp_path)
    run = tmp_path / "out" / "run"
    res = _tane(tmp_path, ENOSPC_ON_PWRITE, "run", "recipe.yaml", "-o", str(run),
                "--no-progress")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 5, res.stderr
    line = _error_line(res.stderr)
    assert f"while writing {run / '.lock'};" in line
    assert "the command's output" not in line


def test_an_unnamed_file_does_not_name_the_current_folders_mount(tmp_path, monkeypatch):
    from tane.store.files import disk_full

    monkeypatch.chdir(tmp_path)
    line = disk_full(None).one_line()
    assert line.startswith("no space left while writing a file the system did not name")
    assert " on / " not in line and f" on {tmp_path}" not in line
