"""``tane.load``: a run directory's records as Python objects, or a ``datasets.Dataset``.

A run directory holds ``dataset.jsonl`` (kept records, human review applied),
``rejected.jsonl`` (every drop: stage, reason, detail, text), ``stats.json`` and
``manifest.json``. ``load`` also reads a JSONL file written by ``tane curate`` / ``tane
dedup`` (its drops are ``<stem>.rejected.jsonl`` beside it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from ..errors import TaneError, json_problem
from ..store.files import read_jsonl


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TaneError(f"not valid JSON: {json_problem(e)}", path=str(path), line=e.lineno) from None


@dataclass
class Records:
    """The kept records (``kept``; also what iterating, ``len`` and ``[i]`` give) and
    the dropped ones (``dropped``) of a run directory or a curated file, with the run's
    ``stats`` and ``manifest`` (None for a file)."""

    path: Path
    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.kept)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.kept)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i):
        return self.kept[i]

    def __repr__(self) -> str:
        return (f"Records(path={str(self.path)!r}, kept={len(self.kept)}, "
                f"dropped={len(self.dropped)})")

    @property
    def drop_reasons(self) -> dict[str, int]:
        """Dropped records per reason (``stage:reason`` for a run, the ``_drop`` reason
        for a curated file), most frequent first."""
        c: Counter[str] = Counter()
        for d in self.dropped:
            if isinstance(d.get("_drop"), dict):
                c[str(d["_drop"].get("reason"))] += 1
            else:
                c[f"{d.get('stage')}:{d.get('reason')}"] += 1
        return dict(c.most_common())

    def to_dataset(self, which: Literal["kept", "dropped"] = "kept",
                   nested: Literal["auto", "json"] = "auto"):
        """The records as a ``datasets.Dataset`` (needs ``pip install datasets``).

        One column per key found in any record (missing values are None). Nested values
        (``provenance``, a drop's ``detail``) stay structs where Arrow can type them
        (``nested="auto"``; an empty object becomes None there); a column whose values
        do not share one type, such as drop details of different reasons, becomes JSON
        text. ``nested="json"`` makes every nested column JSON text."""
        try:
            import datasets
            import pyarrow as pa
        except ImportError:
            raise TaneError("to_dataset() needs the datasets package: "
                            "pip install datasets") from None
        if which not in ("kept", "dropped"):
            raise TaneError(f"which must be kept or dropped, not {which!r}", field="which")
        if nested not in ("auto", "json"):
            raise TaneError(f"nested must be auto or json, not {nested!r}", field="nested")
        rows = self.kept if which == "kept" else self.dropped
        columns: dict[str, None] = {}
        for r in rows:
            columns.update(dict.fromkeys(r))
        data: dict[str, list[Any]] = {}
        for col in columns:
            values = [r.get(col) for r in rows]
            if any(isinstance(v, (dict, list)) for v in values):
                typed = [_no_empty_objects(v) for v in values]
                if nested == "auto" and _arrow_typed(pa, typed):
                    values = typed
                else:
                    values = [None if v is None else json.dumps(v, ensure_ascii=False)
                              for v in values]
            data[col] = values
        return datasets.Dataset.from_dict(data)


def _no_empty_objects(v: Any) -> Any:
    """``{}`` -> None at any depth (Arrow has no struct without fields)."""
    if isinstance(v, dict):
        return {k: _no_empty_objects(x) for k, x in v.items()} if v else None
    if isinstance(v, list):
        return [_no_empty_objects(x) for x in v]
    return v


def _arrow_typed(pa: Any, values: list[Any]) -> bool:
    """Whether Arrow gives the values one type that a Dataset can hold (no struct
    without fields: an empty dict somewhere in every row)."""
    try:
        typ = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError,
            OverflowError):
        return False
    return not _has_empty_struct(pa, typ)


def _has_empty_struct(pa: Any, typ: Any) -> bool:
    if pa.types.is_struct(typ):
        return typ.num_fields == 0 or any(_has_empty_struct(pa, typ.field(i).type)
                                          for i in range(typ.num_fields))
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _has_empty_struct(pa, typ.value_type)
    return False


def load(path: str | Path) -> Records:
    """The records of a run directory (or of a JSONL file and its
    ``<stem>.rejected.jsonl``); a missing or broken file raises TaneError naming it."""
    p = Path(path)
    if p.is_dir():
        ds = p / "dataset.jsonl"
        if not ds.exists():
            status = (_read_json(p / "manifest.json") or {}).get("status")
            hint = f" (its manifest says {status!r})" if status else \
                ": is it a tane run directory?"
            raise TaneError(f"no dataset.jsonl in {p}{hint}", path=str(p))
        return Records(p, read_jsonl(ds), read_jsonl(p / "rejected.jsonl", missing_ok=True),
                       _read_json(p / "stats.json"), _read_json(p / "manifest.json"))
    if p.is_file():
        rej = p.with_name(p.stem + ".rejected.jsonl")
        return Records(p, read_jsonl(p), read_jsonl(rej, missing_ok=True))
    raise TaneError("not found: neither a run directory nor a file", path=str(p))


__all__ = ["Records", "load"]
