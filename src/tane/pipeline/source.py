"""``source:``: a recipe that starts from existing records instead of a generator.

Reads whatever ``tane curate`` reads (JSONL, Parquet, CSV/JSON, a local Hugging Face
dataset directory), with the same column mapping (``fields: {instruction: prompt}``, as
``--field instruction=prompt``). A row without a usable instruction is a recorded drop
(``missing_field``), never a silent gap, as is a row with a field over the size limit
(``too_long``); a mapped column that no row has is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.limits import MAX_FIELD_CHARS
from ..config.seeds import SourceConfig
from ..curate.rows import parse_field_map, row_values
from ..curate.sources import read_rows
from ..errors import TaneError
from ..schema import Drop, Provenance, Record
from ..stage import Availability

STAGE = "source"


@dataclass
class Source:
    path: str
    records: list[Record] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)

    def availability(self) -> Availability:
        """Fields every record has (sure) and some have (maybe)."""
        have = {"instruction"}
        some: set[str] = set()
        for f in ("input", "output"):
            n = sum(1 for r in self.records if getattr(r, f))
            if self.records and n == len(self.records):
                have.add(f)
            elif n:
                some.add(f)
        return Availability(have, some)


def _provenance(prov: dict[str, Any], path: str, rowno: int) -> Provenance:
    got = Provenance.read(prov)  # a row written by tane keeps its provenance
    return got if got.method else Provenance(method="source", source=path, row=rowno)


def load_source(cfg: SourceConfig, base_dir: Path) -> Source:
    p = Path(cfg.path)
    path = p if p.is_absolute() else base_dir / p
    names = parse_field_map(cfg.fields)
    try:
        rows = read_rows(path, cfg.split)
    except TaneError as e:
        raise TaneError(e.message, path=e.path, line=e.line,
                        field="source." + (e.field or "path")) from None
    for target, column in names.items():
        if rows and not any(column in obj for _, _, obj in rows):
            raise TaneError(f"no row has a column {column!r} (source.fields.{target})",
                            path=str(path), field=f"source.fields.{target}")
    src = Source(str(path))
    seen: set[str] = set()
    for rowno, _line, obj in rows:
        f = row_values(obj, names)
        if isinstance(f, str):
            found = obj.get(f)
            src.drops.append(Drop(stage=STAGE, reason="missing_field", text=str(obj)[:500],
                                  detail={"field": f, "row": rowno, "found": None if found is None
                                          else type(found).__name__}))
            continue
        instruction, inp, output, prov, row_id = f
        long = next(((n, len(t)) for n, t in (("instruction", instruction), ("input", inp),
                                               ("output", output or ""))
                     if len(t) > MAX_FIELD_CHARS), None)
        if long is not None:  # the documented size limit (tane.config.limits)
            src.drops.append(Drop(stage=STAGE, reason="too_long", text=instruction[:500],
                                  detail={"field": long[0], "chars": long[1], "row": rowno,
                                          "max": MAX_FIELD_CHARS}))
            continue
        rid = str(row_id) if row_id is not None else f"row-{rowno}"
        if rid in seen:
            rid = f"{rid}-row{rowno}"
        seen.add(rid)
        src.records.append(Record(id=rid, instruction=instruction, input=inp or "",
                                  output=output or None,
                                  provenance=_provenance(prov or {}, str(path), rowno)))
    if not src.records:
        raise TaneError("no usable rows (every row lacks an instruction; map a column with "
                        "source.fields, e.g. {instruction: prompt})", path=str(path),
                        field="source.fields")
    return src
