"""What a reviewer answers for each record: the decision (keep, drop, edit) always, then
the questions of ``--questions Q.yaml`` or the defaults below. Each answer has a key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import TaneError
from ...yaml_errors import syntax_error


@dataclass
class Question:
    name: str
    label: str
    type: str                        # choice | rating
    options: list[str]
    keys: list[str] = field(default_factory=list)

    @property
    def ordered(self) -> bool:
        return self.type == "rating"


DECISION = Question("decision", "Decision", "choice", ["keep", "drop", "edit"],
                    ["k", "d", "e"])
DEFAULTS = [Question("quality", "Quality (1-5)", "rating", ["1", "2", "3", "4", "5"],
                     ["1", "2", "3", "4", "5"]),
            Question("natural", "Natural Japanese?", "choice", ["yes", "no"], ["y", "n"])]
RESERVED_KEYS = set("kdejpsuw")  # decision, move, skip, undo, draft


def load(path: str | Path | None) -> list[Question]:
    """The decision and the other questions (from ``path``, or the defaults)."""
    if path is None:
        return [DECISION, *DEFAULTS]
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TaneError(f"cannot read questions: {e}", path=str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise syntax_error(e, p) from None
    if not isinstance(data, list):
        raise TaneError("a questions file is a list of questions", path=str(p))
    out, names, used = [DECISION], {"decision"}, set(RESERVED_KEYS)
    for i, q in enumerate(data):
        where = f"[{i}]"
        if not isinstance(q, dict) or not isinstance(q.get("name"), str):
            raise TaneError("each question needs a name", path=str(p), field=where)
        out.append(_question(p, where, q, names, used))
    return out


def _question(p: Path, where: str, q: dict[str, Any], names: set[str],
              used: set[str]) -> Question:
    name = q["name"]
    if not name.isidentifier() or name in names:
        raise TaneError(f"question name {name!r} is not a unique identifier", path=str(p),
                        field=f"{where}.name")
    names.add(name)
    kind = q.get("type", "choice")
    if kind == "rating":
        lo, hi = int(q.get("min", 1)), int(q.get("max", 5))
        if not 0 <= lo < hi <= 9:
            raise TaneError("a rating runs between 0 and 9", path=str(p), field=where)
        options = [str(v) for v in range(lo, hi + 1)]
        keys = options
    elif kind == "choice":
        options = [str(o) for o in q.get("options") or []]
        keys = [str(k) for k in q.get("keys") or []]
        if len(options) < 2 or len(keys) not in (0, len(options)):
            raise TaneError("a choice has two or more options and one key each (or none)",
                            path=str(p), field=f"{where}.options")
        if set(keys) & used or any(len(k) != 1 for k in keys):
            raise TaneError(f"keys {keys} must be single characters not used elsewhere "
                            f"(taken: {''.join(sorted(used))})", path=str(p),
                            field=f"{where}.keys")
    else:
        raise TaneError(f"question type {kind!r}: use choice or rating", path=str(p),
                        field=f"{where}.type")
    used.update(keys)
    return Question(name, str(q.get("label") or name), kind, options, keys)
