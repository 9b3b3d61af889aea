"""Human review decisions: persistent revisions and how they shape a run's outputs.

The ``ledger`` in ``run.sqlite`` is rebuilt by replay on every run, so human decisions live
in their own ``revisions`` table, which no rerun clears. Each revision says, for one record,
``keep``, ``drop`` or ``edit`` (with the reviewed instruction/input/output), a note, and the
file it came from (name + sha256).

The machine output is kept untouched beside the reviewed one::

    dataset.machine.jsonl / rejected.machine.jsonl   what the pipeline produced
    dataset.jsonl / rejected.jsonl                   the same with the latest revisions

so applying revisions is idempotent (always from the machine copy), ``tane review import``
rewrites the outputs without rerunning any model (:mod:`tane.store.revision_commit`, which
commits the revisions and the files as one), and a resumed ``tane run`` ends with the
reviewed dataset too (:func:`write_outputs`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import TaneError
from ..schema import Record, dumps
from .files import file_set, read_jsonl
from .revision_table import (FIELDS, STATUSES, add_revisions, all_revisions,  # noqa: F401
                             clear_outputs_due, latest_revisions)
from .rundir import RunDir

MACHINE_DATASET = "dataset.machine.jsonl"
MACHINE_REJECTED = "rejected.machine.jsonl"
REJECTED_PREFIX = "rejected:"  # a machine drop's review id: rejected:LINE


# -- applying -------------------------------------------------------------------------
def _as_dict(rec: Record | dict[str, Any]) -> dict[str, Any]:
    return rec.model_dump(mode="json") if isinstance(rec, Record) else json.loads(dumps(rec))


def apply_revisions(records: Iterable[Record | dict[str, Any]],
                    drops: Iterable[dict[str, Any]],
                    revisions: dict[str, dict[str, Any]]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The machine ``records``/``drops`` with each record's latest revision applied.

    Reviewed fields that differ replace the record's (``edit``; a ``keep`` after an edit
    keeps it); ``drop`` moves the record to the drops (stage
    ``review``, reason ``human``); every reviewed record's provenance gets ``human_review``
    (revision, status, note, source, and for edits the original fields). A keep or edit
    on ``rejected:N`` revives the N-th machine drop as a record (provenance
    ``human_review.revived``). Inputs are not modified; revisions for other ids not in
    ``records`` are ignored."""
    out_records: list[dict[str, Any]] = []
    out_drops = [dict(d) for d in drops]
    machine_drops = out_drops[:]
    for rec in records:
        r = _as_dict(rec)
        rev = revisions.get(r.get("id"))
        if rev is None:
            out_records.append(r)
            continue
        review: dict[str, Any] = {"revision": rev["revision"], "status": rev["status"],
                                  "note": rev.get("note") or "",
                                  "source": rev.get("source") or "",
                                  "source_sha256": rev.get("source_sha256") or ""}
        original = {k: r.get(k) for k in FIELDS}
        changed = False
        for k, v in (rev.get("fields") or {}).items():
            if k not in FIELDS or (v or "") == (r.get(k) or ""):
                continue  # unchanged (keeps a missing output as null)
            r[k] = v if v is not None else ("" if k != "output" else None)
            changed = True
        if changed or rev["status"] == "edit":
            review["original"] = original
        prov = dict(r.get("provenance") or {})
        prov["human_review"] = review
        r["provenance"] = prov
        if rev["status"] == "drop":
            out_drops.append({"stage": "review", "record_id": r.get("id"), "reason": "human",
                              "detail": {"note": review["note"],
                                         "revision": rev["revision"], "record": r},
                              "text": r.get("instruction") or ""})
        else:
            out_records.append(r)
    revived, gone = _revived(machine_drops, revisions)
    return out_records + revived, [d for i, d in enumerate(out_drops) if i not in gone]


def drop_fields(drop: dict[str, Any]) -> dict[str, Any]:
    """The instruction, input and output of a machine drop as the pipeline dropped it:
    the instruction is the drop's ``text``, the input and output the record the stage
    judged (``detail.record``; empty for a drop made before there was one)."""
    detail = drop.get("detail") if isinstance(drop.get("detail"), dict) else {}
    seen = detail.get("record") if isinstance(detail.get("record"), dict) else {}
    return {"instruction": drop.get("text") or "", "input": seen.get("input") or "",
            "output": seen.get("output")}


