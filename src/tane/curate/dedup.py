"""`tane dedup`: greedy ROUGE-L near-duplicate removal over a JSONL file.

Kept rows are written unchanged (byte for byte, minus a BOM) to the output; dropped rows
go to ``<out stem>.rejected.jsonl`` beside it, each with a ``_drop`` object
``{"reason": ..., "detail": ...}``. Reasons: ``missing_field`` (absent or not a string),
``empty`` (blank after stripping), ``too_long`` (over ``MAX_FIELD_CHARS`` characters,
`tane.config.limits`), ``near_duplicate`` (ROUGE-L F > threshold against an
earlier kept row). ``keep="best"`` with ``score_field`` (a dotted path into the row, e.g.
``judge.quality``) checks rows from the highest score down (ties and unscored rows in
input order, unscored last), so each group keeps its best-scored row; kept rows are still
written in input order. Outputs are written to temporary files and moved into place only
when everything succeeded, so a bad input line leaves no output behind.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from tane.config.limits import MAX_FIELD_CHARS
from tane.curate.rouge import NoveltyIndex
from tane.curate.rows import read_jsonl_rows
from tane.curate.rows import check_column, likely_column
from tane.curate.steps.base import Fields
from tane.errors import TaneError
from tane.store.files import os_error, temp_beside


@dataclass
class DedupReport:
    rows_in: int
    kept: int
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    tokenizer: str = ""
    seconds: float = 0.0
    out_path: str = ""
    rejected_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rejected_path_for(out_path: str | os.PathLike) -> Path:
    """``out.jsonl`` -> ``out.rejected.jsonl`` in the same directory."""
    out = Path(out_path)
    return out.with_name(out.stem + ".rejected.jsonl")


def row_ref(lineno: int, obj: dict) -> Any:
    """How a kept row is referred to in reports: its ``id`` if it has one, else its line."""
    rid = obj.get("id")
    return rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else lineno


def write_atomically(targets: list[tuple[Path, list[str]]]) -> None:
    temps: list[tuple[str, Path]] = []
    try:
        for target, lines in targets:
            fd, tmp = temp_beside(target)
            temps.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                for line in lines:
                    fh.write(line)
                    fh.write("\n")
        for tmp, target in temps:
            os.replace(tmp, target)
    except BaseException as e:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if isinstance(e, OSError):  # a full disk, a folder where the file goes: one line
            raise os_error(e, temps[-1][1] if temps else targets[0][0]) from None
        raise


def check_keep(keep: str, score_field: str | None) -> None:
    """``keep`` and ``score_field`` fit together (first: no score; best: a score)."""
    if keep not in ("first", "best"):
        raise TaneError(f"keep must be first or best, got {keep!r}", field="keep")
    if keep == "best" and not score_field:
        raise TaneError("keep best needs a score field (e.g. judge.quality)",
                        field="score_field")
    if keep == "first" and score_field:
        raise TaneError("a score field is used only with keep best", field="score_field")


def check_output(out_path: Path) -> None:
    """The output file can be written: its folder exists and it is not a folder."""
    if not out_path.parent.is_dir():
        raise TaneError("output directory does not exist", path=str(out_path.parent))
    if out_path.is_dir():
        raise TaneError("is a directory; -o wants an output file name", path=str(out_path))


def read_rows(in_path: Path, field: str) -> list[tuple[int, str, dict]]:
    """The rows of a JSONL file, of which at least one has ``field`` (the check
    ``tane curate`` makes: a file without it would have every row dropped)."""
    rows = read_jsonl_rows(in_path)

    def advice(found: dict[str, None]) -> str:
        guess = likely_column(field, found) or likely_column("instruction", found)
        return f"name the column to compare with --field {guess or '<column>'}"

    check_column(rows, field, in_path, advice)
    return rows


def screen_rows(rows: list[tuple[int, str, dict]], field: str
                ) -> tuple[dict[int, dict], list[int]]:
    """(drops by position, positions to compare): rows whose ``field`` is missing, not a
    string, empty or over the size limit are dropped with that reason before any
    tokenizer sees them."""
    drops: dict[int, dict] = {}  # position in rows -> _drop object
    candidates: list[int] = []
    for pos, (_lineno, _line, obj) in enumerate(rows):
        value = obj.get(field)
        if not isinstance(value, str):
            drops[pos] = {"reason": "missing_field",
                          "detail": {"field": field,
                                     "found": None if value is None else type(value).__name__}}
        elif not value.strip():
            drops[pos] = {"reason": "empty", "detail": {"field": field}}
        elif len(value) > MAX_FIELD_CHARS:
            drops[pos] = {"reason": "too_long", "detail": {"field": field, "chars": len(value),
                                                            "max": MAX_FIELD_CHARS}}
        else:
            candidates.append(pos)
    return drops, candidates


def score_rows(rows: list[tuple[int, str, dict]], candidates: list[int],
               score_field: str | None) -> dict[int, float | None]:
    """Each candidate's ``score_field`` value (none without a score field)."""
    if not score_field:
        return {}
    return {pos: Fields(instruction="", row=rows[pos][2]).score(score_field)
            for pos in candidates}


