"""``tane review export|import``: the human review round trip."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import TaneError
from .common import _fail, app, err, out

review_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Human review round trip: export a run to XLSX/CSV, import "
                              "the reviewed file as persistent revisions.")
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(run_dir: Path = typer.Argument(..., help="run directory"),
                  output: Path = typer.Option(..., "-o", "--output",
                                              help="review file, .xlsx or .csv"),
                  include_dropped: bool = typer.Option(False, help="also list the rows "
                                                       "the pipeline dropped (read only)")
                  ) -> None:
    """Write a run's records to a spreadsheet for human review."""
    from ..review import export_review

    try:
        rep = export_review(run_dir, output, include_dropped=include_dropped)
    except TaneError as e:
        _fail(e)
        return
    records = rep.rows - rep.dropped_rows
    what = (f"{records - rep.review_dropped} records in the dataset, {rep.review_dropped} "
            "dropped by an earlier review" if rep.review_dropped else f"{records} records")
    out.print(f"review file: {rep.path} ({what}"
              + (f", {rep.dropped_rows} dropped rows" if include_dropped else "") + ")",
              highlight=False)


@review_app.command("import")
def review_import(run_dir: Path = typer.Argument(..., help="run directory"),
                  review_file: Path = typer.Argument(..., help="reviewed .xlsx or .csv"),
                  force: bool = typer.Option(False, "--force",
                                             help="import a stale file: the rows it "
                                                  "changes overwrite what another import "
                                                  "changed since its export"),
                  dry_run: bool = typer.Option(False, "--dry-run",
                                               help="show what would change; write "
                                                    "nothing")) -> None:
    """Validate a reviewed file, store its decisions as revisions (all or nothing) and
    rewrite dataset.jsonl / rejected.jsonl (no model is run). A row left as exported is
    no decision; a row changed in the file and by another import since its export is
    refused (--force). Refused while a run works in the directory."""
    from ..review import import_review

    try:
        rep = import_review(run_dir, review_file, force=force, dry_run=dry_run)
    except TaneError as e:
        _fail(e)
        return
    by: dict[str, int] = {}
    for r in rep.revisions:
        by[r["status"]] = by.get(r["status"], 0) + 1
    what = ", ".join(f"{k}: {v}" for k, v in sorted(by.items())) or "no changes"
    if rep.overwritten:
        rows = ", ".join(f"{it['line']} ({it['record_id']})" for it in rep.overwritten)
        err.print(f"[yellow]warning:[/] --force: rows {rows} overwrite a later review",
                  highlight=False, markup=True, soft_wrap=True)
    if rep.dry_run:
        for r in rep.revisions:
            changed = ", ".join(r.get("changed") or []) or "no text change"
            note = f"; note: {r['note']}" if r.get("note") else ""
            out.print(f"row {r['line']} {r['record_id']}: {r['status']} ({changed}){note}",
                      highlight=False, markup=False, soft_wrap=True)
        out.print(f"dry run: {len(rep.revisions)} revision(s) would be added ({what}); "
                  "nothing was written", highlight=False)
        return
    out.print(f"{len(rep.revisions)} new revision(s) ({what}); dataset: {rep.kept} "
              f"records, {rep.dropped} dropped by review", highlight=False)
