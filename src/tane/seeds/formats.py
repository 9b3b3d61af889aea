"""The Seed record and the mapping of raw records (dicts) in each known format to Seeds.

Formats:

* ``self_instruct``: ``instruction``, ``instances`` [{input, output}], ``is_classification``
  (``id`` and ``name`` accepted). Flat ``input``/``output`` keys (CSV/XLSX rows) stand in
  for a single instance.
* ``elyza`` (ELYZA-tasks-100): ``input`` is the task text, ``output`` the reference answer,
  ``eval_aspect`` goes to ``extra``.
* ``ichikara``: ``text`` is the task text, ``output`` the answer; other keys go to ``extra``.
* ``alpaca``: ``instruction``, ``input``, ``output``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tane.config.limits import MAX_FIELD_CHARS
from tane.errors import TaneError

FORMATS = ("auto", "self_instruct", "elyza", "ichikara", "alpaca")


@dataclass
class Seed:
    """One human-written seed task with at least one worked instance."""

    id: str
    instruction: str
    instances: list[dict]  # [{"input": str, "output": str}, ...]; input may be ""
    is_classification: bool | None = None
    source: str = ""  # file path or "bundled:ja"
    extra: dict = field(default_factory=dict)  # e.g. eval_aspect for ELYZA

    @property
    def input(self) -> str:
        return self.instances[0]["input"]

    @property
    def output(self) -> str:
        return self.instances[0]["output"]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "instruction": self.instruction,
            "instances": [{"input": i["input"], "output": i["output"]} for i in self.instances],
            "is_classification": self.is_classification,
            "source": self.source,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class Loc:
    """Where a raw record came from, for one-line errors."""

    path: str
    line: int  # physical line (JSONL/CSV), row (XLSX) or 1-based record index (JSON)
    label: str = "line"  # "line" | "row" | "record"
    tabular: bool = False  # CSV/XLSX: cells are strings, an empty cell is "" or None

    def error(self, message: str, field: str | None = None) -> TaneError:
        if self.label != "line":
            message = f"{message} ({self.label} {self.line})"
        return TaneError(message, path=self.path, line=self.line, field=field)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string",
            list: "list", dict: "object"}.get(type(value), type(value).__name__)


def _key(rec: dict, name: str) -> str | None:
    """The record's key for ``name``: exact match first, then case-insensitive."""
    if name in rec:
        return name
    for k in rec:
        if isinstance(k, str) and k.strip().lower() == name:
            return k
    return None


def _text(rec: dict, name: str, loc: Loc, *, required: bool, field: str | None = None) -> str:
    """A string field. Required fields must be present and not blank; optional ones give ""."""
    field = field or name
    k = _key(rec, name)
    value = rec[k] if k is not None else None
    if k is None:
        if required:
            raise loc.error("missing required field", field)
        return ""
    if value is None and (loc.tabular or not required):
        value = ""
    if loc.tabular and isinstance(value, bool):
        value = "TRUE" if value else "FALSE"
    if not isinstance(value, str):
        raise loc.error(f"expected a string, got {_type_name(value)}", field)
    value = normalize_newlines(value)
    if required and not value.strip():
        raise loc.error("must not be empty", field)
    if len(value) > MAX_FIELD_CHARS:
        raise loc.error(f"too long: {len(value):,} characters (the limit is "
                        f"{MAX_FIELD_CHARS:,})", field)
    return value


def _flag(rec: dict, loc: Loc) -> bool | None:
    k = _key(rec, "is_classification")
    value = rec[k] if k is not None else None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        s = value.strip().lower()
        if s == "":
            return None
        if s in ("true", "1"):
            return True
        if s in ("false", "0"):
            return False
    raise loc.error(f"expected true/false (or 1/0), got {value!r}", "is_classification")


def _id(rec: dict, loc: Loc, default: str) -> str:
    k = _key(rec, "id")
    value = rec[k] if k is not None else None
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise loc.error(f"expected a string or integer id, got {_type_name(value)}", k)
    return str(value).strip() or default


def _instances(rec: dict, loc: Loc) -> list[dict]:
    k = _key(rec, "instances")
    if k is None:
        if _key(rec, "output") is None:
            raise loc.error("missing required field", "output" if loc.tabular else "instances")
        return [{"input": _text(rec, "input", loc, required=False),
                 "output": _text(rec, "output", loc, required=True)}]
    items = rec[k]
    if not isinstance(items, list):
        raise loc.error(f"expected a list of {{input, output}} objects, got {_type_name(items)}",
                        "instances")
    if not items:
        raise loc.error("needs at least one instance", "instances")
    out = []
    for i, item in enumerate(items):
        where = f"instances[{i}]"
        if not isinstance(item, dict):
            raise loc.error(f"expected an object, got {_type_name(item)}", where)
        out.append({"input": _text(item, "input", loc, required=False, field=f"{where}.input"),
                    "output": _text(item, "output", loc, required=True, field=f"{where}.output")})
    return out


def _extra(rec: dict, loc: Loc, core: set[str]) -> dict:
    extra = {}
    for k, v in rec.items():
        if str(k).strip().lower() in core:
            continue
        if loc.tabular and (v is None or v == ""):
            continue
        extra[k] = normalize_newlines(v) if isinstance(v, str) else v
    return extra


def detect_format(rec: dict, loc: Loc) -> str:
    """Guess the format from the keys of the first record."""
    keys = {str(k).strip().lower() for k in rec}
    if "instances" in keys:
        return "self_instruct"
    if "instruction" in keys:
        return "self_instruct" if "is_classification" in keys else "alpaca"
    if "text" in keys and "output" in keys:
        return "ichikara"
    if "input" in keys and "output" in keys:
        return "elyza"
    shown = ", ".join(sorted(map(str, rec))) or "none"
    raise loc.error(
        f"cannot detect the seed format from the keys ({shown}); expected self_instruct "
        "(instruction, instances), alpaca (instruction, input, output), elyza (input, output, "
        "eval_aspect) or ichikara (text, output); name the format explicitly")


def to_seed(fmt: str, rec: dict, loc: Loc, *, default_id: str, source: str) -> Seed:
    """Map one raw record to a Seed, raising TaneError (with path/line/field) if it is invalid."""
    if fmt in ("self_instruct", "alpaca"):
        instruction = _text(rec, "instruction", loc, required=True)
        instances = _instances(rec, loc) if fmt == "self_instruct" else [
            {"input": _text(rec, "input", loc, required=False),
             "output": _text(rec, "output", loc, required=True)}]
        core = {"id", "instruction", "instances", "input", "output", "is_classification"}
        return Seed(id=_id(rec, loc, default_id), instruction=instruction, instances=instances,
                    is_classification=_flag(rec, loc), source=source,
                    extra=_extra(rec, loc, core))
    if fmt == "elyza":
        instruction = _text(rec, "input", loc, required=True)
        output = _text(rec, "output", loc, required=True)
        return Seed(id=_id(rec, loc, default_id), instruction=instruction,
                    instances=[{"input": "", "output": output}], source=source,
                    extra=_extra(rec, loc, {"id", "input", "output"}))
    if fmt == "ichikara":
        instruction = _text(rec, "text", loc, required=True)
        output = _text(rec, "output", loc, required=True)
        return Seed(id=_id(rec, loc, default_id), instruction=instruction,
                    instances=[{"input": "", "output": output}], source=source,
                    extra=_extra(rec, loc, {"text", "output"}))
    raise TaneError(f"unknown seed format {fmt!r}; choose one of {', '.join(FORMATS)}",
                    field="format")
