"""What the grid stage reads and decides without an LLM: few-shot files, code snippets,
which cells a round asks for, and the requirement lines of a cell.

File errors name the file, its line and the recipe field (``few_shots.N.file``,
``snippets.path``; the runner adds the ``stages.N.`` prefix).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config.grid import Cell, Example, GridStage, Snippets
from ..errors import TaneError, json_problem
from ..schema import stable_hash
from ..yaml_errors import syntax_error

# fenced blocks (``` or ~~~) and inline `code`
_FENCE = re.compile(r"(```|~~~)[^\n]*\n.*?(\1|\Z)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]+`")
EXT_LANG = {".py": "python", ".js": "javascript", ".ts": "typescript", ".r": "r",
            ".sql": "sql", ".sh": "bash", ".java": "java", ".go": "go", ".rs": "rust",
            ".c": "c", ".cpp": "cpp", ".rb": "ruby", ".jl": "julia"}


def has_code(text: str) -> bool:
    """A fenced code block in the text (what a question prompt must not show)."""
    return "```" in text or "~~~" in text


def prose(text: str) -> str:
    """The text without its code: fenced blocks and inline code removed."""
    return _INLINE.sub(" ", _FENCE.sub(" ", text))


# -- few-shot examples ---------------------------------------------------------------

@dataclass(frozen=True)
class Shot:
    id: str
    question: str
    answer: str
    pattern: tuple[str | None, ...]
    specificity: int


def _example_rows(path: Path, field_name: str) -> list[tuple[int | None, Any]]:
    """(line, item) per example of a YAML/JSON/JSONL file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise TaneError(f"few-shot file is not UTF-8 ({e.reason})", path=str(path),
                        field=field_name) from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise TaneError(f"invalid JSON: {json_problem(e)}", path=str(path), line=n,
                                    field=field_name) from None
        return rows
    try:  # YAML is a superset of JSON: one reader for .yaml, .yml and .json
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise syntax_error(e, path, field=field_name) from None
    nodes: list[Any] = []
    if isinstance(data, dict) and "examples" in data:
        data = data["examples"]
        if isinstance(root, yaml.MappingNode):
            root = next((v for k, v in root.value if k.value == "examples"), None)
    if not isinstance(data, list):
        raise TaneError("a few-shot file holds a list of {question, answer} items "
                        "(or 'examples:' with such a list)", path=str(path), line=1,
                        field=field_name)
    if isinstance(root, yaml.SequenceNode):
        nodes = root.value
    return [(nodes[i].start_mark.line + 1 if i < len(nodes) else None, item)
            for i, item in enumerate(data)]


def load_file_examples(path: Path, field_name: str) -> list[tuple[Example, int | None]]:
    if not path.is_file():
        raise TaneError("few-shot file not found", path=str(path), field=field_name)
    out = []
    for i, (line, item) in enumerate(_example_rows(path, field_name)):
        if not isinstance(item, dict):
            raise TaneError(f"example {i + 1}: expected a mapping with question and answer",
                            path=str(path), line=line, field=field_name)
        item = dict(item)
        for alias, name in (("instruction", "question"), ("output", "answer")):
            if alias in item and name not in item:
                item[name] = item.pop(alias)
        for name in ("question", "answer"):
            if not isinstance(item.get(name), str) or not item[name].strip():
                raise TaneError(f"example {i + 1}: '{name}' is missing or empty",
                                path=str(path), line=line, field=field_name)
        unknown = set(item) - {"question", "answer", "id"}
        if unknown:
            raise TaneError(f"example {i + 1}: unknown key {min(unknown)!r} "
                            "(question, answer, id)", path=str(path), line=line,
                            field=field_name)
        out.append((Example(question=item["question"], answer=item["answer"],
                            id=str(item["id"]) if item.get("id") is not None else None), line))
    if not out:
        raise TaneError("few-shot file has no examples", path=str(path), field=field_name)
    return out


def _resolve(p: str, base_dir: Path | None) -> Path:
    path = Path(p)
    return path if path.is_absolute() or base_dir is None else base_dir / path


def load_shots(cfg: GridStage, base_dir: Path | None) -> list[Shot]:
    shots = []
    for i, fs in enumerate(cfg.few_shots):
        parsed = cfg.parse_pattern(fs.match)
        items: list[tuple[Example, str]] = [
            (ex, f"few_shots.{i}.examples.{j}") for j, ex in enumerate(fs.examples)]
        if fs.file:
            path = _resolve(fs.file, base_dir)
            items += [(ex, f"{fs.file}:{line or j + 1}") for j, (ex, line) in
                      enumerate(load_file_examples(path, f"few_shots.{i}.file"))]
        for ex, origin in items:
            sid = ex.id or f"{origin}#{stable_hash([ex.question, ex.answer], 6)}"
            shots.append(Shot(sid, ex.question.strip(), ex.answer.strip(), parsed,
                              GridStage.specificity(parsed)))
    return shots


def shots_for(cell: Cell, shots: list[Shot]) -> list[Shot]:
    """The examples whose pattern selects the cell, most specific first (stable)."""
    mine = [s for s in shots if GridStage.matches(s.pattern, cell)]
    return sorted(mine, key=lambda s: -s.specificity)


def pick_shots(cell_shots: list[Shot], k: int, rng: random.Random) -> list[Shot]:
    """k examples: the most specific first; a random choice among equally specific ones."""
    out: list[Shot] = []
    for spec in sorted({s.specificity for s in cell_shots}, reverse=True):
        tier = [s for s in cell_shots if s.specificity == spec]
        out += rng.sample(tier, min(k - len(out), len(tier)))
        if len(out) >= k:
            break
    return out


