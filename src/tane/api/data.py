"""``tane.curate``, ``tane.dedup`` and ``tane.export``: the file commands, from Python.

``curate`` and ``dedup`` are ``tane curate`` and ``tane dedup`` (the same functions,
:func:`tane.curate.apply.curate_file` and :func:`tane.curate.dedup.dedup_file`, so the
same decisions and reasons). Their input is a file (anything ``tane curate`` reads) or a
list of dicts:

- with ``output``, the kept rows are written there and the dropped ones, each with
  ``_drop: {reason, detail}``, to ``<stem>.rejected.jsonl`` beside it;
- without it, nothing is written where you can see it: the result holds the rows.

Either way the result (:class:`DataResult`) has ``kept`` and ``dropped`` lists (read
from the files on first use when they were written). For a list, ``kept`` holds the
very dicts you passed, and ``dropped`` copies of them with ``_drop`` added; an error in
a row names it ``<rows>`` with the row's number (1-based) as its line.

``export`` is ``tane export``: a run directory's kept records in a training format, with
the dataset card.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TaneError
from ..store.files import read_jsonl

# each function imports what it uses: ``tane export`` does not load the curate steps
if TYPE_CHECKING:
    from ..export.base import ExportReport

Rows = str | os.PathLike | Iterable[Mapping[str, Any]]
Steps = str | os.PathLike | Mapping[str, Any] | Sequence[Any]  # or a recipe's CurateStage
ROW_KEY = "_tane_row"      # where a list row's position rides through the files
ROWS = "<rows>"            # how errors name a list given in memory
_FIELD_FLAG = re.compile(r"--field (\w+)=([^\s;,)]+)")
_DEDUP_FIELD_FLAG = re.compile(r"--field ([^\s;,)=]+)")


@dataclass
class DataResult:
    """What ``curate`` / ``dedup`` decided: counts, the kept and dropped rows, and the
    files when ``output`` was given (``out_path``, ``rejected_path``)."""

    rows_in: int
    dropped_by_reason: dict[str, int]
    seconds: float
    out_path: Path | None = None
    rejected_path: Path | None = None
    tokenizer: str | None = None   # dedup: the tokenizer ``auto`` chose
    _kept: list[dict[str, Any]] | None = field(default=None, repr=False)
    _dropped: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def kept(self) -> list[dict[str, Any]]:
        if self._kept is None:
            self._kept = read_jsonl(self.out_path) if self.out_path else []
        return self._kept

    @property
    def dropped(self) -> list[dict[str, Any]]:
        if self._dropped is None:
            self._dropped = (read_jsonl(self.rejected_path, missing_ok=True)
                             if self.rejected_path else [])
        return self._dropped

    @property
    def kept_count(self) -> int:
        return self.rows_in - sum(self.dropped_by_reason.values())

    def __repr__(self) -> str:
        drops = ", ".join(f"{k}: {v}" for k, v in self.dropped_by_reason.items()) or "none"
        return (f"DataResult(rows_in={self.rows_in}, kept={self.kept_count}, "
                f"dropped={{{drops}}})")


# -- the input: a file, or rows in memory through temporary files ----------------------
class _Staged:
    """A list of dicts written to a temporary JSONL file (each with its position), and a
    temporary output beside it; ``finish`` maps the files back to the caller's dicts."""

    def __init__(self, rows: Iterable[Mapping[str, Any]] | None, tmp: Path):
        self.rows: list[Mapping[str, Any]] | None = None
        self.input: Path | None = None
        if rows is not None:
            self.rows = list(rows)
            self.input = tmp / "rows.jsonl"
            with open(self.input, "w", encoding="utf-8", newline="\n") as fh:
                for i, row in enumerate(self.rows):
                    if not isinstance(row, Mapping):
                        raise TaneError(f"expected a dict, got {type(row).__name__}",
                                        path=ROWS, line=i + 1)
                    try:
                        line = json.dumps({**row, ROW_KEY: i}, ensure_ascii=False)
                    except (TypeError, ValueError) as e:
                        raise TaneError(f"not JSON-serialisable: {e}", path=ROWS,
                                        line=i + 1) from None
                    fh.write(line + "\n")
        self.output = tmp / "out.jsonl"

    def rename(self, e: TaneError) -> TaneError:
        """An error about the temporary input, said of the caller's rows (without the
        column that carries their positions)."""
        if self.input is not None and e.path == str(self.input):
            msg = e.message.replace(f", {ROW_KEY}", "").replace(f"{ROW_KEY}, ", "")
            return TaneError(msg, path=ROWS, line=e.line, field=e.field)
        return e

    def finish(self, res: DataResult) -> DataResult:
        from ..curate.dedup import rejected_path_for

        kept = read_jsonl(self.output)
        dropped = read_jsonl(rejected_path_for(self.output), missing_ok=True)
        if self.rows is not None:
            kept = [self.rows[r[ROW_KEY]] for r in kept]  # type: ignore[misc]
            dropped = [{**self.rows[r[ROW_KEY]], "_drop": r["_drop"]} for r in dropped]
        res._kept, res._dropped = kept, dropped  # type: ignore[assignment]
        res.out_path = res.rejected_path = None
        return res


