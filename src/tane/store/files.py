"""Small file helpers every writer and reader of run files shares."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import DiskFullError, TaneError, json_problem

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = ("database or disk is full", "disk i/o error")
# the files written inside `file_set()`: (target, backup of what was there, or None)
_FILE_SET: contextvars.ContextVar[list[tuple[Path, Path | None]] | None] = \
    contextvars.ContextVar("tane_file_set", default=None)


def is_disk_full(e: BaseException) -> bool:
    """An OSError ENOSPC/EDQUOT, or SQLite's "database or disk is full" / "disk I/O
    error" (what a full disk gives a WAL database)."""
    if isinstance(e, OSError):
        return e.errno in NO_SPACE
    if isinstance(e, sqlite3.Error):
        return any(m in str(e).lower() for m in _SQLITE_FULL)
    return False


def mount_of(path: str | Path) -> str:
    """The mount point holding ``path`` (or its nearest existing parent), symbolic links
    followed: the file system the bytes go to."""
    p = Path(os.path.realpath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return str(p)


def disk_full(path: str | Path | None) -> DiskFullError:
    """The one line of a full disk, naming the file and the mount that holds it.
    ``path`` None: a write the system did not name; no mount is guessed for it."""
    if path is None:
        return DiskFullError("no space left while writing a file the system did not name; "
                             "free space and rerun the same command")
    return DiskFullError(f"no space left on {mount_of(path)} while writing {path}; free "
                         "space and rerun the same command")


def os_error(e: OSError | sqlite3.Error, path: str | Path | None = None) -> TaneError:
    """One line for an OSError (or SQLite error) on a user's path: disk full is a
    `DiskFullError`; anything else names the path and the system's reason."""
    where = path or getattr(e, "filename", None)
    if is_disk_full(e):
        return disk_full(where)
    if isinstance(e, OSError):
        why = e.strerror or str(e)
        if e.errno == errno.EISDIR:
            why = "is a directory, expected a file"
        elif e.errno == errno.ENOTDIR:
            why = "a part of the path is a file, not a directory"
        elif e.errno == errno.EEXIST:
            why = "exists and is not a directory"
        if where is None:
            return TaneError(why)
        other = getattr(e, "filename2", None)
        return TaneError(why + (f" ({other})" if other else ""), path=str(where))
    return TaneError(f"database error: {e}", path=str(where) if where else None)


@contextlib.contextmanager
def file_set() -> Iterator[None]:
    """Files written with `atomic_write` inside are kept all together or not at all: an
    error (a full disk midway) puts every one back as it was before, so a set of outputs
    (data files, card, NOTICE) is never left half new, half old or half missing."""
    done: list[tuple[Path, Path | None]] = []
    token = _FILE_SET.set(done)
    try:
        yield
    except BaseException:
        for target, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
        raise
    else:
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
    finally:
        _FILE_SET.reset(token)


def _keep_old(target: Path, done: list[tuple[Path, Path | None]]) -> None:
    """Inside `file_set`: remember ``target``'s old contents (a hard link, no copy)."""
    if any(t == target for t, _ in done):
        return
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.{os.getpid()}.{len(done)}.old")
        backup.unlink(missing_ok=True)
        try:
            os.link(target, backup)
        except OSError:  # a file system without hard links
            shutil.copy2(target, backup)
    done.append((target, backup))


def umask() -> int:
    """The process's umask, read without changing it where the system tells it
    (/proc/self/status), else set and put back at once."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode(executable: bool = False) -> int:
    """The mode a newly created file gets under the umask (0644 or 0755 under 022), as
    ``open()`` would give it: the temporary files of `atomic_write` are made 0600 by
    ``mkstemp`` and set to this before they are moved into place."""
    return (0o777 if executable else 0o666) & ~umask()


def temp_beside(target: Path) -> tuple[int, str]:
    """(fd, path) of a new temporary file beside ``target``, with the mode a file made by
    ``open()`` would have (the umask's, not mkstemp's owner-only 0600)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def atomic_write(target: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, fsync it, then move
    it into place: a reader sees the old file or the new one, never half of it. The file
    gets the mode the umask gives a new file (0644 under 022). A full disk is a one-line
    `DiskFullError` naming ``target``."""
    target = Path(target)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(target)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, file_mode())  # a writer may have made the file anew
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        done = _FILE_SET.get()
        if done is not None:
            _keep_old(target, done)
        os.replace(tmp, target)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and is_disk_full(e):
            raise disk_full(target) from None
        raise
    return target


_SCAN = json.JSONDecoder().scan_once


def loads(text: str) -> Any:
    """``json.loads(text)``, a few times faster on the short JSON tane writes (one call
    into the C scanner; anything it does not take whole, such as leading whitespace or a
    bad document, goes through ``json.loads`` and its error)."""
    try:
        obj, end = _SCAN(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        return json.loads(text)
    return obj


def read_jsonl(path: Path, *, missing_ok: bool = False) -> list[Any]:
    """Every non-blank line of a UTF-8 JSONL file, parsed; a bad line is a one-line error
    naming the file and line."""
    path = Path(path)
    if missing_ok and not path.exists():
        return []
    rows = []
    n = 0
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(loads(line))
                except json.JSONDecodeError as e:
                    raise TaneError(f"invalid JSON: {json_problem(e)}", path=str(path),
                                    line=n) from None
    except UnicodeDecodeError as e:
        raise TaneError(f"not UTF-8 text ({e.reason}); save the file as UTF-8",
                        path=str(path), line=n + 1) from None
    except OSError as e:
        raise os_error(e, path) from None
    return rows
