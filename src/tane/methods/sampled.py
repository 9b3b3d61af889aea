"""Sampled context (config/context.py): read the declared values and files, and draw one
value per axis for an item.

Each axis of each item has its own RNG, seeded from the recipe seed, the stage name, the
axis and the item's key (``ctx.rng("sample", axis, *key)``): a draw depends on nothing
else, so a resumed or repeated run draws the same values whatever order the work runs in,
and adding an axis leaves the others' draws as they were.

File errors name the file, its line and the recipe field (``axes.persona.file``; the
runner adds the ``stages.N.`` prefix).
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from ..config.context import SampledAxis
from ..curate.rows import read_jsonl_rows
from ..errors import TaneError
from ..shipped import RECIPES
from .base import StageContext

BUNDLED = {"bundled:personas": RECIPES / "personas" / "personas.jsonl"}


@dataclass(frozen=True)
class Drawn:
    """One axis's value for one item. ``value`` is its label (``hard``,
    ``math/algebra``, a row's id); ``text`` what prompts show."""

    axis: str
    value: str
    text: str
    details: tuple[str, ...] = ()
    category: str | None = None
    subcategory: str | None = None
    row: dict[str, Any] = field(default_factory=dict)

    def for_template(self) -> dict[str, Any]:
        """What a template sees as ``context.<axis>``: the row's columns, then value, text,
        details, category and subcategory."""
        return {**self.row, "value": self.value, "text": self.text,
                "details": list(self.details), "category": self.category,
                "subcategory": self.subcategory}

    def requirement(self, label: str | None) -> dict[str, Any]:
        """A grid requirement line for this value (axis, value, description, details)."""
        text = f"{label}: {self.text}" if label else self.text
        return {"axis": self.axis, "value": self.value, "description": text,
                "details": list(self.details)}


@dataclass
class _Table:
    """An axis's choices and their cumulative weights."""

    labels: list[str]
    cum: list[float]
    made: list[Drawn | None]
    subs: list[_Table | None]
    equal: bool

    def pick(self, rng: Any) -> int:
        if self.equal:
            return rng.randrange(len(self.cum))
        return min(bisect(self.cum, rng.random() * self.cum[-1]), len(self.cum) - 1)