# -- snippets (OSS-Instruct style) ----------------------------------------------------

@dataclass(frozen=True)
class Snippet:
    id: str
    path: str
    code: str
    lang: str
    sha256: str
    truncated: bool


def _cut(code: str, max_chars: int) -> tuple[str, bool]:
    code = code.strip("\n")
    if len(code) <= max_chars:
        return code, False
    lines, out, n = code.splitlines(), [], 0
    for line in lines:
        if n + len(line) + 1 > max_chars and out:
            break
        out.append(line[:max_chars])
        n += len(line) + 1
    return "\n".join(out), True


def load_snippets(cfg: Snippets, base_dir: Path | None) -> list[Snippet]:
    where = "snippets.path"
    root = _resolve(cfg.path, base_dir)
    raw: list[tuple[str, str, str]] = []  # id, path, code
    if root.is_dir():
        for f in sorted(p for p in root.glob(cfg.glob) if p.is_file()):
            rel = f.relative_to(root).as_posix()
            if any(part.startswith(".") for part in Path(rel).parts):
                continue
            try:
                raw.append((rel, rel, f.read_text(encoding="utf-8-sig")))
            except UnicodeDecodeError as e:
                raise TaneError(f"snippet is not UTF-8 text ({e.reason})", path=str(f),
                                field=where) from None
    elif root.is_file() and root.suffix.lower() == ".jsonl":
        for n, line in enumerate(root.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise TaneError(f"invalid JSON: {json_problem(e)}", path=str(root), line=n,
                                field=where) from None
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, str) or not code.strip():
                raise TaneError("each line needs a non-empty 'code' string", path=str(root),
                                line=n, field=where)
            sid = str(item.get("id") or f"{root.name}:{n}")
            raw.append((sid, str(item.get("path") or f"{root.name}:{n}"), code))
    elif root.exists():
        raise TaneError("snippets: give a folder or a .jsonl file", path=str(root),
                        field=where)
    else:
        raise TaneError("snippet folder or file not found", path=str(root), field=where)
    out, seen = [], set()
    for sid, path, code in raw:
        if not code.strip():
            continue  # an empty file has nothing to inspire a question
        if sid in seen:
            raise TaneError(f"duplicate snippet id {sid!r}", path=str(root), field=where)
        seen.add(sid)
        text, cut = _cut(code, cfg.max_chars)
        out.append(Snippet(sid, path, text, EXT_LANG.get(Path(path).suffix.lower(), ""),
                           stable_hash(code, 16), cut))
    if not out:
        raise TaneError(f"no snippets found (glob {cfg.glob!r})", path=str(root), field=where)
    return out


# -- requirements and fair filling -----------------------------------------------------

def requirements(cfg: GridStage, parsed: tuple[str | None, ...]) -> list[dict[str, Any]]:
    """One entry per fixed axis value: axis, value, description (or the value's name),
    details. ``parsed`` is a cell's values or a pattern with None for any value."""
    out = []
    for axis, value in zip(cfg.axis_names, parsed):
        if value is None:
            continue
        v = cfg.axes[axis][value]
        out.append({"axis": axis, "value": value, "description": v.description or value,
                    "details": list(v.details)})
    return out


@dataclass
class Fill:
    """Per-cell bookkeeping: requested, kept, question prompts sent."""

    quota: list[int]
    max_attempts: int
    kept: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kept = self.kept or [0] * len(self.quota)
        self.attempts = self.attempts or [0] * len(self.quota)

    def deficit(self, i: int) -> int:
        return max(0, self.quota[i] - self.kept[i])

    def open(self, i: int) -> bool:
        """Still short and not given up (attempts per requested record exhausted)."""
        return self.deficit(i) > 0 and self.attempts[i] < self.quota[i] * self.max_attempts

    def ratio(self, i: int, extra: int = 0) -> float:
        return (self.kept[i] + extra) / self.quota[i] if self.quota[i] else 1.0

    def allocate(self, slots: int, rng: random.Random) -> list[int]:
        """Up to ``slots`` cell indices for this round's questions: each time the open
        cell with the lowest fill ratio (kept + already picked) / requested; ties in a
        seeded random order. No cell gets more than its deficit or its remaining attempts."""
        n = len(self.quota)
        order = list(range(n))
        rng.shuffle(order)
        rank = {c: k for k, c in enumerate(order)}
        picked = [0] * n
        out: list[int] = []
        for _ in range(slots):
            cands = [i for i in range(n) if self.open(i) and picked[i] < self.deficit(i)
                     and self.attempts[i] + picked[i] < self.quota[i] * self.max_attempts]
            if not cands:
                break
            best = min(cands, key=lambda i: (self.ratio(i, picked[i]), rank[i]))
            picked[best] += 1
            out.append(best)
        return out

    def choose(self, cells: list[int], need: int) -> set[int]:
        """Positions of ``cells`` (candidates of one round) to carry on when only ``need``
        may: each time the candidate whose cell is least filled, counting those already
        chosen; the rest become ``over_target``."""
        if len(cells) <= need:
            return set(range(len(cells)))
        chosen: set[int] = set()
        extra = [0] * len(self.quota)
        for _ in range(max(0, need)):
            k = min((k for k in range(len(cells)) if k not in chosen),
                    key=lambda k: (self.ratio(cells[k], extra[cells[k]]), k))
            chosen.add(k)
            extra[cells[k]] += 1
        return chosen
