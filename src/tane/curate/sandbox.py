"""Run untrusted code in a separate, limited process (the ``code`` curate step).

Each run gets a fresh directory from ``tempfile.mkdtemp`` (removed afterwards, whatever
happened), the code's files written into it, and a process started through
``sandbox_launch.py`` (own session, cleared environment, stdin closed) with:

- a wall-clock limit (the process group is killed when it passes) and a CPU limit
  (``RLIMIT_CPU``);
- a memory limit (``RLIMIT_AS``, address space) and an output limit (``RLIMIT_FSIZE``:
  stdout, stderr and any file the code writes stop growing past it);
- no new processes (a seccomp filter; threads still run), or with ``max_procs > 0`` at
  most that many (``RLIMIT_NPROC``, which the kernel does not apply to root);
- where the kernel allows it, new mount and network namespaces (a user namespace first
  when not root): no network interface but a loopback that is down, and the work
  directory mounted over ``/tmp`` and ``/var/tmp`` as the cwd, so ``..`` is ``/``.

What is not isolated: the code runs as the same user and sees the rest of the file
system with that user's permissions; it is given no path of the run directory (not the
cwd, not in the environment), but can open an absolute path it guesses. Which parts took
effect is returned in ``RunResult.isolation`` (e.g. ``network: not isolated`` where
namespaces are refused).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAUNCHER = str(Path(__file__).with_name("sandbox_launch.py"))
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Limits:
    wall_s: float = 5.0
    cpu_s: float = 5.0
    memory_mb: int = 1024
    output_kb: int = 1024
    max_procs: int = 0
    network: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "memory_mb": self.memory_mb,
                "output_kb": self.output_kb, "max_procs": self.max_procs,
                "network": self.network}


@dataclass
class RunResult:
    """``status``: ``ok`` (exit 0), ``error`` (another exit status or a signal),
    ``timeout`` (wall clock or CPU limit); ``signal`` names a fatal signal."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    signal: str | None = None
    isolation: dict[str, Any] = field(default_factory=dict)


def _tail(f: Any, max_bytes: int) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - max_bytes))
    return f.read().decode("utf-8", "replace")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _rmtree(path: str) -> None:
    def fix(func: Any, p: str, _exc: Any) -> None:  # a directory the code made read-only
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=fix)


def run(argv: list[str], files: dict[str, str], limits: Limits,
        env: dict[str, str] | None = None, temp_dir: str | None = None,
        keep_bytes: int = 4000, inline: str | None = None) -> RunResult:
    """Write `files` into a fresh directory and run `argv` there (argv[0] must be an
    absolute path). ``temp_dir``: where that directory is made (default: the system's).
    ``inline``: Python source that the launcher (this interpreter) runs itself, under the
    same limits, instead of starting `argv`: one interpreter start fewer."""
    work = tempfile.mkdtemp(prefix="tane-code-", dir=temp_dir)
    r_notes, w_notes = os.pipe()
    try:
        for name, text in files.items():
            Path(work, name).write_text(text, encoding="utf-8")
        spec = {"dir": work, "argv": argv, "env": {**BASE_ENV, "HOME": work, "TMPDIR": work,
                                                    **(env or {})},
                "limits": limits.as_dict(), "notes_fd": w_notes, "inline": inline}
        # unnamed files, unlinked at once: the code cannot find them by name
        with tempfile.TemporaryFile(dir=temp_dir) as out, \
                tempfile.TemporaryFile(dir=temp_dir) as err:
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", LAUNCHER, json.dumps(spec)], cwd=work, env={},
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(w_notes,),
                start_new_session=True)
            os.close(w_notes)
            w_notes = -1
            timed_out = False
            try:
                proc.wait(timeout=limits.wall_s + 0.5)  # the launcher's own start
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            _kill_group(proc.pid)  # whatever it left running in its group
            wall = time.monotonic() - t0
            stdout, stderr = _tail(out, keep_bytes), _tail(err, keep_bytes)
        with os.fdopen(r_notes, "rb") as f:
            r_notes = -1
            line = f.readline()
        isolation = json.loads(line) if line.strip() else {}
    finally:
        for fd in (r_notes, w_notes):
            if fd >= 0:
                os.close(fd)
        _rmtree(work)
    rc = proc.returncode
    sig = signal.Signals(-rc).name if rc is not None and rc < 0 else None
    if timed_out or sig in ("SIGXCPU",) or (sig == "SIGKILL" and wall >= limits.cpu_s):
        status = "timeout"
    else:
        status = "ok" if rc == 0 else "error"
    return RunResult(status, rc, stdout, stderr, round(wall, 3), sig, isolation)