def resolve(p: str, base_dir: Path | None) -> Path:
    if p in BUNDLED:
        return BUNDLED[p]
    path = Path(p)
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _weight(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return float(v) if ok else None


def load_rows(spec: SampledAxis, base_dir: Path | None,
              where: str) -> tuple[Path, list[tuple[int, dict[str, Any]]]]:
    """(path, [(line, row)]) of a sampled axis's file, after ``where``; every problem is
    a TaneError naming the file, its line and ``where`` (the recipe field)."""
    assert spec.file is not None
    path = resolve(spec.file, base_dir)
    if not path.is_file():
        raise TaneError("file of a sampled axis not found" if not path.exists()
                        else "a sampled axis reads a file, not a folder", path=str(path),
                        field=where)
    if path.suffix.lower() != ".jsonl":
        raise TaneError("a sampled axis reads JSON Lines (.jsonl): one object a line",
                        path=str(path), field=where)
    try:
        parsed = read_jsonl_rows(path)
    except TaneError as e:  # the file and line it names, and the recipe field
        raise TaneError(e.message, path=e.path, line=e.line, field=where) from None
    rows: list[tuple[int, dict[str, Any]]] = []
    for n, _, row in parsed:
        if any(row.get(k) != v for k, v in spec.where.items()):
            continue
        t = row.get(spec.text)
        if not isinstance(t, str) or not t.strip():
            raise TaneError(f"column {spec.text!r} (the text shown in prompts) is missing or "
                            "empty", path=str(path), line=n, field=where)
        if spec.id and (not isinstance(row.get(spec.id), (str, int))
                        or isinstance(row.get(spec.id), bool)):
            raise TaneError(f"column {spec.id!r} (the row's id) is missing",
                            path=str(path), line=n, field=where)
        if spec.weight and _weight(row.get(spec.weight)) is None:
            raise TaneError(f"column {spec.weight!r}: the weight must be a positive number, "
                            f"not {row.get(spec.weight)!r}", path=str(path), line=n,
                            field=where)
        rows.append((n, row))
    if not rows:
        only = f" with {spec.where}" if spec.where else ""
        raise TaneError(f"no rows{only} in the file of a sampled axis", path=str(path),
                        field=where)
    return path, rows


def _table(weights: dict[str, float]) -> _Table:
    return _Table(list(weights), list(accumulate(weights.values())), [None] * len(weights),
                  [None] * len(weights), len(set(weights.values())) == 1)


class Sampler:
    """The sampled axes of one stage, read once; ``draw(key)`` is one item's values."""

    def __init__(self, axes: dict[str, SampledAxis], ctx: StageContext, prefix: str):
        self.axes, self.ctx = axes, ctx
        self.tables: dict[str, _Table] = {}
        self.files: dict[str, dict[str, Any]] = {}
        for name, spec in axes.items():
            if spec.file is not None:
                path, rows = load_rows(spec, ctx.base_dir, f"{prefix}.{name}.file")
                ids = [str(r[spec.id]) if spec.id else f"{path.name}:{n}" for n, r in rows]
                if len(set(ids)) != len(ids):
                    dup = next(i for i in ids if ids.count(i) > 1)
                    raise TaneError(f"row id {dup!r} given twice (column {spec.id!r})",
                                    path=str(path), field=f"{prefix}.{name}.file")
                t = _table({i: (_weight(r.get(spec.weight)) or 1.0) if spec.weight else 1.0
                            for i, (_, r) in zip(ids, rows)})
                t.made = [Drawn(name, i, str(r[spec.text]).strip(), row=r)
                          for i, (_, r) in zip(ids, rows)]
                self.files[name] = {"path": spec.file, "rows": len(rows),
                                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
            else:
                values = spec.values or {}
                t = _table({k: c.weight for k, c in values.items()})
                for i, (k, c) in enumerate(values.items()):
                    text = c.description or k
                    if c.values:
                        sub = _table(dict(c.values))
                        sub.made = [Drawn(name, f"{k}/{s}", f"{text} / {s}", tuple(c.details),
                                          k, s) for s in c.values]
                        t.subs[i] = sub
                    else:
                        t.made[i] = Drawn(name, k, text, tuple(c.details), k)
            self.tables[name] = t

    def __bool__(self) -> bool:
        return bool(self.axes)

    def draw(self, *key: Any) -> dict[str, Drawn]:
        """One value per axis for the item ``key`` (its own RNG per axis)."""
        out = {}
        for name, t in self.tables.items():
            rng = self.ctx.rng("sample", name, *key)
            i = t.pick(rng)
            sub = t.subs[i]
            made = sub.made[sub.pick(rng)] if sub else t.made[i]
            assert made is not None
            out[name] = made
        return out

    @staticmethod
    def labels(drawn: dict[str, Drawn]) -> dict[str, str]:
        """What provenance keeps: axis -> the drawn value's label."""
        return {a: d.value for a, d in drawn.items()}

    @staticmethod
    def rows(drawn: dict[str, Drawn]) -> dict[str, dict[str, Any]]:
        """The drawn rows of file axes (provenance keeps them whole)."""
        return {a: d.row for a, d in drawn.items() if d.row}

    @staticmethod
    def for_template(drawn: dict[str, Drawn]) -> dict[str, dict[str, Any]]:
        return {a: d.for_template() for a, d in drawn.items()}

    def provenance(self, drawn: dict[str, Drawn], key: Any) -> dict[str, Any]:
        """``sampled`` (labels), ``sample_key`` (the item's key: ``draw(*key)`` draws the
        same again), ``sampled_rows`` (file rows) and ``sampled_files``."""
        if not self.axes:
            return {}
        out: dict[str, Any] = {"sampled": self.labels(drawn),
                               "sample_key": list(key) if isinstance(key, tuple) else key}
        if self.files:
            out["sampled_rows"] = self.rows(drawn)
            out["sampled_files"] = self.files
        return out


__all__ = ["BUNDLED", "Drawn", "Sampler", "load_rows", "resolve"]
