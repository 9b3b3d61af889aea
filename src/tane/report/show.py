"""``tane show``: a few kept and dropped records side by side, with the drop reasons.

Reads a run directory (``dataset.jsonl`` and ``rejected.jsonl``) or a JSONL file that
``tane curate`` / ``tane dedup`` wrote (kept rows, and ``NAME.rejected.jsonl`` beside it
with ``_drop: {reason, detail}``). Rich lays the cells out by display width, so Japanese
(two cells a character) wraps inside the terminal.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tane.errors import TaneError
from tane.store.files import read_jsonl


CUT = "over_target"


@dataclass
class Item:
    """One record as shown: its fields, and for a drop the stage, reason and detail."""

    instruction: str
    input: str = ""
    output: str | None = None
    id: Any = None
    stage: str = ""
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _kept(row: dict[str, Any]) -> Item:
    return Item(str(row.get("instruction") or ""), str(row.get("input") or ""),
                row.get("output"), row.get("id"))


def _dropped_run(row: dict[str, Any]) -> Item:
    """A ``rejected.jsonl`` line of a run: stage, reason, detail, text (the instruction),
    and the judged input/output when the curate stage kept them (``detail.record``)."""
    detail = dict(row.get("detail") or {})
    rec = detail.pop("record", None) or {}
    return Item(str(row.get("text") or ""), str(rec.get("input") or ""), rec.get("output"),
                row.get("record_id"), str(row.get("stage") or ""), str(row.get("reason") or ""),
                detail)


def _dropped_file(row: dict[str, Any]) -> Item:
    """A ``NAME.rejected.jsonl`` row of tane curate / dedup: the row with ``_drop``."""
    d = row.get("_drop") or {}
    it = _kept(row)
    it.stage, it.reason, it.detail = "curate", str(d.get("reason") or ""), d.get("detail") or {}
    return it


def run_items(kept: list[dict[str, Any]], dropped: list[dict[str, Any]]
              ) -> tuple[list[Item], list[Item]]:
    """(kept, dropped) Items of a run's ``dataset.jsonl`` and ``rejected.jsonl`` rows."""
    return [_kept(r) for r in kept], [_dropped_run(r) for r in dropped]


def load(path: Path) -> tuple[list[Item], list[Item]]:
    """(kept, dropped) of a run directory or a curated JSONL file."""
    if path.is_dir():
        data, rej = path / "dataset.jsonl", path / "rejected.jsonl"
        if not data.exists() and not rej.exists():
            raise TaneError("no dataset.jsonl or rejected.jsonl here (not a run directory, "
                            "or the run has not finished)", path=str(path))
        kept = [_kept(r) for r in read_jsonl(data)] if data.exists() else []
        dropped = [_dropped_run(r) for r in read_jsonl(rej)] if rej.exists() else []
        return kept, dropped
    if not path.is_file():
        raise TaneError("not found", path=str(path))
    rej = path.with_name(path.name.removesuffix(".jsonl") + ".rejected.jsonl")
    kept = [_kept(r) for r in read_jsonl(path)]
    dropped = [_dropped_file(r) for r in read_jsonl(rej)] if rej.exists() else []
    return kept, dropped


def select(kept: list[Item], dropped: list[Item], *, stage: str | None = None,
           reason: str | None = None, sample: int = 3, seed: int = 0,
           show_kept: bool = True, show_dropped: bool = True
           ) -> tuple[list[Item], list[Item]]:
    """Filter the drops by stage and reason (``repetition`` matches
    ``repetition:ngram``), then draw ``sample`` of each side with ``seed`` (in file
    order). Records cut at the target (``over_target``) only with ``reason="over_target"``."""
    if reason != CUT:  # records cut at the target are not judged: shown only when asked
        dropped = [d for d in dropped if d.reason != CUT]
    if stage:
        dropped = [d for d in dropped if d.stage == stage]
    if reason:
        dropped = [d for d in dropped
                   if d.reason == reason or d.reason.startswith(reason + ":")]

    def draw(items: list[Item], salt: str) -> list[Item]:
        if len(items) <= sample:
            return list(items)
        idx = sorted(random.Random(f"{seed}:{salt}").sample(range(len(items)), sample))
        return [items[i] for i in idx]

    return (draw(kept, "kept") if show_kept else [],
            draw(dropped, "dropped") if show_dropped else [])


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _detail(detail: dict[str, Any], limit: int) -> str:
    parts = []
    for k, v in detail.items():
        if k in ("raw", "similar"):
            continue
        s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        parts.append(f"{k}={_clip(s, 60)}")
    return _clip(", ".join(parts), limit)


def cell(item: Item, limit: int = 240) -> Text:
    t = Text()
    if item.reason:
        t.append(f"{item.stage} · {item.reason}\n", style="bold red")
        d = _detail(item.detail, limit)
        if d:
            t.append(d + "\n", style="red")
    elif item.id is not None:
        t.append(f"{item.id}\n", style="dim")
    t.append("instruction: ", style="bold")
    t.append(_clip(item.instruction, limit) + "\n")
    if item.input:
        t.append("input: ", style="bold")
        t.append(_clip(item.input, limit) + "\n")
    if item.output is not None:
        t.append("output: ", style="bold")
        t.append(_clip(item.output, limit) + "\n")
    raw = item.detail.get("raw") if item.reason else None
    if isinstance(raw, str) and raw.strip():
        # the model's own text: a cut-off answer, a verdict that did not parse
        t.append("raw: ", style="bold")
        t.append(_clip(raw, limit))
    t.rstrip()
    return t


def counts_line(kept: list[Item], dropped: list[Item]) -> str:
    c = Counter(d.reason for d in dropped)
    top = ", ".join(f"{r} {n}" for r, n in c.most_common(8))
    more = f", … {len(c) - 8} more" if len(c) > 8 else ""
    return f"{len(kept)} kept, {len(dropped)} dropped" + (f" ({top}{more})" if top else "")


def render(all_kept: list[Item], all_dropped: list[Item], kept: list[Item],
           dropped: list[Item], limit: int = 240) -> Group:
    """A summary line, then a table: kept on the left, dropped on the right."""
    t = Table(show_lines=True, expand=True)
    if kept:
        t.add_column(f"kept ({len(kept)} of {len(all_kept)})", ratio=1, overflow="fold")
    if dropped:
        t.add_column(f"dropped ({len(dropped)} shown)", ratio=1, overflow="fold")
    for i in range(max(len(kept), len(dropped))):
        row = []
        if kept:
            row.append(cell(kept[i], limit) if i < len(kept) else Text(""))
        if dropped:
            row.append(cell(dropped[i], limit) if i < len(dropped) else Text(""))
        t.add_row(*row)
    head = Text(counts_line(all_kept, all_dropped))
    if not kept and not dropped:
        return Group(head, Text("nothing matches these filters"))
    return Group(head, t)


__all__ = ["Item", "load", "run_items", "select", "render", "cell", "counts_line"]
