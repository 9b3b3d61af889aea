"""Benchmarks the user supplies, read into one normalised item list (nothing is downloaded).

Formats (``--format`` forces one; otherwise it is told from the first record's fields):

* ``elyza`` (ELYZA-tasks-100): ``input`` (the task), ``output`` (a reference answer),
  ``eval_aspect`` (what the grader should look at); CSV, JSONL or a JSON list.
* ``mt_bench`` (MT-Bench, Japanese MT-Bench ``question.jsonl``): ``question_id``,
  ``category``, ``turns`` (one or two user turns), optional ``reference`` (one answer per
  turn). Reference answers may also come from a separate file (FastChat's
  ``reference_answer/*.jsonl``: ``question_id`` + ``choices[0].turns``, or ``question_id``
  + ``reference``).
* ``alpaca_eval`` (AlpacaEval style): ``instruction`` (+ optional ``input``), ``output``
  of a baseline model named by ``generator``, optional ``dataset`` (the category).
* ``tane_run``: a tane run directory (its ``dataset.jsonl``) or a JSONL of its records,
  e.g. a held-out split written by ``tane export``: ``instruction`` + ``input`` are the
  task, ``output`` the reference.

``bundled:elyza_ja``, ``bundled:mt_bench_ja`` and ``bundled:alpaca_eval_en`` are small
samples written for tane (package data), for trying the commands and for tests.

A bad row is one :class:`~tane.errors.TaneError` naming the file, line and field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..config.judge import JudgeStep
from ..errors import TaneError
from ..provenance import Provenance
from ..seeds.formats import Loc
from ..seeds.loader import read_csv_records, read_json_records, read_jsonl_records

FORMATS = ("elyza", "mt_bench", "alpaca_eval", "tane_run")
BUNDLED_PREFIX = "bundled:"
_KANA = re.compile(r"[\u3040-\u30ff]")
_READERS = {".jsonl": read_jsonl_records, ".json": read_json_records, ".csv": read_csv_records}


@dataclass
class Item:
    """One benchmark item, as ``items.jsonl`` holds it."""

    id: str
    turns: list[str]
    category: str | None = None
    reference: list[str] | None = None  # one per turn ("" where a turn has none)
    eval_aspect: str | None = None
    baseline: dict[str, str] | None = None  # {"model": name, "output": text}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "turns": list(self.turns),
                "reference": list(self.reference) if self.reference is not None else None,
                "eval_aspect": self.eval_aspect, "baseline": self.baseline}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(id=d["id"], turns=list(d["turns"]), category=d.get("category"),
                   reference=d.get("reference"), eval_aspect=d.get("eval_aspect"),
                   baseline=d.get("baseline"))


@dataclass
class Bench:
    path: str  # as given
    format: str
    lang: str  # "ja" | "en"
    items: list[Item]


def bundled_names() -> list[str]:
    data = resources.files("tane.eval").joinpath("data")
    return sorted(p.name.rsplit(".", 1)[0] for p in data.iterdir()
                  if p.name.rsplit(".", 1)[-1] in ("jsonl", "json", "csv"))


def bundled_path(name: str) -> Path:
    data = resources.files("tane.eval").joinpath("data")
    for ext in ("jsonl", "json", "csv"):
        ref = data.joinpath(f"{name}.{ext}")
        if ref.is_file():
            return Path(str(ref))
    raise TaneError(f"no bundled benchmark {name!r}; available: {', '.join(bundled_names())}",
                    path=f"{BUNDLED_PREFIX}{name}")


def detect_language(items: list[Item]) -> str:
    sample = " ".join(t for it in items[:50] for t in it.turns)
    return "ja" if _KANA.search(sample) else "en"


# -- field helpers ------------------------------------------------------------------------
def _get(rec: dict, name: str) -> Any:
    if name in rec:
        return rec[name]
    for k, v in rec.items():
        if isinstance(k, str) and k.strip().lower() == name:
            return v
    return None


def _text(rec: dict, name: str, loc: Loc, *, required: bool) -> str | None:
    v = _get(rec, name)
    if v is None or (loc.tabular and v == ""):
        if required:
            raise loc.error("missing required field", name)
        return None
    if not isinstance(v, str):
        raise loc.error(f"expected a string, got {type(v).__name__}", name)
    v = v.replace("\r\n", "\n").replace("\r", "\n")
    if not v.strip():
        if required:
            raise loc.error("must not be empty", name)
        return None
    return v


def _ident(rec: dict, names: tuple[str, ...], loc: Loc, default: str) -> str:
    for name in names:
        v = _get(rec, name)
        if v is None or v == "":
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise loc.error(f"expected a string or an integer, got {type(v).__name__}", name)
        return str(v).strip()
    return default


def _turn_list(value: Any, loc: Loc, name: str, *, allow_empty: bool = False) -> list[str]:
    if isinstance(value, str) and loc.tabular:  # a CSV cell holding a JSON list
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if not isinstance(value, list) or not value:
        raise loc.error("expected a list of one or two strings", name)
    if len(value) > 2:
        raise loc.error(f"expected one or two turns, got {len(value)}", name)
    out = []
    for i, t in enumerate(value, 1):
        if t is None and allow_empty:
            t = ""
        if not isinstance(t, str):
            raise loc.error(f"turn {i} is not a string", name)
        if not allow_empty and not t.strip():
            raise loc.error(f"turn {i} is empty", name)
        out.append(t)
    return out


# -- one reader per format ----------------------------------------------------------------
def _elyza(rec: dict, loc: Loc, n: int) -> Item:
    task = _text(rec, "input", loc, required=True)
    ref = _text(rec, "output", loc, required=False)
    return Item(id=_ident(rec, ("id",), loc, str(n)), turns=[task or ""],
                category=_text(rec, "category", loc, required=False),
                reference=[ref] if ref else None,
                eval_aspect=_text(rec, "eval_aspect", loc, required=False))


def _mt_bench(rec: dict, loc: Loc, n: int) -> Item:
    qid = _ident(rec, ("question_id", "id"), loc, "")
    if not qid:
        raise loc.error("missing required field", "question_id")
    turns = _get(rec, "turns")
    if turns is None:
        raise loc.error("missing required field", "turns")
    turns = _turn_list(turns, loc, "turns")
    ref = _get(rec, "reference")
    reference = None
    if ref not in (None, "", []):
        reference = _turn_list(ref, loc, "reference", allow_empty=True)
        if len(reference) > len(turns):
            raise loc.error(f"{len(reference)} reference answers for {len(turns)} turns",
                            "reference")
        reference += [""] * (len(turns) - len(reference))
    return Item(id=qid, turns=turns, category=_text(rec, "category", loc, required=False),
                reference=reference)


def _alpaca_eval(rec: dict, loc: Loc, n: int) -> Item:
    instruction = _text(rec, "instruction", loc, required=True) or ""
    extra = _text(rec, "input", loc, required=False)
    task = f"{instruction}\n\n{extra}" if extra else instruction
    out = _text(rec, "output", loc, required=False)
    generator = _text(rec, "generator", loc, required=False) or "baseline"
    return Item(id=_ident(rec, ("id",), loc, str(n)), turns=[task],
                category=_text(rec, "dataset", loc, required=False),
                baseline={"model": generator.strip(), "output": out} if out else None)


def _tane_run(rec: dict, loc: Loc, n: int) -> Item:
    instruction = _text(rec, "instruction", loc, required=True) or ""
    extra = _text(rec, "input", loc, required=False)
    ref = _text(rec, "output", loc, required=False)
    verdict = Provenance.of_row(rec).step(JudgeStep)
    category = verdict.category if verdict else None
    return Item(id=_ident(rec, ("id",), loc, str(n)),
                turns=[f"{instruction}\n\n{extra}" if extra else instruction],
                category=category, reference=[ref] if ref else None)


_MAKERS = {"elyza": _elyza, "mt_bench": _mt_bench, "alpaca_eval": _alpaca_eval,
           "tane_run": _tane_run}


def detect_format(rec: dict, loc: Loc) -> str:
    keys = {str(k).strip().lower() for k in rec}
    if "turns" in keys or "question_id" in keys:
        return "mt_bench"
    if "instruction" in keys and ("generator" in keys or "dataset" in keys):
        return "alpaca_eval"
    if "instruction" in keys:
        return "tane_run"
    if "input" in keys:
        return "elyza"
    raise loc.error("cannot tell the benchmark format from the fields "
                    f"({', '.join(sorted(keys)) or 'none'}); expected ELYZA-tasks-100 "
                    "(input, output, eval_aspect), MT-Bench (question_id, category, turns), "
                    "AlpacaEval (instruction, output, generator) or tane records "
                    "(instruction, input, output); or give --format")


def _records(real: Path, display: str) -> list[tuple[Loc, dict]]:
    reader = _READERS.get(real.suffix.lower())
    if reader is None:
        raise TaneError(f"unknown benchmark file extension {real.suffix or '(none)'!r}; "
                        "expected .jsonl, .json or .csv (or a tane run directory)",
                        path=display)
    return reader(real, display)


def load_bench(path: str | Path, format: str = "auto", references: str | Path | None = None,
               lang: str | None = None) -> Bench:
    """Every item of the benchmark at ``path`` (a file, a tane run directory or
    ``bundled:NAME``), validated; ``references``: an MT-Bench reference-answer file."""
    if format != "auto" and format not in FORMATS:
        raise TaneError(f"unknown benchmark format {format!r}; choose one of auto, "
                        f"{', '.join(FORMATS)}", field="format")
    name = str(path)
    real = bundled_path(name[len(BUNDLED_PREFIX):]) if name.startswith(BUNDLED_PREFIX) \
        else Path(path)
    display = name if name.startswith(BUNDLED_PREFIX) else str(real)
    if real.is_dir():
        if not (real / "dataset.jsonl").is_file():
            raise TaneError("a directory without dataset.jsonl: expected a benchmark file or "
                            "a tane run directory", path=display)
        real = real / "dataset.jsonl"
        display = str(real)
        if format == "auto":
            format = "tane_run"
    if not real.exists():
        raise TaneError("benchmark file not found", path=display)
    records = _records(real, display)
    if not records:
        raise TaneError("no items found (the file is empty)", path=display)
    fmt = format if format != "auto" else detect_format(records[0][1], records[0][0])
    make = _MAKERS[fmt]
    items: list[Item] = []
    seen: dict[str, Loc] = {}
    for n, (loc, rec) in enumerate(records, 1):
        item = make(rec, loc, n)
        if item.id in seen:
            raise loc.error(f"duplicate id {item.id!r} (first at {seen[item.id].label} "
                            f"{seen[item.id].line})", "question_id" if fmt == "mt_bench"
                            else "id")
        seen[item.id] = loc
        items.append(item)
    if references is not None:
        if fmt != "mt_bench":
            raise TaneError("--references is for MT-Bench question files (reference answers "
                            f"by question_id); this benchmark is {fmt}", field="references")
        add_references(items, references)
    if lang is not None and lang not in ("ja", "en"):
        raise TaneError(f"--lang must be ja or en, got {lang!r}", field="lang")
    return Bench(path=name, format=fmt, lang=lang or detect_language(items), items=items)


def add_references(items: list[Item], path: str | Path) -> int:
    """Reference answers by question_id (FastChat's ``choices[0].turns``, or
    ``reference``); questions not in ``items`` are ignored. Returns how many were set."""
    real = Path(path)
    if not real.is_file():
        raise TaneError("reference answer file not found", path=str(real))
    by_id = {it.id: it for it in items}
    n = 0
    for loc, rec in _records(real, str(real)):
        qid = _ident(rec, ("question_id", "id"), loc, "")
        if not qid:
            raise loc.error("missing required field", "question_id")
        ref = _get(rec, "reference")
        if ref is None:
            choices = _get(rec, "choices")
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                raise loc.error("expected choices: [{turns: [...]}] or reference: [...]",
                                "choices")
            ref = choices[0].get("turns")
        turns = _turn_list(ref, loc, "choices[0].turns" if _get(rec, "reference") is None
                           else "reference", allow_empty=True)
        item = by_id.get(qid)
        if item is None:
            continue
        item.reference = (turns + [""] * len(item.turns))[:len(item.turns)]
        n += 1
    return n
