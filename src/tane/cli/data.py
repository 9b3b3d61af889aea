"""``tane dedup``, ``tane curate``, ``tane seeds`` and ``tane stats``: files in, files out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import TaneError
from .common import _fail, app, err, out


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
                                                               "judge.quality (default: none)")) -> None:
    """Drop near-duplicates (greedy ROUGE-L, the Self-Instruct novelty filter)."""
    from rich.progress import Progress

    from ..curate.dedup import dedup_file

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("dedup", total=None)
        try:
            rep = dedup_file(in_path, output, field=field, threshold=threshold,
                             tokenizer=tokenizer, lang=lang, keep=keep,
                             score_field=score_field,
                             on_progress=lambda done, total: bar.update(task, completed=done,
                                                                        total=total))
        except TaneError as e:
            bar.stop()
            _fail(e)
            return
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(rep.dropped_by_reason.items())) or "none"
    dropped = sum(rep.dropped_by_reason.values())
    out.print(f"{rep.rows_in} rows in, {rep.kept} kept, {dropped} dropped ({reasons}); "
              f"tokenizer {rep.tokenizer}; {rep.seconds:.2f}s")
    out.print(f"kept: {output}; dropped rows with reasons: "
              f"{output.with_name(output.stem + '.rejected.jsonl')}")


@app.command()
def curate(in_path: Path = typer.Argument(..., help="input: JSONL, Parquet, CSV/JSON, or a "
                                                    "local Hugging Face dataset directory "
                                                    "(save_to_disk or data files)"),
           recipe: Path = typer.Option(..., "--recipe", "-r",
                                       help="CURATE.yaml: lang and steps"),
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

    try:
        field_map = parse_field_map(field)  # a malformed --field fails before any loading
        seed_items = load_seeds(seeds_path, seeds_format) if seeds_path else None
        rep = curate_file(in_path, recipe, output, seeds=seed_items, field_map=field_map,
                          split=split)
    except TaneError as e:
        _fail(e)
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
    """Check a seed file and show what was read."""
    from ..seeds.loader import load_seeds

    try:
        items = load_seeds(path, format)
    except TaneError as e:
        _fail(e)
        return
    with_input = sum(1 for s in items if s.input)
    clf = sum(1 for s in items if s.is_classification)
    out.print(f"{len(items)} seeds from {path}: {with_input} with input, {clf} classification")


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
        _fail(e)
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
