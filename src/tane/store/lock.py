"""One run at a time per run directory: an exclusive ``flock`` on ``DIR/.lock``.

The lock is taken without waiting; a second holder (another process, or another open
file in this one) gets a one-line :class:`~tane.errors.TaneError` naming the holder's pid
and start time, which the holder writes into the file. The kernel drops the lock when the
holder closes it or dies (``kill -9`` included), so a stale ``.lock`` file never blocks a
resume; the file itself is left in place (deleting it would race with a new holder).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..errors import TaneError
from .files import os_error

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Take the lock. A file system error (a full disk included) is one line naming
        the lock file."""
        if self._fd is not None:
            return self
        try:
            return self._acquire()
        except OSError as e:
            raise os_error(e, e.filename or self.path) from None

    def _acquire(self) -> "RunLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy = self._busy(fd)
            os.close(fd)
            raise busy from None
        except BaseException:
            os.close(fd)
            raise
        started = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\nstarted {started}\n".encode(), 0)
        except BaseException:
            os.close(fd)  # closing drops the lock
            raise
        self._fd = fd
        return self

    def _busy(self, fd: int) -> TaneError:
        return TaneError(f"run directory {self.run_dir} is in use by another tane run "
                         f"({_holder(fd)})")

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared while only reading, writing nothing (not even the lock
        file): refused like :meth:`acquire` while another process holds it; nothing to
        hold where no run ever took it (no lock file)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        if fd is None:
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._busy(fd) from None
            yield
        finally:
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)  # nobody holds it: no stale pid for the next reader
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    """``pid N, started T`` as the holder wrote it. The holder writes right after taking
    the lock, so an empty file is read again for a moment before giving up."""
    info: dict[str, str] = {}
    for _ in range(20):
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        info = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        if "pid" in info:
            break
        time.sleep(0.01)
    return f"pid {info.get('pid', '?')}, started {info.get('started', '?')}"