def write_result(rows: list[tuple[int, str, dict]], drops: dict[int, dict], out_path: Path,
                 tokenizer: str, started: float) -> DedupReport:
    """Kept rows to ``out_path``, dropped rows with their ``_drop`` beside it (both or
    neither), and the report."""
    kept_lines, rejected_lines = [], []
    by_reason: dict[str, int] = {}
    for pos, (_lineno, line, obj) in enumerate(rows):
        drop = drops.get(pos)
        if drop is None:
            kept_lines.append(line)
            continue
        by_reason[drop["reason"]] = by_reason.get(drop["reason"], 0) + 1
        rejected_lines.append(json.dumps({**obj, "_drop": drop}, ensure_ascii=False))
    rej_path = rejected_path_for(out_path)
    write_atomically([(out_path, kept_lines), (rej_path, rejected_lines)])
    return DedupReport(rows_in=len(rows), kept=len(kept_lines),
                       dropped_by_reason=dict(sorted(by_reason.items())),
                       tokenizer=tokenizer, seconds=round(time.perf_counter() - started, 3),
                       out_path=str(out_path), rejected_path=str(rej_path))


def dedup_file(in_path: str | os.PathLike, out_path: str | os.PathLike,
               field: str = "instruction", threshold: float = 0.7,
               tokenizer: str = "auto", lang: str | None = None,
               on_progress: Callable[[int, int], None] | None = None,
               keep: str = "first", score_field: str | None = None) -> DedupReport:
    """Greedy near-duplicate removal on `field` of a JSONL file (first occurrence wins,
    or the best-scored with ``keep="best"``).

    Raises TaneError for unreadable/malformed input (path and line), an unknown
    tokenizer, keep/score_field that do not fit, or an output directory that does not
    exist; nothing is written then.
    """
    check_keep(keep, score_field)
    started = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    index = NoveltyIndex(tokenizer=tokenizer, lang=lang, threshold=threshold, top_k=1)
    check_output(out_path)
    rows = read_rows(in_path, field)
    drops, candidates = screen_rows(rows, field)

    scores = score_rows(rows, candidates, score_field)
    if score_field:
        candidates.sort(key=lambda p: (scores[p] is None, -(scores[p] or 0.0), p))
    texts = [rows[pos][2][field] for pos in candidates]
    results = index.check_batch_and_add(texts, keys=candidates, on_progress=on_progress)
    for pos, res in zip(candidates, results):
        if res.keep:
            continue
        other = res.top[0][0]
        other_line, _, other_obj = rows[other]
        detail = {"score": res.max_score, "similar_to": row_ref(other_line, other_obj),
                  "similar_line": other_line, "similar_text": other_obj[field]}
        if score_field:
            detail.update(keep="best", score_field=score_field, own_score=scores[pos],
                          kept_score=scores[other])
        drops[pos] = {"reason": "near_duplicate", "detail": detail}

    return write_result(rows, drops, out_path, index.tokenizer_name, started)