def _is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


def _run(data: Rows, output: str | os.PathLike | None,
         call: Callable[[Path, Path], DataResult]) -> DataResult:
    from ..curate.dedup import rejected_path_for, write_atomically

    if _is_path(data) and output is not None:
        return call(Path(data), Path(output))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="tane-") as tmp:
        staged = _Staged(None if _is_path(data) else data, Path(tmp))  # type: ignore[arg-type]
        try:
            res = call(staged.input or Path(data), staged.output)  # type: ignore[arg-type]
        except TaneError as e:
            raise staged.rename(e) from None
        res = staged.finish(res)
        if output is not None:  # rows in memory, files wanted too
            out = Path(output)
            if not out.parent.is_dir():
                raise TaneError("output directory does not exist", path=str(out.parent))
            write_atomically([(path, [json.dumps(r, ensure_ascii=False, default=str)
                                       for r in rows])
                               for path, rows in ((out, res.kept),
                                                  (rejected_path_for(out), res.dropped))])
            res.out_path, res.rejected_path = out, rejected_path_for(out)
        return res


# -- curate ------------------------------------------------------------------------------
def _curate_config(steps: Steps, lang: str | None) -> dict[str, Any] | Path:
    """A CURATE.yaml path as it is, or ``{"lang", "steps"}`` from the other forms."""
    from ..recipe import CurateStage

    if _is_path(steps):
        if lang is not None:
            raise TaneError("lang comes from the CURATE.yaml file; give steps as a list "
                            "to set it here", field="lang")
        return Path(steps)  # type: ignore[arg-type]
    if isinstance(steps, CurateStage):
        data: dict[str, Any] = {"lang": steps.lang,
                                "steps": [s.model_dump() for s in steps.steps]}
    elif isinstance(steps, Mapping):
        data = dict(steps)
    elif isinstance(steps, Sequence):
        data = {"steps": [s if isinstance(s, Mapping) else
                          (s.model_dump() if hasattr(s, "model_dump") else s)
                          for s in steps]}
    else:
        raise TaneError("steps: a CURATE.yaml path, a list of steps, a dict with lang and "
                        f"steps, or a curate stage, not {type(steps).__name__}",
                        field="steps")
    if lang is not None:
        data["lang"] = lang
    return data


def _check_config(data: dict[str, Any], seeds: Sequence[Any]) -> None:
    """The errors a CURATE.yaml would give, said of the steps given in code."""
    from pydantic import ValidationError

    from ..curate.apply import CurateConfig
    from ..curate.stage import build_steps

    try:
        cfg = CurateConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise TaneError(msg, field=".".join(str(x) for x in err["loc"]) or None) from None
    build_steps(cfg.lang, cfg.steps, seeds)


