"""The run lock: one holder per run directory, refused with one line, freed on close or
when the holder dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tane.errors import TaneError
from tane.store.lock import RunLock
from tane.store.rundir import RunDir

SRC = Path(__file__).resolve().parents[2] / "src"
ENV = os.environ | {"PYTHONPATH": str(SRC)}

HOLDER = textwrap.dedent("""
    import sys, time
    from tane.store.rundir import RunDir
    rd = RunDir(sys.argv[1], lock=True)
    print("held", flush=True)
    time.sleep(600)
""")

TRY = textwrap.dedent("""
    import sys
    from tane.errors import TaneError
    from tane.store.rundir import RunDir
    try:
        rd = RunDir(sys.argv[1], lock=True)
    except TaneError as e:
        print(e.one_line())
        sys.exit(e.exit_code)
    print("acquired")
    rd.close()
""")

MESSAGE = r"run directory {dir} is in use by another tane run \(pid (\d+), started (\S+)\)"


def _try(run: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRY, str(run)], capture_output=True,
                          text=True, env=ENV, timeout=60)


def test_a_second_process_is_refused_until_the_holder_dies(tmp_path):
    run = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = _try(run)
        assert refused.returncode == 2, refused.stderr
        lines = refused.stdout.splitlines()
        assert len(lines) == 1
        m = re.fullmatch(MESSAGE.format(dir=re.escape(str(run))), lines[0])
        assert m, lines[0]
        assert int(m.group(1)) == holder.pid
        assert m.group(2)[:4].isdigit()  # an ISO time
        # this process is refused the same way, and opening without the lock still works
        with pytest.raises(TaneError, match="is in use by another tane run"):
            RunDir(run, lock=True)
        RunDir(run).close()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    again = _try(run)  # the kernel released the dead holder's lock
    assert again.returncode == 0 and again.stdout.strip() == "acquired", again.stdout


def test_close_releases_the_lock(tmp_path):
    rd = RunDir(tmp_path, lock=True)
    with pytest.raises(TaneError) as e:
        RunDir(tmp_path, lock=True)
    assert f"(pid {os.getpid()}, started " in str(e.value)
    assert "\n" not in str(e.value)
    rd.close()
    rd2 = RunDir(tmp_path, lock=True)
    assert (tmp_path / ".lock").exists() and rd2.lock.held
    rd2.close()
    assert not rd2.lock.held
    with RunLock(tmp_path) as lock:
        assert lock.held
    assert not lock.held


def test_a_failed_open_releases_the_lock(tmp_path):
    (tmp_path / "run.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(Exception):
        RunDir(tmp_path, lock=True)
    with RunLock(tmp_path):
        pass


def test_unknown_holder_info_still_gives_one_line(tmp_path):
    """A holder that has not written its pid yet (or an older tane): placeholders."""
    import fcntl
    fd = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        t0 = time.monotonic()
        with pytest.raises(TaneError, match=r"\(pid \?, started \?\)$"):
            RunLock(tmp_path).acquire()
        assert time.monotonic() - t0 < 5
    finally:
        os.close(fd)
