"""The review file as CSV: UTF-8 with BOM (so Excel opens it as UTF-8), CRLF rows, the
columns of the workbook plus ``review_base`` (the review state it was exported from) and
``run_id`` on every row.

Formula injection: a cell starting with ``= + - @``, tab or CR is written with a leading
single quote (as is one starting with a quote followed by one of those or another quote,
so the round trip is exact); import strips exactly that quote. Import reads UTF-8 with or
without BOM, and CP932 (Shift_JIS as saved by Japanese Excel).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import TaneError
from ..store.files import atomic_write
from ..store.sheets import DANGEROUS
from .table import COLUMNS, Row, Table

RUN_ID_COLUMN = "run_id"
BASE_COLUMN = "review_base"  # the review state the file was exported from
_QUOTABLE = DANGEROUS + ("'",)


def protect(text: str) -> str:
    if text.startswith(DANGEROUS) or (text.startswith("'") and text[1:2] in _QUOTABLE
                                      and len(text) > 1):
        return "'" + text
    return text


def unprotect(text: str) -> str:
    if text.startswith("'") and len(text) > 1 and text[1] in _QUOTABLE:
        return text[1:]
    return text


def write_csv(out: Path, run_id: str, rows: list[Row], review_base: str = "",
              columns: tuple[str, ...] = COLUMNS) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(columns) + [BASE_COLUMN, RUN_ID_COLUMN])
    for row in rows:
        w.writerow([protect(row.values.get(c, "") or "") for c in columns]
                   + [review_base, run_id])
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            f.write(buf.getvalue())

    atomic_write(out, write)
    return out


def decode(raw: bytes, path: Path) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932")
    except UnicodeDecodeError as e:
        raise TaneError(f"cannot decode: not UTF-8 or CP932 (byte {e.start})",
                        path=str(path)) from None


def read_csv(path: Path) -> Table:
    try:
        text = decode(path.read_bytes(), path)
    except UnicodeDecodeError as e:
        raise TaneError(f"not valid UTF-8 after the BOM (byte {e.start})",
                        path=str(path)) from None
    sheet = path.name
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise TaneError(f"not valid CSV: {e}", path=str(path)) from None
    if not records:
        raise TaneError("empty file", path=str(path), line=1)
    header = [unprotect(h) for h in records[0]]
    rid_col = header.index(RUN_ID_COLUMN) if RUN_ID_COLUMN in header else None
    base_col = header.index(BASE_COLUMN) if BASE_COLUMN in header else None
    base = None
    rows: list[tuple[int, list]] = []
    run_id = None
    where = (2, f"{sheet}!{RUN_ID_COLUMN}")
    for n, rec in enumerate(records[1:], 2):
        cells = [unprotect(c) for c in rec]
        if not any(c.strip() for c in cells):
            continue
        rows.append((n, cells))
        if base is None and base_col is not None and base_col < len(cells):
            base = cells[base_col].strip() or None
        if rid_col is None:
            continue
        rid = cells[rid_col].strip() if rid_col < len(cells) else ""
        if run_id is None:
            run_id, where = rid, (n, f"{sheet}!{RUN_ID_COLUMN}")
        elif rid != run_id:
            raise TaneError("rows from different runs (run_id differs from row "
                            f"{where[0]})", path=str(path), line=n,
                            field=f"{sheet}!{RUN_ID_COLUMN}")
    return Table(path, sheet, header, rows, run_id or None, where, review_base=base)
