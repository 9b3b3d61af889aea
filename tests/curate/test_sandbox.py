"""The code sandbox (curate/sandbox.py): real interpreters, real limits, nothing mocked."""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid

import pytest

from tane.curate.sandbox import Limits, run

FAST = Limits(wall_s=1.0, cpu_s=1.0, memory_mb=512, output_kb=64)
PY = [sys.executable, "-I", "main.py"]


def py(code: str, limits: Limits = FAST, **kw):
    return run(PY, {"main.py": code}, limits, **kw)


def test_working_code_runs_and_its_output_comes_back(tmp_path):
    r = py("import sys; print('ok', 6 * 7); print('warn', file=sys.stderr)",
           temp_dir=str(tmp_path))
    assert (r.status, r.returncode, r.stdout, r.stderr) == ("ok", 0, "ok 42\n", "warn\n")


def test_an_infinite_loop_is_killed_at_its_limit():
    t0 = time.monotonic()
    r = py("while True:\n    pass\n")
    assert r.status == "timeout" and r.signal in ("SIGKILL", "SIGXCPU")
    assert time.monotonic() - t0 < 3.0


def test_a_sleeping_process_is_killed_at_the_wall_clock_limit():
    r = py("import time; time.sleep(30)")
    assert r.status == "timeout" and r.wall_s < 2.5


def test_a_fork_bomb_is_contained():
    r = py("import os\nwhile True:\n    os.fork()\n")
    assert r.status == "error"
    assert "BlockingIOError" in r.stderr  # the first fork already fails
    assert r.isolation["processes"].startswith("none")


def test_threads_still_run_without_processes():
    r = py("import threading\nt = threading.Thread(target=print, args=('thread',))\n"
           "t.start(); t.join()\n")
    assert (r.status, r.stdout) == ("ok", "thread\n")


def test_with_a_process_limit_a_shell_fork_bomb_is_contained_and_nothing_survives():
    mark = f"{uuid.uuid4().int % 10**6 + 10**6}"
    # each loop starts a background sleep: the limit stops them; the group is killed
    r = run([shutil.which("sh"), "main.sh"], {"main.sh": f"while true; do sleep {mark} & done"},
            Limits(wall_s=1.0, cpu_s=1.0, max_procs=8))
    assert r.status in ("error", "timeout")  # sh gives up at "Cannot fork", or is killed
    assert "fork" in r.stderr.lower()  # "Cannot fork"
    assert r.isolation["processes"] == "at most 8 (RLIMIT_NPROC)"
    time.sleep(0.1)
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark.encode() in f.read():
                    left.append(pid)
        except OSError:
            pass
    assert left == []


def test_a_10_gb_allocation_is_refused():
    r = py("x = bytearray(10 * 1024**3)")
    assert r.status == "error" and "MemoryError" in r.stderr


def test_output_is_capped():
    r = py("print('x' * 10_000_000)")
    assert r.status == "error" and "File too large" in r.stderr
    assert len(r.stdout) <= 4000


def test_a_socket_cannot_reach_the_network():
    r = py("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=0.5)\n")
    if not r.isolation["network"].startswith("isolated"):
        pytest.skip(f"this system refuses network namespaces: {r.isolation}")
    assert r.status == "error" and "Network is unreachable" in r.stderr


def test_the_run_directory_beside_the_work_directory_cannot_be_read(tmp_path):
    # the worst case: the temporary directories made inside a run directory
    (tmp_path / "run.sqlite").write_text("secret journal")
    r = py("print(open('../run.sqlite').read())", temp_dir=str(tmp_path))
    if not r.isolation["tmp"].startswith("private"):
        pytest.skip(f"this system refuses mount namespaces: {r.isolation}")
    assert r.status == "error" and "No such file or directory: '../run.sqlite'" in r.stderr
    assert "secret" not in r.stdout


def test_the_environment_is_cleared(monkeypatch):
    monkeypatch.setenv("TANE_TEST_API_KEY", "sk-not-for-the-code")
    r = py("import os; print(sorted(os.environ))")
    assert r.status == "ok" and "TANE_TEST_API_KEY" not in r.stdout


def test_nothing_is_left_behind(tmp_path):
    tag = uuid.uuid4().hex
    code = (f"import os, tempfile\nopen('/tmp/{tag}', 'w').write('x')\n"
            f"open(os.path.join(tempfile.gettempdir(), '{tag}.2'), 'w').write('x')\n"
            "os.makedirs('sub/deeper'); open('sub/deeper/f', 'w').write('x')\n"
            "os.chmod('sub/deeper', 0o500); os.chmod('sub', 0o500)\n")
    root = tmp_path / "t"
    root.mkdir()
    r = py(code, temp_dir=str(root))
    assert r.status == "ok", r.stderr
    assert list(root.iterdir()) == []
    assert not os.path.exists(f"/tmp/{tag}.2"), "tempfile writes in the work directory"
    if not r.isolation["tmp"].startswith("private"):
        os.unlink(f"/tmp/{tag}")  # a program may write to a shared /tmp; say why it was
        pytest.skip(f"/tmp is shared here: {r.isolation['tmp']}")
    assert not os.path.exists(f"/tmp/{tag}")
