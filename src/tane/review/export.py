"""``tane review export``: a run's records as an XLSX or CSV review file."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import TaneError
from ..store.revision_commit import settle_unless_busy
from ..store.rundir import RunDir
from ..store.sheets import clean
from .answers import web_answers
from .csvio import write_csv
from .rows import build_rows
from .table import COLUMNS
from .xlsx import write_xlsx


@dataclass
class ExportReport:
    path: Path
    rows: int
    dropped_rows: int  # rows the pipeline dropped (shown read only)
    review_dropped: int = 0  # records an earlier review dropped (listed, status drop)


def export_review(run_dir: str | Path, out: str | Path, include_dropped: bool = False,
                  answers: bool = False) -> ExportReport:
    """``answers``: a read-only last column with the web reviewers' standing answers."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise TaneError("review file must end in .xlsx or .csv", path=str(out))
    rid, rows = build_rows(run_dir, include_dropped)  # first: is it a run directory?
    settle_unless_busy(run_dir)  # the files a killed import left due
    base = f"{review_seq(run_dir)}:{uuid.uuid4().hex[:16]}"
    columns = COLUMNS + (("answers",) if answers else ())
    if answers:
        said = web_answers(run_dir)
        for row in rows:
            row.values["answers"] = clean(said.get(row.id, ""))
    if suffix == ".xlsx":
        write_xlsx(out, rid, rows, base, columns)
    else:
        write_csv(out, rid, rows, base, columns)
    return ExportReport(out, len(rows), sum(1 for r in rows if r.locked),
                        sum(1 for r in rows if not r.locked
                            and (r.values.get("status") or "") == "drop"))


def review_seq(run_dir: str | Path) -> int:
    rd = RunDir(run_dir)
    try:
        return rd.review_seq()
    finally:
        rd.close()
