"""New review revisions and the files they shape, committed as one.

``dataset.jsonl``, ``rejected.jsonl`` and stats.json's ``dataset_records`` follow from the
machine copies and the revisions, so the revisions' SQLite transaction is the commit
point of an import:

1. inside the transaction, the revisions are added and the new files are written beside
   the old ones under hidden staging names (``.NAME.review-stage``) and fsynced; a full
   disk fails here, the transaction rolls back and nothing has changed;
2. the transaction commits the revisions with a mark that the files are due
   (the ``outputs_due`` table);
3. the staged files are renamed over the old ones and the mark is cleared.

A kill before 2 leaves the old state (its staged files are removed by the next
:func:`settle`); a kill after 2 leaves the mark, and the next :func:`settle` writes the
files from the revisions. No backups are kept: nothing is ever rolled back on disk.
Every ``tane review`` command and ``tane export`` settle a run directory first, and a
run's end writes the files anyway. The caller holds the run lock
(:class:`~tane.store.lock.RunLock`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from ..errors import TaneError
from ..schema import dumps
from .files import disk_full, is_disk_full
from .lock import RunLock
from .revision_table import (clear_outputs_due, insert_revisions, latest_revisions,
                             mark_outputs_due, outputs_due)
from .revisions import MACHINE_DATASET, MACHINE_REJECTED, apply_revisions, machine_output
from .rundir import RunDir

STAGE = ".review-stage"


def _texts(d: Path, revisions: dict[str, dict[str, Any]]
           ) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """name -> new text of each file the revisions shape, in the order to rename them
    (the machine copies first, when there are none yet; dataset.jsonl last)."""
    records, drops = machine_output(d)
    final, final_drops = apply_revisions(records, drops, revisions)
    texts: dict[str, str] = {}
    if not (d / MACHINE_DATASET).exists():  # a run made before review: keep its output
        texts[MACHINE_REJECTED] = "".join(dumps(x) + "\n" for x in drops)
        texts[MACHINE_DATASET] = "".join(dumps(r) + "\n" for r in records)
    stats = _stats(d)
    if stats is not None:
        stats["dataset_records"] = len(final)
        texts["stats.json"] = json.dumps(stats, ensure_ascii=False, indent=2) + "\n"
    texts["rejected.jsonl"] = "".join(dumps(x) + "\n" for x in final_drops)
    texts["dataset.jsonl"] = "".join(dumps(r) + "\n" for r in final)
    return texts, final, final_drops


def _stats(d: Path) -> dict[str, Any] | None:
    """stats.json as an object, or None when there is none (or it is no JSON object:
    left as it is)."""
    try:
        stats = json.loads((d / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stats if isinstance(stats, dict) else None


def _staged(d: Path, name: str) -> Path:
    return d / f".{name}{STAGE}"


def _stage(d: Path, texts: dict[str, str]) -> None:
    name = ""
    try:
        for name, text in texts.items():
            with open(_staged(d, name), "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        _unstage(d)
        if is_disk_full(e):
            raise disk_full(d / name) from None
        raise TaneError(f"cannot write: {e.strerror or e}", path=str(d / name)) from None
    except BaseException:
        _unstage(d)
        raise


def _publish(d: Path, names: Iterable[str]) -> None:
    for name in names:
        os.replace(_staged(d, name), d / name)
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unstage(d: Path) -> None:
    """Remove staged files a failed or killed commit left."""
    for p in d.glob(f".*{STAGE}"):
        p.unlink(missing_ok=True)


def commit_revisions(run_dir: str | Path, items: list[dict[str, Any]]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                list[dict[str, Any]]]:
    """Add ``items`` as revisions and write the files they shape, as one (see the module
    doc). Returns (revisions added, dataset records, drops)."""
    d = Path(run_dir)
    rd = RunDir(d)
    try:
        db = rd.db
        with db:
            db.execute("BEGIN IMMEDIATE")
            added = insert_revisions(db, items)
            texts, final, drops = _texts(d, latest_revisions(db))
            _stage(d, texts)
            mark_outputs_due(db)
        _publish(d, texts)
        clear_outputs_due(db)
    finally:
        rd.close()
    return added, final, drops


def settle(run_dir: str | Path) -> None:
    """Finish what a killed commit left: remove its staged files, and write the files the
    revisions shape when they are still due. The caller holds the run lock."""
    d = Path(run_dir)
    _unstage(d)
    rd = RunDir(d)
    try:
        if not outputs_due(rd.db):
            return
        texts, _, _ = _texts(d, latest_revisions(rd.db))
        _stage(d, texts)
        _publish(d, texts)
        clear_outputs_due(rd.db)
    finally:
        rd.close()


def settle_unless_busy(run_dir: str | Path) -> None:
    """:func:`settle`, for a reader: only when something is due, and skipped while a run
    holds the directory (its end writes the files anyway) or it cannot be written."""
    d = Path(run_dir)
    if not any(d.glob(f".*{STAGE}")) and not _due(d / "run.sqlite"):
        return
    lock = RunLock(d)
    try:
        lock.acquire()
    except (TaneError, OSError):
        return
    try:
        settle(d)
    finally:
        lock.release()


def _due(path: Path) -> bool:
    """Whether the run journal at ``path`` says the files are due (read only)."""
    if not path.is_file():
        return False
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return outputs_due(db)
    except sqlite3.Error:  # no such table: made before the mark existed
        return False
    finally:
        db.close()
