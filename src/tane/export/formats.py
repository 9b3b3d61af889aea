"""``tane export``: a run directory's ``dataset.jsonl`` in the formats trainers read.

* ``messages``: TRL's chat format, ``{"messages": [{"role", "content"}, ...]}``.
* ``alpaca`` / ``sharegpt``: LLaMA-Factory's two formats, with the ``dataset_info.json``
  entry that registers the file written beside it, named after the dataset (``--name``,
  else the recipe's name, else the run directory's): ``NAME`` for the training file and
  ``NAME_validation`` for a validation split.
* ``jsonl``: tane's own records, provenance included (in Parquet the provenance is one JSON
  string column, so every split has the same schema).

The output is JSONL or Parquet by the extension of the target path; UTF-8 without ``\\u``
escapes, written atomically. Records without an output are skipped and counted.

``--for trl|llamafactory`` also writes a LoRA SFT config and its start script beside the
data (:mod:`.train_configs`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from ..config.magpie import MagpieOrigin
from ..errors import TaneError
from ..provenance import Provenance
from ..schema import dumps
from ..store.files import atomic_write, file_set
from .base import ExportReport, RunData, load_run, read_json, write_json, write_text
from .card import check_card_target, write_card
from .train_configs import check as check_trainer
from .train_configs import dataset_name, write_train_config

FORMATS = ("messages", "alpaca", "sharegpt", "jsonl")
SUFFIXES = (".jsonl", ".parquet")


# -- conversion -----------------------------------------------------------------------
def user_text(rec: dict[str, Any]) -> str:
    inp = rec.get("input") or ""
    return rec["instruction"] + ("\n\n" + inp if inp else "")


def turns(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """(user, assistant) pairs. A multi-turn record (Magpie ``turns > 1``) keeps its later
    turns in its origin's ``messages`` (:class:`~tane.config.magpie.MagpieOrigin`); the first pair is always the record's own fields, so
    a human edit of the first turn is what gets exported."""
    first = (user_text(rec), rec["output"])
    msgs = [m for m in Provenance.of_row(rec).origin(MagpieOrigin).messages
            if m.get("role") in ("user", "assistant")]
    if len(msgs) <= 2:
        return [first]
    later = [(u["content"], a["content"]) for u, a in zip(msgs[2::2], msgs[3::2])
             if u.get("role") == "user" and a.get("role") == "assistant"]
    return [first] + later


def convert(rec: dict[str, Any], fmt: str, system: str | None = None) -> dict[str, Any]:
    pairs = turns(rec) if fmt != "jsonl" else []
    if fmt == "messages":
        msgs = [{"role": "system", "content": system}] if system else []
        for u, a in pairs:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        return {"messages": msgs}
    if fmt == "alpaca":
        if len(pairs) > 1:  # LLaMA-Factory: earlier turns as history, the last one as the row
            (u, a), history = pairs[-1], [list(p) for p in pairs[:-1]]
            return {"instruction": u, "input": "", "output": a, "system": system or "",
                    "history": history}
        return {"instruction": rec["instruction"], "input": rec.get("input") or "",
                "output": rec["output"], "system": system or "", "history": []}
    if fmt == "sharegpt":
        conv = []
        for u, a in pairs:
            conv += [{"from": "human", "value": u}, {"from": "gpt", "value": a}]
        return {"conversations": conv, "system": system or ""}
    if fmt == "jsonl":
        return dict(rec)
    raise TaneError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})",
                    field="format")


def dataset_info_entry(fmt: str, file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json`` description of one exported file."""
    if fmt == "alpaca":
        return {"file_name": file_name, "formatting": "alpaca",
                "columns": {"prompt": "instruction", "query": "input", "response": "output",
                            "system": "system", "history": "history"}}
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system"},
                "tags": {"role_tag": "from", "content_tag": "value",
                         "user_tag": "human", "assistant_tag": "gpt"}}
    raise ValueError(fmt)


# -- split ----------------------------------------------------------------------------
def seed_group(rec: dict[str, Any]) -> str:
    ids = Provenance.of_row(rec).seed_ids
    return ids[0] if ids else "none"


