"""Load seed tasks from .jsonl, .json, .csv or .xlsx files, or from the bundled sets.

Every problem with the user's file is reported as one :class:`~tane.errors.TaneError`
naming the path, the line (JSONL/CSV physical line, XLSX row, JSON record index) and the
field. Loading is all or nothing: either every record is valid or an error is raised.
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from tane.errors import TaneError, json_problem
from tane.seeds.formats import FORMATS, Loc, Seed, detect_format, normalize_newlines, to_seed

__all__ = ["FORMATS", "Seed", "SeedFile", "bundled_seeds_path", "inspect_seeds", "load_seeds"]

BUNDLED_PREFIX = "bundled:"
_CP932_STRAY = frozenset("\x80\uf8f0\uf8f1\uf8f2\uf8f3")
Records = list[tuple[Loc, dict]]


def bundled_seeds_path(lang: str) -> Path:
    """Path of the package's own seed set for ``lang`` (``src/tane/seeds/data/{lang}.jsonl``)."""
    data = resources.files("tane.seeds").joinpath("data")
    available = sorted(p.name[: -len(".jsonl")] for p in data.iterdir()
                       if p.name.endswith(".jsonl"))
    if lang not in available:
        raise TaneError(f"no bundled seed set {lang!r}; available: {', '.join(available)}",
                        path=f"{BUNDLED_PREFIX}{lang}")
    return Path(str(data.joinpath(f"{lang}.jsonl")))


def load_seeds(path: str | Path, format: str = "auto") -> list[Seed]:
    """Load and validate all seeds in ``path`` (a file or ``bundled:<lang>``)."""
    if format not in FORMATS:
        raise TaneError(f"unknown seed format {format!r}; choose one of {', '.join(FORMATS)}",
                        field="format")
    name = str(path)
    if name.startswith(BUNDLED_PREFIX):
        real = bundled_seeds_path(name[len(BUNDLED_PREFIX):])
        display, source = str(real), name
    else:
        real = Path(path)
        display = source = name
    if not real.exists():
        raise TaneError("seed file not found", path=display)
    if real.is_dir():
        raise TaneError("is a directory, expected a seed file", path=display)
    ext = real.suffix.lower()
    reader = _READERS.get(ext)
    if reader is None:
        raise TaneError(f"unknown seed file extension {ext or '(none)'!r}; "
                        "expected .jsonl, .json, .csv or .xlsx", path=display)
    records = reader(real, display)
    if not records:
        raise TaneError("no seed records found (the file is empty)", path=display)

    fmt = format if format != "auto" else detect_format(records[0][1], records[0][0])
    seeds: list[Seed] = []
    seen: dict[str, Loc] = {}
    for loc, rec in records:
        try:
            seed = to_seed(fmt, rec, loc, default_id=f"{real.stem}-{loc.line}", source=source)
        except TaneError as e:  # say how the record was read: the format may be the cause
            how = (f"read as {fmt}, detected from the keys {_keys(records[0][1])}"
                   if format == "auto" else f"read as {fmt}")
            raise TaneError(f"{e.message} ({how}; {_NEEDS[fmt]})", path=e.path, line=e.line,
                            field=e.field) from None
        first = seen.get(seed.id)
        if first is not None:
            raise loc.error(f"duplicate id {seed.id!r} (first used at {first.label} {first.line})",
                            "id")
        seen[seed.id] = loc
        seeds.append(seed)
    return seeds


_NEEDS = {"self_instruct": "it needs instruction and instances, or instruction and output",
          "alpaca": "it needs instruction and output, input optional; every seed needs a "
                    "worked output",
          "elyza": "it needs input (the task) and output",
          "ichikara": "it needs text (the task) and output"}


def _keys(rec: dict) -> str:
    return ", ".join(str(k) for k in rec) or "none"


@dataclass
class SeedFile:
    """What `tane seeds` shows: the seeds and how the file was read."""

    seeds: list[Seed]
    format: str
    detected: bool  # the format was detected from the first record's keys
    keys: str  # those keys
    encoding: str  # "UTF-8", "UTF-8 with BOM", "CP932 (Shift_JIS)" or "XLSX workbook"


def inspect_seeds(path: str | Path, format: str = "auto") -> SeedFile:
    """Load the seeds (as `load_seeds`) and say which format and encoding were used."""
    seeds = load_seeds(path, format)
    name = str(path)
    real = (bundled_seeds_path(name[len(BUNDLED_PREFIX):]) if name.startswith(BUNDLED_PREFIX)
            else Path(path))
    ext = real.suffix.lower()
    records = _READERS[ext](real, name)
    fmt = format if format != "auto" else detect_format(records[0][1], records[0][0])
    if ext == ".xlsx":
        encoding = "XLSX workbook"
    else:
        data = real.read_bytes()
        if data.startswith(codecs.BOM_UTF8):
            encoding = "UTF-8 with BOM"
        else:
            try:
                data.decode("utf-8")
                encoding = "UTF-8"
            except UnicodeDecodeError:
                encoding = "CP932 (Shift_JIS)"
    return SeedFile(seeds, fmt, format == "auto", _keys(records[0][1]), encoding)


# ---------------------------------------------------------------------------- decoding

