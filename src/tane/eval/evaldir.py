"""The eval directory: its files (see ``docs/eval.md``) and its call journal.

``EVALDIR/run.sqlite`` journals every LLM call of every step (request hash -> response),
so a step killed at any point and run again replays what was done and makes only the
calls that are missing. The JSONL files are derived: at the end of a step they are
rewritten whole and atomically from the journal, rows sorted by a fixed key, so a resumed
step writes the same bytes as an uninterrupted one. A step owns the rows of what it was
asked to do (a model's answers, one judge's grades, one judge's comparisons of one pair)
and keeps every other row of the file as it was.

One step at a time holds the directory (``EVALDIR/.lock``); a second gets one line,
exit 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..schema import dumps
from ..store.files import read_jsonl
from ..store.rundir import RunDir
from .bench import Bench, Item

EVAL_JSON = "eval.json"
ITEMS = "items.jsonl"
ANSWERS = "answers.jsonl"
GRADES = "grades.jsonl"
COMPARISONS = "comparisons.jsonl"

# the order rows are written in (the contract: item, then model/judge, ...)
SORT_KEYS: dict[str, Callable[[dict[str, Any]], tuple]] = {
    ANSWERS: lambda r: (_id_key(r["item_id"]), r["model"]),
    GRADES: lambda r: (_id_key(r["item_id"]), r["model"], r["judge"], r["scale"], r["turn"]),
    COMPARISONS: lambda r: (_id_key(r["item_id"]), r["a"], r["b"], r["judge"]),
}


def _id_key(item_id: str) -> tuple:
    """Numeric ids in numeric order ("2" before "10"), then the rest by text."""
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)


class EvalDir:
    """An eval directory opened by one step (holds its lock until :meth:`close`)."""

    def __init__(self, path: str | Path, *, create: bool = False):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise TaneError("names a file, not an eval directory", path=str(self.path))
        if create and not (self.path / EVAL_JSON).is_file() and \
                (self.path / "manifest.json").is_file():
            raise TaneError("is a tane run directory, not an eval directory: give "
                            "`tane eval answer` another -o", path=str(self.path))
        if not create and not (self.path / EVAL_JSON).is_file():
            raise TaneError("not an eval directory (no eval.json): start with "
                            "`tane eval answer BENCH --model NAME=URL -o EVALDIR`",
                            path=str(self.path))
        self.rd = RunDir(self.path, lock=True)
        try:
            self.meta: dict[str, Any] = self._read_meta()
        except BaseException:
            self.rd.close()
            raise

    # -- eval.json ------------------------------------------------------------------------
    def _read_meta(self) -> dict[str, Any]:
        p = self.path / EVAL_JSON
        if not p.is_file():
            return {}
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as e:
            raise TaneError(f"invalid JSON: {e}", path=str(p)) from None
        if not isinstance(meta, dict):
            raise TaneError("expected a JSON object", path=str(p))
        return meta

    def save_meta(self) -> None:
        self.rd.write_json(EVAL_JSON, self.meta)

    def start(self, bench: Bench) -> list[Item]:
        """A new directory takes the benchmark's items; an existing one must hold the
        same items (another benchmark or selection needs another directory)."""
        items = [it.to_dict() for it in bench.items]
        if (self.path / ITEMS).is_file():
            old = self.rows(ITEMS)
            if old != items:
                raise TaneError(f"this eval directory holds {len(old)} items of "
                                f"{self.meta.get('bench', 'another benchmark')}, not these "
                                f"{len(items)} of {bench.path}; use another -o",
                                path=str(self.path))
        else:
            self.rd.write_jsonl(ITEMS, (dumps(i) for i in items))
        self.meta.setdefault("bench", bench.path)
        self.meta["format"] = bench.format
        self.meta["lang"] = bench.lang
        self.meta["items"] = len(items)
        self.meta.setdefault("models", {})
        self.meta.setdefault("judges", {})
        self.meta.setdefault("steps", {})
        self.save_meta()
        return bench.items

    def items(self) -> list[Item]:
        return [Item.from_dict(d) for d in self.rows(ITEMS)]

    # -- row files --------------------------------------------------------------------------
    def rows(self, name: str) -> list[dict[str, Any]]:
        return read_jsonl(self.path / name, missing_ok=True)

    def replace_rows(self, name: str, mine: Callable[[dict[str, Any]], bool],
                     new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rewrite ``name``: the rows ``mine`` selects are replaced by ``new``, every other
        row is kept; sorted by the file's key; atomic."""
        rows = [r for r in self.rows(name) if not mine(r)] + list(new)
        rows.sort(key=SORT_KEYS[name])
        self.rd.write_jsonl(name, (dumps(r) for r in rows))
        return rows

    def step(self, name: str, info: dict[str, Any]) -> None:
        self.meta.setdefault("steps", {})[name] = info
        self.save_meta()

    def close(self) -> None:
        self.rd.close()

    def __enter__(self) -> EvalDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
