"""Rows for `tane curate` from any local dataset: JSONL, Parquet, or what `datasets` reads.

`read_rows(path, split)` returns ``(row number, original JSONL line or None, row dict)``
for every row, in order:

- JSONL (``*.jsonl``, ``*.ndjson`` and any suffix not listed below): read here (UTF-8,
  BOM tolerated); kept lines are written back byte for byte. Errors name the line.
- ``*.csv`` / ``*.tsv``: read as seed files are (``tane.seeds.loader``): UTF-8 with or
  without BOM, or CP932 as Japanese Excel saves it; the header row names the columns,
  every value is text and an empty cell is missing. Errors name the line.
- ``*.parquet``: pyarrow.
- a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``:
  ``datasets.load_from_disk`` (a DatasetDict needs ``--split`` unless it has ``train``
  or only one split).
- ``.json`` (an array or JSON Lines), ``.arrow``, or a directory of data files:
  ``datasets.load_dataset`` with the matching packaged builder, offline.

Nothing is fetched: a name that is not a local path (a Hub id such as ``owner/name``) is
an error that says how to save the dataset to disk first.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from tane.curate.rows import read_jsonl_rows
from tane.errors import TaneError
from tane.seeds.loader import read_csv_records

Row = tuple[int, "str | None", dict]
_BUILDERS = {".json": "json", ".arrow": "arrow"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _read_table(path: Path) -> list[Row]:
    """A CSV/TSV file, decoded as the seeds are; rows numbered from 1 after the header."""
    records = read_csv_records(path, str(path), "\t" if path.suffix.lower() == ".tsv" else ",")
    return _rows({k: (None if v == "" else v) for k, v in rec.items()}
                 for _loc, rec in records)


def _need_datasets(path: Path):
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        import datasets
    except ImportError:
        raise TaneError("reading this input needs the datasets package "
                        "(pip install datasets), or convert it to JSONL",
                        path=str(path)) from None
    return datasets


def _rows(items: Iterable[dict]) -> list[Row]:
    return [(i, None, dict(r)) for i, r in enumerate(items, start=1)]


def _read_parquet(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TaneError("reading Parquet needs pyarrow (pip install pyarrow), or convert "
                        "the file to JSONL", path=str(path)) from None
    try:
        return _rows(pq.read_table(path).to_pylist())
    except Exception as e:  # pyarrow raises several types for a bad file
        raise TaneError(f"cannot read Parquet: {e}", path=str(path)) from None


def _pick_split(dd: Any, split: str | None, path: Path):
    names = list(dd.keys())
    if split is not None:
        if split not in dd:
            raise TaneError(f"no split {split!r}; the dataset has {', '.join(names)}",
                            path=str(path), field="split")
        return dd[split]
    if "train" in dd:
        return dd["train"]
    if len(names) == 1:
        return dd[names[0]]
    raise TaneError(f"the dataset has splits {', '.join(names)}; choose one with --split",
                    path=str(path), field="split")


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file())


def _read_with_datasets(path: Path, split: str | None) -> list[Row]:
    datasets = _need_datasets(path)
    # load_dataset converts data files to Arrow in a cache: a temporary one, removed
    # once the rows are read, so curating leaves nothing behind
    with tempfile.TemporaryDirectory(prefix="tane-curate-") as cache:
        try:
            if path.is_dir() and _is_saved_dataset(path):
                ds = datasets.load_from_disk(str(path))
            elif path.is_dir():
                ds = datasets.load_dataset(str(path), cache_dir=cache)
            else:
                ds = datasets.load_dataset(_BUILDERS[path.suffix.lower()],
                                           data_files=str(path), cache_dir=cache)
        except Exception as e:  # datasets/pyarrow raise many types for unreadable data
            first = str(e).splitlines()[0] if str(e) else ""
            raise TaneError(f"cannot read the dataset: {type(e).__name__}: {first}",
                            path=str(path)) from None
        if isinstance(ds, (datasets.DatasetDict, dict)):
            ds = _pick_split(ds, split, path)
        elif split is not None and split != "train":
            raise TaneError(f"no split {split!r}; the dataset has one split",
                            path=str(path), field="split")
        if not isinstance(ds, datasets.Dataset):
            raise TaneError(f"not a dataset: {type(ds).__name__}", path=str(path))
        return _rows(ds)


def read_rows(path: str | os.PathLike, split: str | None = None) -> list[Row]:
    """Rows of a local dataset (see the module doc). Raises TaneError."""
    p = Path(path)
    if not p.exists():
        if _HUB_ID.match(str(path)) and not str(path).startswith((".", "/")):
            raise TaneError(f"no local file or directory {str(path)!r}; tane curate does "
                            "not download: save the dataset first, e.g. "
                            f"datasets.load_dataset({str(path)!r}).save_to_disk('DIR'), "
                            "and pass DIR", path=str(path))
        raise TaneError("file not found", path=str(path))
    suffix = p.suffix.lower()
    if p.is_dir() or suffix in _BUILDERS:
        return _read_with_datasets(p, split)
    if split is not None:
        raise TaneError("--split applies to dataset directories, not a single file",
                        path=str(p), field="split")
    if suffix in (".csv", ".tsv"):
        return _read_table(p)
    if suffix == ".parquet":
        return _read_parquet(p)
    return read_jsonl_rows(p)
