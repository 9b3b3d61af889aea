"""``tane dedup``, ``tane curate``, ``tane seeds`` and ``tane stats``: files in, files out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import TaneError
from .common import app, err, error_exit, out


@app.command()
def dedup(in_path: Path = typer.Argument(..., help="input JSONL"),
          output: Path = typer.Option(..., "-o", "--output", help="output JSONL"),
          field: str = typer.Option("instruction", help="field to compare"),
          threshold: float = typer.Option(0.7, help="drop when ROUGE-L F is above this"),
          tokenizer: str = typer.Option("auto", help="auto, char, morph, whitespace or rouge"),
          lang: Optional[str] = typer.Option(None, help="language for tokenizer 'auto' (default: "
                                                           "decided per text)"),
          keep: str = typer.Option("first", help="first: the earliest row of each group; "
                                                  "best: the highest --score-field"),
          score_field: Optional[str] = typer.Option(None, help="with --keep best: dotted "
                                                               "path of a number, e.g. "
                                                               "judge.quality (default: none)"),
          method: str = typer.Option("exact", help="exact: greedy ROUGE-L over all rows; "
                                                   "minhash-lsh: MinHash-LSH candidates "
                                                   "(docs/scale.md)"),
          exact: bool = typer.Option(False, "--exact", help="minhash-lsh: confirm candidate "
                                                            "pairs with exact ROUGE-L"),
          jaccard: Optional[float] = typer.Option(None, help="minhash-lsh without --exact: "
                                                             "estimated Jaccard to drop at "
                                                             "(default T/(2-T))"),
          resolve: str = typer.Option("greedy", help="minhash-lsh: greedy or component"),
          bands: int = typer.Option(32, help="minhash-lsh: bands"),
          rows: int = typer.Option(4, help="minhash-lsh: rows per band"),
          shards: int = typer.Option(1, help="minhash-lsh: signature shards"),
          executor: str = typer.Option("local", help="minhash-lsh: local or ray"),
          address: Optional[str] = typer.Option(None, help="minhash-lsh on ray: auto or "
                                                           "HOST:PORT (default: a local "
                                                           "Ray)")) -> None:
    """Drop near-duplicates (greedy ROUGE-L, the Self-Instruct novelty filter)."""
    from rich.progress import Progress

    from ..api.data import dedup_as_command as do_dedup

    if method != "exact":
        _dedup_lsh(in_path, output, field, threshold, tokenizer, lang, keep, score_field,
                   method, exact, jaccard, resolve, bands, rows, shards, executor, address)
        return
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("dedup", total=None)
        try:
            rep = do_dedup(in_path, output, field=field, threshold=threshold,
                           tokenizer=tokenizer, lang=lang, keep=keep, score_field=score_field,
                           progress=lambda done, total: bar.update(task, completed=done,
                                                                   total=total),
                           method="exact", lsh={})
        except TaneError as e:
            bar.stop()
            error_exit(e)
            return
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(rep.dropped_by_reason.items())) or "none"
    dropped = sum(rep.dropped_by_reason.values())
    out.print(f"{rep.rows_in} rows in, {rep.kept_count} kept, {dropped} dropped ({reasons}); "
              f"tokenizer {rep.tokenizer}; {rep.seconds:.2f}s")
    out.print(f"kept: {output}; dropped rows with reasons: "
              f"{output.with_name(output.stem + '.rejected.jsonl')}")


def _dedup_lsh(in_path, output, field, threshold, tokenizer, lang, keep, score_field,
               method, exact, jaccard, resolve, bands, rows, shards, executor, address
               ) -> None:
    try:
        if method != "minhash-lsh":
            raise TaneError(f"method must be exact or minhash-lsh, got {method!r}",
                            field="method")
        from ..curate.lsh import LSHParams
        from ..curate.lsh_dedup import LSHOptions, dedup_file_lsh

        opts = LSHOptions(threshold=threshold, exact=exact, jaccard=jaccard,
                          resolve=resolve, shards=shards,
                          params=LSHParams(bands=bands, rows=rows, tokenizer=tokenizer,
                                           lang=lang))
        rep = dedup_file_lsh(in_path, output, field=field, opts=opts, executor=executor,
                             keep=keep, score_field=score_field, address=address)
    except TaneError as e:
        error_exit(e)
        return
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(rep.dropped_by_reason.items())) or "none"
    how = "exact ROUGE-L" if exact else f"estimated Jaccard >= {opts.jaccard_threshold:.3f}"
    out.print(f"{rep.rows_in} rows in, {rep.kept} kept, "
              f"{sum(rep.dropped_by_reason.values())} dropped ({reasons}); minhash-lsh "
              f"{bands}x{rows} on {executor}, pairs confirmed by {how}, {resolve}; "
              f"tokenizer {rep.tokenizer}; {rep.seconds:.2f}s", highlight=False)
    out.print(f"kept: {output}; dropped rows with reasons: {rep.rejected_path}",
              highlight=False)


@app.command()
def curate(in_path: Path = typer.Argument(..., help="input: JSONL, Parquet, CSV/JSON, or a "
                                                    "local Hugging Face dataset directory "
                                                    "(save_to_disk or data files)"),
           recipe: Path = typer.Option(..., "--recipe", "-r",
                                       help="CURATE.yaml: lang and steps (curate_ja: the "
                                            "one shipped with tane)"),
           output: Path = typer.Option(..., "-o", "--output", help="output JSONL"),
           seeds_path: Optional[str] = typer.Option(None, "--seeds",
                                                    help="seed file or bundled:ja "
                                                         "(for the seed_copy step; default: none)"),
           seeds_format: str = typer.Option("auto", help="seed file format"),
           field: list[str] = typer.Option([], "--field",
                                           help="map a column: instruction=prompt, "
                                                "output=response, input=..., id=... "
                                                "(repeatable; default: the tane names)"),
           split: Optional[str] = typer.Option(None, help="split of a dataset directory "
                                                          "(default train, or its only "
                                                          "split)")) -> None:
    """Apply curation steps; dropped rows go to OUT.rejected.jsonl with reasons."""
    from ..curate.apply import curate_file, parse_field_map
    from ..seeds.loader import load_seeds
    from ..shipped import find_recipe

    recipe = find_recipe(recipe)  # a shipped recipe's name (curate_ja): its file
    try:
        field_map = parse_field_map(field)  # a malformed --field fails before any loading
        seed_items = load_seeds(seeds_path, seeds_format) if seeds_path else None
        rep = curate_file(in_path, recipe, output, seeds=seed_items, field_map=field_map,
                          split=split)
    except TaneError as e:
        error_exit(e)
        return
    dropped = sum(rep.dropped_by_reason.values())
    out.print(f"{rep.rows_in} rows in, {rep.kept} kept, {dropped} dropped; "
              f"{rep.seconds:.2f}s", highlight=False)
    for reason, n in rep.dropped_by_reason.items():
        out.print(f"  {reason}: {n}", highlight=False, markup=False)
    out.print(f"kept: {output}; dropped rows with reasons: {rep.rejected_path}",
              highlight=False)


@app.command()
def seeds(path: str = typer.Argument(..., help="seed file or bundled:ja / bundled:en"),
          format: str = typer.Option("auto", help="auto, self_instruct, elyza, ichikara, alpaca")
          ) -> None:
    """Check a seed file and show what was read: format, encoding, counts, two samples."""
    from ..seeds.loader import inspect_seeds

    try:
        info = inspect_seeds(path, format)
    except TaneError as e:
        error_exit(e)
        return
    items = info.seeds
    with_input = sum(1 for s in items if s.input)
    clf = sum(1 for s in items if s.is_classification)
    how = f"detected from the keys {info.keys}" if info.detected else "as named"
    out.print(f"{len(items)} seeds from {path}: {with_input} with input, {clf} classification",
              highlight=False, markup=False, soft_wrap=True)
    out.print(f"format: {info.format} ({how}); encoding: {info.encoding}", highlight=False,
              markup=False, soft_wrap=True)
    for s in items[:2]:
        out.print(f"sample {s.id}:", highlight=False, markup=False, soft_wrap=True)
        for name, text in (("instruction", s.instruction), ("input", s.input),
                           ("output", s.output)):
            if text:
                out.print(f"  {name}: {_short(text)}", highlight=False, markup=False,
                          soft_wrap=True)


def _short(text: str, width: int = 100) -> str:
    """One line of at most ``width`` characters (a line break shown as ⏎)."""
    one = " ⏎ ".join(x.strip() for x in text.strip().splitlines() if x.strip())
    return one if len(one) <= width else one[:width - 1] + "…"


@app.command()
def stats(dataset: Path = typer.Argument(..., help="run directory or JSONL file"),
          out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                                 help="chart/report folder (default: stats/ "
                                                      "in the run dir or beside the file)"),
          field: str = typer.Option("instruction", help="field for language, verbs and "
                                                        "duplicates"),
          charts: bool = typer.Option(True, help="draw PNG charts (needs tane[report])")) -> None:
    """Counts, lengths, leading verbs, duplicate clusters and drops; report.json + charts."""
    from ..report.stats import compute_stats, load_dataset, print_report, write_report

    try:
        rows, rejected, stats_json, source = load_dataset(dataset)
        st = compute_stats(rows, rejected, stats_json, field=field, source=source)
        info = write_report(st, out_dir or Path(source["default_out"]), charts=charts)
    except TaneError as e:
        error_exit(e)
        return
    print_report(st, info, out)
    if info["charts"]:
        f = info["font"] or {}
        out.print(f"charts: {len(info['charts'])} PNG in {info['report'].parent} "
                  f"(Japanese font: {f.get('family') or 'none, labels as ids'})",
                  highlight=False)
    elif info["charts_error"]:
        err.print(f"[yellow]note:[/] {info['charts_error']}", highlight=False)
    out.print(f"report: {info['report']}", highlight=False)
