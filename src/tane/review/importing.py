"""``tane review import``: validate a review file against its run, then store its
decisions as revisions (see :mod:`tane.review` for the three-way comparison)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..store.lock import RunLock
from ..store.revision_commit import commit_revisions, settle
from ..store.revisions import (FIELDS, STATUSES, apply_revisions, machine_output,
                               reviewed_output)
from ..store.rundir import RunDir
from ..store.sheets import MAX_CELL, clean
from .csvio import read_csv
from .rows import build_rows
from .table import COLUMNS, FormulaText, Row, Table, norm
from .xlsx import read_xlsx


@dataclass
class ImportReport:
    path: Path
    rows: int
    revisions: list[dict[str, Any]] = field(default_factory=list)
    kept: int = 0
    dropped: int = 0
    dry_run: bool = False
    overwritten: list[dict[str, Any]] = field(default_factory=list)  # with force


def parse_base(table: Table) -> tuple[int, str]:
    """(revision number, export id) a review file was exported from; a file without one
    (exported by an older tane) counts as exported before any review."""
    if not table.review_base:
        return 0, ""
    seq, _, export_id = table.review_base.strip().partition(":")
    if not seq.isdigit() or not export_id:
        raise TaneError(f"review_base {table.review_base!r} is not SEQ:ID (do not edit it)",
                        path=str(table.path), field="review_base")
    return int(seq), export_id


def _stale_error(table: Table, stale: list[dict[str, Any]]) -> TaneError:
    seq, _ = parse_base(table)
    sources = sorted({it["newer"]["source"] or "?" for it in stale})
    rows = ", ".join(f"{it['line']} ({it['record_id']})" for it in stale[:10]) \
        + (f" and {len(stale) - 10} more" if len(stale) > 10 else "")
    return TaneError(f"stale review file: rows {rows} were changed by a later import "
                     f"({', '.join(sources)}) after this file was exported (at review "
                     f"revision {seq}); importing would undo that review. Export a new "
                     "file and redo these rows there, or use --force to overwrite them",
                     path=str(table.path), line=stale[0]["line"], field=table.sheet)


def read_table(path: str | Path) -> Table:
    p = Path(path)
    if not p.exists():
        raise TaneError("review file not found", path=str(p))
    suffix = p.suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(p)
    if suffix == ".csv":
        return read_csv(p)
    raise TaneError("review file must end in .xlsx or .csv", path=str(p))


def plan_import(run_dir: str | Path, table: Table) -> list[dict[str, Any]]:
    """Validate the whole table against the run; return the revisions to add. Raises
    TaneError (path=file, line=row, field="Sheet!Column") on the first problem."""
    path, sheet = str(table.path), table.sheet

    def fail(msg: str, line: int | None, col: str | None) -> TaneError:
        return TaneError(msg, path=path, line=line, field=f"{sheet}!{col}" if col else sheet)

    rid, rows = build_rows(run_dir, include_dropped=True)
    if table.run_id is None:
        raise TaneError("not a tane review file: no run id", path=path,
                        line=table.run_id_where[0], field=table.run_id_where[1])
    if table.run_id != rid:
        raise TaneError(f"this review file is from another run (its run id "
                        f"{table.run_id[:12]}…, this run {rid[:12]}…); export a new one",
                        path=path, line=table.run_id_where[0], field=table.run_id_where[1])
    header = [norm(h).strip() for h in table.header]
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        if h in COLUMNS and h not in index:
            index[h] = i
        elif h in COLUMNS:
            raise fail(f"column '{h}' appears twice", 1, h)
    for c in COLUMNS:
        if c not in index:
            extra = [h for h in header if h and h not in COLUMNS
                     and h not in ("run_id", "review_base")]
            raise fail(f"missing column '{c}' (columns must not be renamed or removed"
                       + (f"; found unexpected {', '.join(repr(e) for e in extra)}"
                          if extra else "") + ")", 1, c)
    known = {r.id: r for r in rows}
    seq, _ = parse_base(table)
    rd = RunDir(run_dir)
    try:
        latest = rd.latest_revisions()
        at_export = rd.revisions_at(seq)   # what the file showed when it was exported
        newer = rd.changed_since(seq)      # revised since, by any import
    finally:
        rd.close()
    seen: dict[str, int] = {}
    plan: list[dict[str, Any]] = []
    for line, cells in table.rows:
        def cell(c: str) -> Any:
            i = index[c]
            return cells[i] if i < len(cells) else None
        vals = {c: cell(c) for c in COLUMNS}
        if all(v is None or str(v).strip() == "" for v in vals.values()):
            continue  # blank row
        for c in COLUMNS:
            v = vals[c]
            if isinstance(v, FormulaText):
                raise fail("cell holds a formula; type plain text", line, c)
            if v is not None and len(str(v)) > MAX_CELL:
                raise fail(f"cell has {len(str(v))} characters, more than the limit "
                           f"{MAX_CELL}", line, c)
        rec_id = norm(vals["id"]).strip()
        if not rec_id:
            raise fail("empty id (ids must not be changed or removed)", line, "id")
        if rec_id not in known:
            raise fail(f"unknown id '{rec_id}': not a record of this run (ids must not "
                       "be changed)", line, "id")
        if rec_id in seen:
            raise fail(f"duplicate id '{rec_id}' (also on row {seen[rec_id]})", line, "id")
        seen[rec_id] = line
        status = norm(vals["status"]).strip().lower()
        if status not in ("",) + STATUSES:
            raise fail(f"invalid status '{norm(vals['status']).strip()}' (use keep, drop "
                       "or edit, or leave blank)", line, "status")
        row = known[rec_id]
        if row.locked:
            if status not in ("", "drop"):
                raise fail("a row the pipeline dropped cannot be revived by review; "
                           "leave its status as drop", line, "status")
            continue
        exported = _as_exported(row, at_export.get(rec_id))
        sheet_fields = {k: norm(vals[k]) for k in FIELDS}
        changed = {k for k in FIELDS if sheet_fields[k] != exported[k]}
        note = norm(vals["note"]).strip()
        if not changed and note == exported["note"] and status in ("", exported["status"]):
            continue  # the row as exported: no decision
        rev = latest.get(rec_id)
        base = {k: norm(row.raw.get(k)) for k in FIELDS}  # the record now
        new_fields = {k: (sheet_fields[k] if k in changed else base[k]) for k in FIELDS}
        if not status:
            status = "edit" if changed else ((rev or {}).get("status") or "keep")
        elif status == "keep" and (changed or any(
                norm(clean(row.raw.get(k))) != norm(row.machine[k]) for k in FIELDS)):
            status = "edit"   # changed text is an edit, whatever the status says
        if rev is not None and (rev["status"], rev.get("note") or "",
                                {k: norm(v) for k, v in rev["fields"].items()}) == \
                (status, note, new_fields):
            continue  # identical to the latest revision
        plan.append({"record_id": rec_id, "status": status, "fields": new_fields,
                     "note": note, "line": line, "changed": sorted(changed)}
                    | ({"newer": newer[rec_id]} if rec_id in newer else {}))
    return plan


def _as_exported(row: Row, rev: dict[str, Any] | None) -> dict[str, str]:
    """A record's row as a file exported at a given review state showed it (``rev``: the
    record's latest revision then): its fields, status and note."""
    shown = {k: norm(row.machine[k]) for k in FIELDS}
    for k, v in ((rev or {}).get("fields") or {}).items():
        if k in FIELDS:
            shown[k] = norm(clean(v))
    return shown | {"status": (rev or {}).get("status") or "",
                    "note": norm(clean((rev or {}).get("note"))).strip()}


