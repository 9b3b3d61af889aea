"""Human review round trip: ``tane review export`` / ``tane review import``.

Export writes one row per record of a run (XLSX or CSV) with the columns in
:data:`COLUMNS`; a reviewer edits ``instruction``/``input``/``output``, sets ``status``
(keep, drop, edit; blank = no decision) and ``note``. Import validates the whole file
first (run id, columns, ids, statuses, cell sizes) and then stores the decisions as new
revisions in ``run.sqlite`` in one transaction and rewrites ``dataset.jsonl`` /
``rejected.jsonl`` without running any model. A row identical to the record's latest
revision adds nothing, so importing the same file twice changes nothing.

A review file records the review state it was exported from (``review_base``: the last
revision number and an id of this export; in the hidden ``_meta`` sheet, or a CSV
column), so import compares each row three ways: the row as exported, the row in the
file, and the record now. A row equal to what was exported is no decision (whatever was
decided since stays). A row the file changes whose record was revised since the export,
by any import (another copy of the same export included), is refused, naming the rows,
unless ``force``; ``force`` applies only the rows the file changes. ``dry_run`` validates
and returns what would change without writing anything.

Import holds the run lock (a running ``tane run`` on the directory refuses it, and the
other way round) and commits the revisions and the files they shape as one
(:mod:`tane.store.revision_commit`): a kill leaves the import whole or absent.

Machine-dropped rows (``--include-dropped``) are shown for context, with id
``rejected:N`` (N = line in the machine ``rejected.jsonl``); they cannot be revived here.
"""

from __future__ import annotations

from ..store.sheets import DANGEROUS, MAX_CELL, TRUNCATED, clean
from .export import ExportReport, export_review, review_seq
from .importing import ImportReport, import_review, parse_base, plan_import, read_table
from .rows import build_rows
from .table import (COLUMNS, EDITABLE, HELP, META_SHEET, REJECTED_PREFIX, SHEET, FormulaText,
                    Row, Table, norm)

__all__ = ["COLUMNS", "DANGEROUS", "EDITABLE", "HELP", "MAX_CELL", "META_SHEET",
           "REJECTED_PREFIX", "SHEET", "TRUNCATED", "ExportReport", "FormulaText",
           "ImportReport", "Row", "Table", "build_rows", "clean", "export_review",
           "import_review", "norm", "parse_base", "plan_import", "read_table", "review_seq"]
