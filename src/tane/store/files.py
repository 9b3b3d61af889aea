"""Small file helpers every writer and reader of run files shares."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..errors import TaneError


def atomic_write(target: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, fsync it, then move
    it into place: a reader sees the old file or the new one, never half of it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_jsonl(path: Path, *, missing_ok: bool = False) -> list[Any]:
    """Every non-blank line of a UTF-8 JSONL file, parsed; a bad line is a one-line error
    naming the file and line."""
    path = Path(path)
    if missing_ok and not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise TaneError(f"invalid JSON: {e.msg}", path=str(path), line=n) from None
    return rows