def curate(data: Rows, steps: Steps, output: str | os.PathLike | None = None, *,
           lang: str | None = None, seeds: str | Sequence[Any] | None = None,
           seeds_format: str = "auto", fields: Mapping[str, str] | None = None,
           split: str | None = None) -> DataResult:
    """Apply curate steps (see docs/curation.md) to ``data``; a row is dropped at the
    first step that fails, with its reason.

    ``steps``: a CURATE.yaml path, a list of steps (``{"name": "length", ...}``), a dict
    ``{"lang": ..., "steps": [...]}`` or a recipe's curate stage; ``lang`` (ja, en or
    any; default ja) sets the language of steps given in code. ``seeds``: a seed file or
    ``"bundled:ja"`` (or loaded seeds), for the ``seed_copy`` step. ``fields`` maps
    other column names: ``{"instruction": "prompt", "output": "response"}``. ``split``
    picks a split of a dataset directory."""
    from ..curate.apply import curate_file
    from ..seeds.loader import load_seeds

    seed_items = (load_seeds(seeds, seeds_format) if isinstance(seeds, (str, os.PathLike))
                  else list(seeds or ()))
    config = _curate_config(steps, lang)
    if isinstance(config, dict):
        _check_config(config, seed_items)

    def call(inp: Path, out: Path) -> DataResult:
        with tempfile.TemporaryDirectory(prefix="tane-") as tmp:
            if isinstance(config, dict):
                recipe = Path(tmp) / "curate.json"  # JSON is YAML
                recipe.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
            else:
                recipe = config
            try:
                rep = curate_file(inp, recipe, out, seeds=seed_items,
                                  field_map=dict(fields or {}), split=split)
            except TaneError as e:  # the command's --field is this function's fields=
                raise TaneError(_FIELD_FLAG.sub(r'fields={"\1": "\2"}', e.message),
                                path=e.path, line=e.line, field=e.field) from None
        return DataResult(rep.rows_in, rep.dropped_by_reason, rep.seconds, Path(rep.out_path),
                          Path(rep.rejected_path))

    return _run(data, output, call)


# -- dedup -------------------------------------------------------------------------------
LSH_KEYS = ("exact", "jaccard", "resolve", "shards", "bands", "rows", "executor", "address")


def dedup(data: Rows, output: str | os.PathLike | None = None, *, field: str = "instruction",
          threshold: float = 0.7, tokenizer: str = "auto", lang: str | None = None,
          keep: str = "first", score_field: str | None = None,
          progress: Callable[[int, int], None] | None = None, method: str = "exact",
          lsh: Mapping[str, Any] | None = None) -> DataResult:
    """Drop near-duplicates of ``field``: greedy ROUGE-L, a row whose F against an
    earlier kept row is above ``threshold`` is dropped (``near_duplicate``, with the
    row it resembles). ``keep="best"`` with ``score_field`` (a dotted path such as
    ``judge.quality``) keeps the best-scored row of each group. ``tokenizer``: auto,
    char, morph, whitespace or rouge. ``progress(done, total)`` is called as rows are
    compared. The input is JSONL (a file) or a list of dicts.

    ``method="minhash-lsh"`` is ``tane dedup --method minhash-lsh`` for large inputs:
    ``lsh`` holds its options (``exact``, ``jaccard``, ``resolve``, ``shards``,
    ``bands``, ``rows``, ``executor``, ``address``; see docs/scale.md)."""
    if method not in ("exact", "minhash-lsh"):
        raise TaneError(f"method must be exact or minhash-lsh, got {method!r}",
                        field="method")
    options = dict(lsh or {})
    if method == "exact" and options:
        raise TaneError("lsh options are for method='minhash-lsh'", field="lsh")
    unknown = sorted(set(options) - set(LSH_KEYS))
    if unknown:
        raise TaneError(f"unknown lsh option {unknown[0]!r} (known: {', '.join(LSH_KEYS)})",
                        field="lsh")
    if method == "minhash-lsh" and progress is not None:
        raise TaneError("progress is reported by method='exact' only", field="progress")

    try:
        return dedup_as_command(data, output, field=field, threshold=threshold,
                                tokenizer=tokenizer, lang=lang, keep=keep,
                                score_field=score_field, progress=progress, method=method,
                                lsh=options)
    except TaneError as e:  # the command's --field is this function's field=
        raise TaneError(_DEDUP_FIELD_FLAG.sub(r'field="\1"', e.message),
                        path=e.path, line=e.line, field=e.field) from None


