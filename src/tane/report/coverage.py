"""Grid coverage: per cell, records kept against records requested, and why items were
dropped, computed from a run directory.

- requested: the recipe in ``manifest.json`` (its grid stage expanded into cells);
- kept: ``dataset.jsonl`` records whose provenance names their ``cell``;
- drops: ``rejected.jsonl`` rows whose detail names the cell (every drop of the grid stage);
  drops of later stages (curate, judge, review) are traced to a cell through their
  record id: the grid's records in the run's ledger (``run.sqlite``), or the dropped
  record's own provenance. What cannot be traced is counted as ``unattributed``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from tane.config.grid import GridOrigin
from tane.provenance import Provenance


def _grid_stage(run_dir: Path) -> dict | None:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    stages = (manifest.get("recipe") or {}).get("stages") or []
    first = stages[0] if stages and isinstance(stages[0], dict) else None
    return first if first and first.get("method") == "grid" else None


def _requested(stage: dict) -> tuple[list[str], dict[str, dict[str, Any]]] | None:
    from tane.config.grid import GridStage

    try:
        cfg = GridStage.model_validate(stage)
    except ValueError:
        return None
    names = cfg.axis_names
    return names, {c.key: {"axes": c.axes(names), "requested": cfg.quota(c)}
                   for c in cfg.cells()}


def _ledger_cells(run_dir: Path) -> dict[str, str]:
    """record id -> cell of every record the grid stage kept (before later stages)."""
    db = run_dir / "run.sqlite"
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    out: dict[str, str] = {}
    try:
        for rid, body in con.execute("SELECT record_id, body FROM ledger "
                                     "WHERE status='kept' AND record_id IS NOT NULL"):
            try:
                cell = Provenance.of_row(json.loads(body)).origin(GridOrigin).cell
            except json.JSONDecodeError:
                continue
            if isinstance(cell, str):
                out.setdefault(rid, cell)
    except sqlite3.Error:
        return out
    finally:
        con.close()
    return out


def _drop_cell(row: dict, by_id: dict[str, str]) -> str | None:
    d = row.get("_drop") if isinstance(row.get("_drop"), dict) else row
    detail = d.get("detail") if isinstance(d.get("detail"), dict) else {}
    if isinstance(detail.get("cell"), str):
        return detail["cell"]
    rid = d.get("record_id") or row.get("record_id") or row.get("id")
    if isinstance(rid, str) and rid in by_id:
        return by_id[rid]
    return Provenance.of_row(row).origin(GridOrigin).cell


def grid_coverage(rows: list[dict], rejected: list[dict],
                  run_dir: Path | None) -> dict[str, Any] | None:
    """The coverage report, or None when the data did not come from a grid."""
    stage = _grid_stage(run_dir) if run_dir else None
    provs = [Provenance.of_row(r) for r in rows]
    grid_rows = [o for o in (p.origin(GridOrigin) for p in provs if p.method == GridOrigin.METHOD)
                 if o.cell is not None]
    if stage is None and not grid_rows:
        return None
    req = _requested(stage) if stage else None
    axis_names, cells = req if req else ([], {})
    kept = Counter(o.cell for o in grid_rows)
    for o in grid_rows:  # without a manifest: the cells records name
        if o.cell not in cells:
            cells[str(o.cell)] = {"axes": dict(o.axes), "requested": None}
    by_id = _ledger_cells(run_dir) if run_dir else {}
    drops: dict[str, Counter] = {}
    for row in rejected:
        d = row.get("_drop") if isinstance(row.get("_drop"), dict) else row
        cell = _drop_cell(row, by_id) or "unattributed"
        drops.setdefault(cell, Counter())[str(d.get("reason") or "unknown")] += 1
    table = []
    for key, info in cells.items():
        n_req, n_kept = info["requested"], kept.get(key, 0)
        table.append({"cell": key, "axes": info["axes"], "requested": n_req, "kept": n_kept,
                      "short": max(0, n_req - n_kept) if n_req is not None else None,
                      "dropped": sum(drops.get(key, Counter()).values()),
                      "drop_reasons": dict(drops.get(key, Counter()).most_common())})
    by_axis: dict[str, dict[str, dict[str, int]]] = {}
    for row in table:
        for axis, value in row["axes"].items():
            agg = by_axis.setdefault(axis, {}).setdefault(
                value, {"requested": 0, "kept": 0, "dropped": 0})
            agg["requested"] += row["requested"] or 0
            agg["kept"] += row["kept"]
            agg["dropped"] += row["dropped"]
    total_req = sum(r["requested"] or 0 for r in table) if req else None
    return {
        "axes": axis_names or sorted({a for r in table for a in r["axes"]}),
        "requested": total_req,
        "kept": sum(r["kept"] for r in table),
        "cells_full": sum(1 for r in table if r["requested"] is not None
                          and r["kept"] >= r["requested"]),
        "cells": table,
        "by_axis": by_axis,
        "unattributed_drops": dict(drops.get("unattributed", Counter()).most_common()),
        "source": "manifest.json + dataset.jsonl + rejected.jsonl" if req else
                  "dataset.jsonl + rejected.jsonl (no grid recipe found: requested unknown)",
    }


def print_coverage(cov: dict[str, Any], console) -> None:
    from rich.table import Table

    req = cov["requested"]
    t = Table(title=f"grid coverage: {cov['kept']} kept of {req if req is not None else '?'} "
                    f"requested, {cov['cells_full']}/{len(cov['cells'])} cells full")
    for col in ("cell", "requested", "kept", "short", "dropped", "drop reasons"):
        t.add_column(col, justify="left" if col in ("cell", "drop reasons") else "right")
    for r in cov["cells"]:
        reasons = ", ".join(f"{k}: {n}" for k, n in r["drop_reasons"].items())
        t.add_row(r["cell"], "?" if r["requested"] is None else str(r["requested"]),
                  str(r["kept"]), "?" if r["short"] is None else str(r["short"]),
                  str(r["dropped"]), reasons)
    if cov["unattributed_drops"]:
        t.add_row("(no cell)", "", "", "", str(sum(cov["unattributed_drops"].values())),
                  ", ".join(f"{k}: {n}" for k, n in cov["unattributed_drops"].items()))
    console.print(t)
    for axis, values in cov["by_axis"].items():
        t = Table(title=f"grid coverage by {axis}")
        for col in (axis, "requested", "kept", "dropped"):
            t.add_column(col, justify="left" if col == axis else "right")
        for value, agg in values.items():
            t.add_row(value, str(agg["requested"]) if req is not None else "?",
                      str(agg["kept"]), str(agg["dropped"]))
        console.print(t)
