"""``tane review export|import``: the human review round trip."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import TaneError
from .common import _fail, app, out

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
                  review_file: Path = typer.Argument(..., help="reviewed .xlsx or .csv")
                  ) -> None:
    """Validate a reviewed file, store its decisions as revisions (all or nothing) and
    rewrite dataset.jsonl / rejected.jsonl (no model is run)."""
    from ..review import import_review

    try:
        rep = import_review(run_dir, review_file)
    except TaneError as e:
        _fail(e)
        return
    by: dict[str, int] = {}
    for r in rep.revisions:
        by[r["status"]] = by.get(r["status"], 0) + 1
    what = ", ".join(f"{k}: {v}" for k, v in sorted(by.items())) or "no changes"
    out.print(f"{len(rep.revisions)} new revision(s) ({what}); dataset: {rep.kept} "
              f"records, {rep.dropped} dropped by review", highlight=False)