def dedup_as_command(data: Rows, output: str | os.PathLike | None, *, field: str,
                     threshold: float, tokenizer: str, lang: str | None, keep: str,
                     score_field: str | None, progress: Callable[[int, int], None] | None,
                     method: str, lsh: Mapping[str, Any]) -> DataResult:
    """:func:`dedup` with its errors in the words of ``tane dedup`` (``--field``)."""
    options = lsh

    def call(inp: Path, out: Path) -> DataResult:
        if method == "exact":
            from ..curate.dedup import dedup_file

            rep = dedup_file(inp, out, field=field, threshold=threshold, tokenizer=tokenizer,
                             lang=lang, on_progress=progress, keep=keep,
                             score_field=score_field)
        else:
            from ..curate.lsh import LSHParams
            from ..curate.lsh_dedup import LSHOptions, dedup_file_lsh

            o = options
            params = LSHParams(bands=o.get("bands", 32), rows=o.get("rows", 4),
                               tokenizer=tokenizer, lang=lang)
            opts = LSHOptions(threshold=threshold, exact=o.get("exact", False),
                              jaccard=o.get("jaccard"), resolve=o.get("resolve", "greedy"),
                              shards=o.get("shards", 1), params=params)
            rep = dedup_file_lsh(inp, out, field=field, opts=opts,
                                 executor=o.get("executor", "local"), keep=keep,
                                 score_field=score_field, address=o.get("address"))
        return DataResult(rep.rows_in, rep.dropped_by_reason, rep.seconds, Path(rep.out_path),
                          Path(rep.rejected_path), tokenizer=rep.tokenizer)

    return _run(data, output, call)


# -- export ------------------------------------------------------------------------------
def export(run_dir: str | os.PathLike, format: str, to: str | os.PathLike, *,
           system: str | None = None, val_ratio: float = 0.0, seed: int = 0,
           card: bool = True, commercial: bool = True, name: str | None = None,
           trainer: str | None = None, base_model: str | None = None,
           push_to_hub: str | None = None, private: bool = True,
           **options: Any) -> ExportReport:
    """Write the kept records of ``run_dir`` (a run directory, or the result of
    ``tane.run``) to ``to`` (.jsonl or .parquet) in ``format``: messages (TRL),
    alpaca, sharegpt (LLaMA-Factory, with its dataset_info.json entry) or jsonl; with
    the dataset card README.md and, when a licence asks for one, NOTICE beside it.
    ``val_ratio`` splits off a validation file, stratified by seed; ``commercial=False``
    stops the card warning about non-commercial sources. ``name``: the dataset's name
    (default: the recipe's). ``trainer`` ("trl" or "llamafactory") with ``base_model``
    also writes a LoRA SFT config and its start script (``tane export --for``).
    ``push_to_hub="owner/name"`` uploads the files (needs ``HF_TOKEN``; checked before
    anything is written). Other ``options`` go to the exporter as they are."""
    from ..export.formats import export as export_run
    from ..export.formats import push_to_hub as push

    if push_to_hub:
        push(None, push_to_hub, check_only=True)
    rep = export_run(Path(run_dir), format, Path(to), system=system, val_ratio=val_ratio,
                     seed=seed, card=card, commercial=commercial, name=name,
                     trainer=trainer, base_model=base_model, **options)
    if push_to_hub:
        push(rep, push_to_hub, private=private)
    return rep


__all__ = ["DataResult", "curate", "dedup", "export"]
