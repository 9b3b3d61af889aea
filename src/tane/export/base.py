"""What every export module shares: the run directory as read (`RunData`), the report
of what an export wrote (`ExportReport`) and atomic UTF-8 writes.

It sits below `formats` and `card` (``formats`` -> ``card`` -> ``base``), so that
neither needs the other's internals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TaneError, json_problem
from ..store.files import atomic_write, read_jsonl
from ..store.revision_commit import settle_unless_busy


@dataclass
class RunData:
    """A run directory as an export reads it."""
    path: Path
    records: list[dict[str, Any]]
    stats: dict[str, Any]
    manifest: dict[str, Any]


@dataclass
class ExportReport:
    """What an export wrote (files, counts, card, NOTICE) and what it warned about."""
    format: str
    files: dict[str, Path] = field(default_factory=dict)   # split -> file
    counts: dict[str, int] = field(default_factory=dict)   # split -> rows
    skipped_no_output: int = 0
    dataset_info: Path | None = None
    card: Path | None = None
    notice: Path | None = None
    warnings: list[str] = field(default_factory=list)
    pushed_to: str | None = None
    name: str = ""                                         # the dataset's name
    train: dict[str, Any] | None = None                    # --for: config, script, command


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file of the run ({} when it is missing)."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TaneError(f"not valid JSON: {json_problem(e)}", path=str(path), line=e.lineno) from None


def load_run(run_dir: str | Path) -> RunData:
    """The finished run in `run_dir`: its dataset, stats and manifest."""
    d = Path(run_dir)
    ds = d / "dataset.jsonl"
    if not ds.exists():
        raise TaneError(f"no dataset.jsonl in {d}: is it a tane run directory "
                        "(and has the run finished)?", path=str(d))
    settle_unless_busy(d)  # the files a killed review import left due
    records = read_jsonl(ds)
    return RunData(d, records, read_json(d / "stats.json"), read_json(d / "manifest.json"))


def write_text(target: Path, text: str) -> Path:
    """Write UTF-8 text with LF line ends atomically; returns `target`."""
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    atomic_write(target, w)
    return target


def write_json(target: Path, obj: Any) -> Path:
    """Write `obj` as indented JSON without \\u escapes, atomically."""
    return write_text(target, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