def import_review(run_dir: str | Path, path: str | Path, *, force: bool = False,
                  dry_run: bool = False) -> ImportReport:
    """Validate ``path`` against the run, then add its decisions as revisions and rewrite
    dataset.jsonl / rejected.jsonl (and stats.json's ``dataset_records``), all as one,
    holding the run lock. A stale file (see the module doc) is refused unless ``force``.
    ``dry_run``: the report's ``revisions`` are what would be added (with ``line`` and
    ``changed`` fields); nothing is written."""
    p = Path(path)
    table = read_table(p)
    machine_output(run_dir)  # a run directory, before its lock is taken
    lock = RunLock(run_dir)
    with (lock.shared() if dry_run else lock):
        if not dry_run:
            settle(run_dir)  # the files a killed import left due
        plan = plan_import(run_dir, table)
        stale = [it for it in plan if "newer" in it]
        if stale and not force:
            raise _stale_error(table, stale)
        if dry_run:
            return ImportReport(p, len(table.rows), plan, dry_run=True, overwritten=stale)
        if not plan:
            records, drops = apply_revisions(*reviewed_output(run_dir))
            return ImportReport(p, len(table.rows), [], len(records),
                                sum(1 for d in drops if d.get("reason") == "human"))
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        _, export_id = parse_base(table)
        added, records, drops = commit_revisions(
            run_dir, [{k: v for k, v in it.items() if k not in ("line", "changed", "newer")}
                      | {"source": p.name, "source_sha256": sha, "export_id": export_id}
                      for it in plan])
    return ImportReport(p, len(table.rows), added, len(records),
                        sum(1 for d in drops if d.get("reason") == "human"),
                        overwritten=stale)