def _decode(data: bytes, display: str, *, allow_cp932: bool) -> str:
    """UTF-8 (BOM optional), then CP932 if allowed; line endings normalised to \\n."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return normalize_newlines(data[bom:].decode("utf-8"))
    except UnicodeDecodeError as err:
        offset = err.start + bom
    if allow_cp932:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            text = None
        # Python maps the single bytes 0x80, 0xA0, 0xFD-0xFF (never written by Excel) to
        # control/private-use characters; seeing them means the file is not CP932 either.
        if text is not None and not any(ch in _CP932_STRAY for ch in text):
            return normalize_newlines(text)
    tried = "UTF-8, UTF-8 with BOM" + (", CP932 (Shift_JIS)" if allow_cp932 else "")
    prefix = data[:offset].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    line = prefix.count(b"\n") + 1
    raise TaneError(f"cannot decode the file (tried {tried}): first invalid byte "
                    f"0x{data[offset]:02x} at byte offset {offset} (line {line})",
                    path=display, line=line)


def _read_text(real: Path, display: str, *, allow_cp932: bool = False) -> str | None:
    try:
        data = real.read_bytes()
    except OSError as err:
        raise TaneError(f"cannot read the file: {err.strerror or err}", path=display) from None
    text = _decode(data, display, allow_cp932=allow_cp932)
    return text if text.strip() else None


# ---------------------------------------------------------------------------- readers

def read_jsonl_records(real: Path, display: str) -> Records:
    text = _read_text(real, display)
    out: Records = []
    for lineno, raw in enumerate((text or "").split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            hint = " (a JSON array? name the file .json)" if raw.lstrip().startswith("[") else ""
            raise TaneError(f"invalid JSON: {json_problem(err)}{hint}",
                            path=display, line=lineno) from None
        loc = Loc(display, lineno)
        if not isinstance(obj, dict):
            raise loc.error(f"expected a JSON object, got {_json_type(obj)}")
        out.append((loc, obj))
    return out


def read_json_records(real: Path, display: str) -> Records:
    text = _read_text(real, display)
    if text is None:
        return []
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise TaneError(f"invalid JSON: {json_problem(err)}",
                        path=display, line=err.lineno) from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        obj = obj["data"]
    if not isinstance(obj, list):
        raise TaneError('expected a JSON list of objects or {"data": [...]}, got '
                        f"{_json_type(obj)}", path=display)
    out: Records = []
    for index, rec in enumerate(obj, 1):
        loc = Loc(display, index, "record")
        if not isinstance(rec, dict):
            raise loc.error(f"expected a JSON object, got {_json_type(rec)}")
        out.append((loc, rec))
    return out


def read_csv_records(real: Path, display: str, delimiter: str = ",") -> Records:
    """A CSV (or, with ``delimiter="\\t"``, TSV) file: UTF-8 with or without BOM, or
    CP932; the header row names the columns. Also read by a recipe's ``source:``,
    ``tane curate`` and the eval benchmarks."""
    text = _read_text(real, display, allow_cp932=True)
    if text is None:
        return []
    rows: list[tuple[int, list[Any]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    prev = 0
    try:
        for row in reader:
            rows.append((prev + 1, row))  # a quoted cell may span lines: report the first
            prev = reader.line_num
    except csv.Error as err:
        raise TaneError(f"invalid CSV: {err}", path=display, line=reader.line_num) from None
    return _table(rows, display, "line")


def _read_xlsx(real: Path, display: str) -> Records:
    import openpyxl  # imported lazily: only XLSX users pay for it

    try:
        wb = openpyxl.load_workbook(real, read_only=True, data_only=True)
    except Exception as err:  # zipfile.BadZipFile, InvalidFileException, KeyError, ...
        raise TaneError(f"cannot open as an .xlsx workbook: {err}", path=display) from None
    try:
        sheet = next((wb[n] for n in wb.sheetnames if n.strip().lower() == "seeds"),
                     wb.worksheets[0])
        rows = [(r, [_cell(v) for v in row])
                for r, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1)]
    finally:
        wb.close()
    return _table(rows, display, "row")


def _table(rows: list[tuple[int, list[Any]]], display: str, label: str) -> Records:
    """Header row (first non-empty row) + data rows -> records; fully empty rows skipped."""
    header: list[str] | None = None
    out: Records = []
    for lineno, row in rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        if header is None:
            header = ["" if v is None else str(v).strip() for v in row]
            named = [h for h in header if h]
            dups = sorted({h for h in named if named.count(h) > 1})
            if dups:
                raise TaneError(f"duplicate column name(s) in the header: {', '.join(dups)}",
                                path=display, line=lineno)
            continue
        loc = Loc(display, lineno, label, tabular=True)
        overflow = [v for v in row[len(header):] if v not in (None, "")]
        if overflow or any(not h and row[j] not in (None, "")
                           for j, h in enumerate(header) if j < len(row)):
            raise loc.error(f"the row has a value in a column without a header name "
                            f"(header has {len(named)} named columns)")
        out.append((loc, {h: (row[j] if j < len(row) else None)
                          for j, h in enumerate(header) if h}))
    return out


def _cell(value: Any) -> Any:
    """An XLSX cell value as the text a user sees; booleans stay booleans."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return normalize_newlines(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


def _json_type(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null", dict: "an object"}.get(type(value), "a value")


_READERS: dict[str, Callable[[Path, str], Records]] = {
    ".jsonl": read_jsonl_records,
    ".json": read_json_records,
    ".csv": read_csv_records,
    ".xlsx": _read_xlsx,
}
