"""Running the CLI on a pseudo-terminal, as a user's terminal of a given size runs it."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

from helpers import ROOT, tane_cmd

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(args: list[str], columns: int = 100, timeout: float = 900) -> tuple[int, str]:
    """Run the CLI with its stdout and stderr on a pty ``columns`` wide and 40 lines high;
    return the exit code and everything it wrote, escape codes included."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "TERM": "xterm-256color",
                        "COLUMNS": str(columns), "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(tane_cmd(*args), stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=ROOT, close_fds=True)
    os.close(slave)
    chunks, end = [], time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.5)
            try:
                data = os.read(master, 65536) if ready else b""
            except OSError:  # the child closed its side
                break
            if data:
                chunks.append(data)
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def plain(text: str) -> str:
    """What a pty run wrote, without escape codes and carriage returns."""
    return ESCAPES.sub("", text.replace("\r\n", "\n")).replace("\r", "")