def split_records(records: list[dict[str, Any]], val_ratio: float, seed: int
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stratified by the first seed id. The validation set gets ``round(N * ratio)``
    records: each group gives ``floor(len * ratio)``, and the rest goes one each to the
    groups with the largest remainders (ties in a seeded order); a group's records are
    picked with ``random.Random(f"{seed}:{group}")``. Train keeps at least one record when
    N > 1. Both lists keep the input order."""
    if not 0.0 <= val_ratio < 1.0:
        raise TaneError(f"--val-ratio must be in [0, 1), got {val_ratio}", field="val_ratio")
    groups: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault(seed_group(rec), []).append(i)
    total = int(len(records) * val_ratio + 0.5)
    if total >= len(records) > 1:
        total = len(records) - 1
    names = sorted(groups)
    quota = {g: int(len(groups[g]) * val_ratio) for g in names}
    order = names[:]
    random.Random(f"{seed}:order").shuffle(order)
    order.sort(key=lambda g: -(len(groups[g]) * val_ratio - quota[g]))  # stable
    for g in order[:max(0, total - sum(quota.values()))]:
        quota[g] += 1
    val: set[int] = set()
    for g in names:
        val.update(random.Random(f"{seed}:{g}").sample(groups[g], quota[g]))
    return ([r for i, r in enumerate(records) if i not in val],
            [r for i, r in enumerate(records) if i in val])


# -- writing --------------------------------------------------------------------------
def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TaneError("writing Parquet needs pyarrow: run `pip install pyarrow` "
                        "(or `pip install datasets`), or export to .jsonl") from None
    return pa, pq


def write_rows(target: Path, rows: list[dict[str, Any]], fmt: str) -> Path:
    if target.suffix == ".jsonl":
        return write_text(target, "".join(dumps(r) + "\n" for r in rows))
    pa, pq = _pyarrow()
    if fmt == "jsonl":  # nested, open-ended provenance: one JSON string column
        rows = [r | {"provenance": dumps(r.get("provenance") or {})} for r in rows]
    table = pa.Table.from_pylist(rows)
    atomic_write(target, lambda tmp: pq.write_table(table, tmp))
    return target


def split_path(path: Path, split: str) -> Path:
    return path.with_name(f"{path.stem}.{split}{path.suffix}")


def check_target(to: Path) -> None:
    if to.suffix not in SUFFIXES:
        raise TaneError(f"the output path must end in .jsonl or .parquet, got '{to.name}'",
                        path=str(to))


def export(run_dir: str | Path, fmt: str, to: str | Path, **options: Any) -> ExportReport:
    """Write the export (see `_export`) as one set of files: an error midway, a full disk
    included, leaves what was there before (no new data file without its card)."""
    with file_set():
        return _export(run_dir, fmt, to, **options)


def _export(run_dir: str | Path, fmt: str, to: str | Path, *, system: str | None = None,
           val_ratio: float = 0.0, seed: int = 0, card: bool = True,
           commercial: bool = True, name: str | None = None, trainer: str | None = None,
           base_model: str | None = None) -> ExportReport:
    """Write ``run_dir``'s kept records to ``to`` in ``fmt`` (plus the LLaMA-Factory
    ``dataset_info.json`` entry, the dataset card README.md and, when a licence asks for
    one, a NOTICE file, all beside it). ``trainer`` ("trl" or "llamafactory") with
    ``base_model`` also writes a LoRA SFT config and its start script there."""
    to = Path(to)
    if fmt not in FORMATS:
        raise TaneError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})",
                        field="format")
    check_target(to)
    if trainer is not None:
        check_trainer(trainer, fmt, base_model)
    if card:
        check_card_target(to.parent)
    run = load_run(run_dir)
    usable = [r for r in run.records if (r.get("output") or "").strip()]
    if not usable:
        raise TaneError(_nothing_to_export(run.path, len(run.records)),
                        path=str(run.path / "dataset.jsonl"))
    report = ExportReport(fmt, skipped_no_output=len(run.records) - len(usable))
    report.name = dataset_name(name or (run.manifest.get("recipe") or {}).get("name")
                               or run.path.resolve().name)
    if val_ratio > 0:
        train, val = split_records(usable, val_ratio, seed)
        parts = {"train": (split_path(to, "train"), train),
                 "validation": (split_path(to, "validation"), val)}
    else:
        split_records(usable, val_ratio, seed)  # validates the ratio
        parts = {"train": (to, usable)}
    for split, (path, recs) in parts.items():
        write_rows(path, [convert(r, fmt, system) for r in recs], fmt)
        report.files[split] = path
        report.counts[split] = len(recs)
    if fmt in ("alpaca", "sharegpt"):
        info_path = to.parent / "dataset_info.json"
        info = read_json(info_path)
        for split, path in report.files.items():
            key = report.name if split == "train" else f"{report.name}_{split}"
            old = (info.get(key) or {}).get("file_name")
            if old and old != path.name:
                report.warnings.append(f"{info_path}: entry '{key}' pointed at {old}, now at "
                                       f"{path.name} (use --name to keep both)")
            info[key] = dataset_info_entry(fmt, path.name)
        report.dataset_info = write_json(info_path, info)
    if trainer is not None:
        report.train = write_train_config(trainer, str(base_model), report.name,
                                          report.files, to.parent, report.counts["train"])
    if card:
        exported = RunData(run.path, usable, run.stats, run.manifest)
        write_card(exported, report, to.parent, commercial=commercial)
    return report


def _nothing_to_export(run_dir: Path, records: int) -> str:
    """Why an export would hold no record, and what to look at."""
    if records == 0:
        return (f"nothing to export: the run kept no records; see why with "
                f"tane show {run_dir} --no-kept; nothing was written")
    return (f"nothing to export: none of its {records} record(s) has an output (a recipe "
            "without an answer stage?); nothing was written")


def push_to_hub(report: ExportReport | None, repo: str, private: bool = True,
                check_only: bool = False) -> str:
    """Upload the exported files (data, card, NOTICE) to a Hugging Face dataset repo.
    Needs ``HF_TOKEN``; never reads any other credential. ``check_only``: only check that
    a push could start (token, library), before anything is written."""
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise TaneError("--push-to-hub needs a Hugging Face token in the HF_TOKEN "
                        "environment variable")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise TaneError("--push-to-hub needs huggingface_hub: run "
                        "`pip install datasets`") from None
    if check_only or report is None:
        return repo
    api = HfApi(token=token)
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    files = list(report.files.values()) + [p for p in (report.card, report.notice,
                                                       report.dataset_info) if p]
    for p in files:
        api.upload_file(path_or_fileobj=str(p), path_in_repo=p.name, repo_id=repo,
                        repo_type="dataset")
    report.pushed_to = repo
    return repo