def _revived(drops: list[dict[str, Any]], revisions: dict[str, dict[str, Any]]
             ) -> tuple[list[dict[str, Any]], set[int]]:
    """Machine drops a review kept (a keep or edit revision on ``rejected:N``, N the
    drop's line in ``rejected.machine.jsonl``), as records whose provenance says so, and
    the indexes of those drops."""
    out, gone = [], set()
    for rid, rev in revisions.items():
        n = rid[len(REJECTED_PREFIX):] if rid.startswith(REJECTED_PREFIX) else ""
        if not n.isdigit() or not 1 <= int(n) <= len(drops) or rev["status"] == "drop":
            continue
        d = drops[int(n) - 1]
        fields = drop_fields(d)
        original = dict(fields)
        for k, v in (rev.get("fields") or {}).items():
            if k in FIELDS and v is not None:
                fields[k] = v
        review = {"revision": rev["revision"], "status": rev["status"],
                  "note": rev.get("note") or "", "source": rev.get("source") or "",
                  "source_sha256": rev.get("source_sha256") or "", "original": original,
                  "revived": {"stage": d.get("stage"), "reason": d.get("reason"),
                              "rejected_line": int(n)}}
        out.append({"id": d.get("record_id") or rid, **fields,
                    "provenance": {"method": str(d.get("stage") or ""),
                                   "human_review": review}})
        gone.add(int(n) - 1)
    return out, gone


# -- files ----------------------------------------------------------------------------
def machine_output(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pipeline's own records and drops, before any human revision. Run directories
    written before review existed have no machine copy: their dataset.jsonl is it."""
    d = Path(run_dir)
    ds = d / MACHINE_DATASET if (d / MACHINE_DATASET).exists() else d / "dataset.jsonl"
    if not ds.exists():
        raise TaneError(f"no dataset.jsonl in {d}: is it a tane run directory "
                        "(and has the run finished)?", path=str(d))
    rj = d / MACHINE_REJECTED if (d / MACHINE_DATASET).exists() else d / "rejected.jsonl"
    return read_jsonl(ds), read_jsonl(rj)


def reviewed_output(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                  dict[str, dict[str, Any]]]:
    """The pipeline's own records and drops (`machine_output`) and the latest revision of
    each reviewed record, by id."""
    records, drops = machine_output(run_dir)
    rd = RunDir(run_dir)
    try:
        return records, drops, rd.latest_revisions()
    finally:
        rd.close()


def run_id(run_dir: str | Path) -> str:
    """Identifies a run's machine output: sha256 of the manifest's recipe and the machine
    records (canonical JSON). Unchanged by reviews; changed by a rerun that produces other
    records."""
    d = Path(run_dir)
    recipe: Any = {}
    manifest = d / "manifest.json"
    if manifest.exists():
        try:
            recipe = json.loads(manifest.read_text(encoding="utf-8")).get("recipe") or {}
        except json.JSONDecodeError:
            recipe = {}
    records, _ = machine_output(d)
    h = hashlib.sha256()
    for obj in [recipe, *records]:
        h.update(json.dumps(obj, ensure_ascii=False, sort_keys=True,
                            separators=(",", ":")).encode("utf-8") + b"\n")
    return h.hexdigest()


def write_outputs(rd: RunDir, records: Iterable[Record | dict[str, Any]],
                  drops: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """Write the machine copies, then dataset.jsonl / rejected.jsonl with the latest
    revisions applied. ``rd`` is an open :class:`~tane.store.rundir.RunDir`. The four
    files are written as one set: an error midway (a full disk) leaves the old ones.
    Clears the mark of files a killed review import left due."""
    with file_set():
        out = _write_outputs(rd, records, drops)
    clear_outputs_due(rd.db)
    return out


def _write_outputs(rd: RunDir, records: Iterable[Record | dict[str, Any]],
                   drops: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                              list[dict[str, Any]]]:
    recs = [_as_dict(r) for r in records]
    drops = list(drops)
    rec_lines = [dumps(r) for r in recs]
    drop_lines = [dumps(d) for d in drops]
    rd.write_jsonl(MACHINE_DATASET, rec_lines)
    rd.write_jsonl(MACHINE_REJECTED, drop_lines)
    revisions = rd.latest_revisions()
    if not revisions:  # nothing reviewed: the same lines (apply_revisions would copy them)
        rd.write_jsonl("dataset.jsonl", rec_lines)
        rd.write_jsonl("rejected.jsonl", drop_lines)
        return recs, [dict(d) for d in drops]
    final, final_drops = apply_revisions(recs, drops, revisions)
    rd.write_jsonl("dataset.jsonl", (dumps(r) for r in final))
    rd.write_jsonl("rejected.jsonl", (dumps(d) for d in final_drops))
    return final, final_drops


def rewrite_outputs(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rewrite dataset.jsonl / rejected.jsonl from the machine output and the latest
    revisions, without running any model. Idempotent. (New revisions and these files
    are committed as one by :func:`tane.store.revision_commit.commit_revisions`.)"""
    records, drops = machine_output(run_dir)
    rd = RunDir(run_dir)
    try:
        return write_outputs(rd, records, drops)
    finally:
        rd.close()
