"""Command line: ``tane run``, ``tane dedup``, ``tane curate``, ``tane seeds``, ``tane export``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .errors import TaneError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="tane (種): grow instruction-tuning datasets from a few human seeds.")
err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 110)


def _fail(e: TaneError) -> None:
    err.print(f"[red]error:[/] {e.one_line()}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(e.exit_code)


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def run(recipe: Path = typer.Argument(..., help="recipe YAML"),
        out_dir: Path = typer.Option(..., "--out", "-o", help="run directory (resumable)"),
        target: Optional[int] = typer.Option(None, help="how many kept records to produce "
                                                        "(default: the recipe's)"),
        llm: list[str] = typer.Option([], help="'embedded' or an OpenAI-compatible server URL "
                                              "(several: comma-separated), e.g. "
                                              "http://127.0.0.1:8000/v1; NAME=URL points "
                                              "the recipe's model NAME there (repeatable)"),
        model: list[str] = typer.Option([], help="model name on the server; NAME=MODEL for "
                                                "a named model (repeatable)"),
        license: list[str] = typer.Option([], "--license", help="licence of a served model "
                                                               "tane cannot identify by name, "
                                                               "e.g. apache-2.0; NAME=LICENCE "
                                                               "for a named model"),
        slots: Optional[int] = typer.Option(None, help="embedded: parallel decode slots "
                                                       "(>1 is faster but not reproducible)"),
        force: bool = typer.Option(False, "--force", help="reuse a run directory made by "
                                                         "another recipe"),
        progress: bool = typer.Option(True, help="show live progress")) -> None:
    """Run a recipe into a run directory. Rerun the same command to resume."""
    from .pipeline.overrides import apply_overrides
    from .pipeline.progress import live_progress, summary_table
    from .pipeline.runner import Runner
    from .recipe import load_recipe

    try:
        if target is not None and target < 1:
            raise TaneError(f"--target must be at least 1, got {target}", field="target")
        overrides = {"target": target} if target is not None else {}
        rec = load_recipe(recipe, overrides)
        rec = apply_overrides(rec, llm, model, license)
        if slots is not None:
            rec.llm = rec.llm.model_copy(update={"slots": slots})
        base = recipe.resolve().parent
        seeds = rec.seeds.path
        if not seeds.startswith("bundled:") and not (base / seeds).exists():
            raise TaneError(f"seed file not found: {base / seeds}", path=str(recipe),
                            field="seeds.path")
        runner = Runner(rec, out_dir, base_dir=base, force=force)
    except TaneError as e:
        _fail(e)
        return
    models = "; ".join(f"{n}: {rec.llm_for(n).where()}" for n in sorted(set(runner.model_names)))
    start = f"source {rec.source.path}" if rec.source else f"target {runner.goal}"
    err.print(f"tane run: {rec.name} -> {out_dir} ({start}; {models})", highlight=False)

    async def main() -> dict:
        async with live_progress(runner.state, err, runner.names, enabled=progress):
            return await runner.run()

    try:
        stats = asyncio.run(main())
    except TaneError as e:
        _fail(e)
        return
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted: completed calls are in the journal; rerun the same "
                  "command to resume")
        raise typer.Exit(130)
    out.print(summary_table(stats))
    out.print(f"dataset: {out_dir / 'dataset.jsonl'} ({stats['kept']} records); "
              f"drops: {out_dir / 'rejected.jsonl'}; stats: {out_dir / 'stats.json'}")
    for w in stats.get("warnings") or []:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, markup=True)
    if stats["target"] is not None and stats["kept"] < stats["target"]:
        from .errors import INCOMPLETE_EXIT

        failed = stats["llm"]["failures"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
        why = (f"{sum(failed.values())} calls failed ({reasons}); see rejected.jsonl for "
               "the server's messages" if failed
               else "raise max_rounds, or use a stronger model (most drops: see the table)")
        err.print(f"[yellow]incomplete:[/] kept {stats['kept']} of {stats['target']} within "
                  f"{stats['rounds']} rounds; {why}", highlight=False, markup=True)
        raise typer.Exit(INCOMPLETE_EXIT)


@app.command()
def dedup(in_path: Path = typer.Argument(..., help="input JSONL"),
          output: Path = typer.Option(..., "-o", "--output", help="output JSONL"),
          field: str = typer.Option("instruction", help="field to compare"),
          threshold: float = typer.Option(0.7, help="drop when ROUGE-L F is above this"),
          tokenizer: str = typer.Option("auto", help="auto, char, morph, whitespace or rouge"),
          lang: Optional[str] = typer.Option(None, help="language for tokenizer 'auto'"),
          keep: str = typer.Option("first", help="first: the earliest row of each group; "
                                                  "best: the highest --score-field"),
          score_field: Optional[str] = typer.Option(None, help="with --keep best: dotted "
                                                               "path of a number, e.g. "
                                                               "judge.quality")) -> None:
    """Drop near-duplicates (greedy ROUGE-L, the Self-Instruct novelty filter)."""
    from rich.progress import Progress

    from .curate.dedup import dedup_file

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
                                                         "(for the seed_copy step)"),
           seeds_format: str = typer.Option("auto", help="seed file format"),
           field: list[str] = typer.Option([], "--field",
                                           help="map a column: instruction=prompt, "
                                                "output=response, input=..., id=... "
                                                "(repeatable)"),
           split: Optional[str] = typer.Option(None, help="split of a dataset directory "
                                                          "(default train, or its only "
                                                          "split)")) -> None:
    """Apply curation steps; dropped rows go to OUT.rejected.jsonl with reasons."""
    from .curate.apply import curate_file, parse_field_map
    from .seeds.loader import load_seeds

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
    from .seeds.loader import load_seeds

    try:
        items = load_seeds(path, format)
    except TaneError as e:
        _fail(e)
        return
    with_input = sum(1 for s in items if s.input)
    clf = sum(1 for s in items if s.is_classification)
    out.print(f"{len(items)} seeds from {path}: {with_input} with input, {clf} classification")


@app.command()
def export(run_dir: Path = typer.Argument(..., help="run directory"),
           format: str = typer.Option(..., "--format", "-f",
                                      help="messages, alpaca, sharegpt or jsonl"),
           to: Path = typer.Option(..., "--to", help="output file, .jsonl or .parquet"),
           system: Optional[str] = typer.Option(None, help="system prompt to add"),
           val_ratio: float = typer.Option(0.0, help="validation share, stratified by seed"),
           seed: int = typer.Option(0, help="seed for the train/validation split"),
           card: bool = typer.Option(True, help="write README.md (dataset card) and NOTICE"),
           commercial: bool = typer.Option(True, help="warn about non-commercial sources"),
           push_to_hub: Optional[str] = typer.Option(None, help="Hugging Face dataset repo "
                                                              "(needs HF_TOKEN)")) -> None:
    """Export a run's records for training, with a dataset card."""
    from .export.formats import export as do_export, push_to_hub as push

    try:
        if push_to_hub:
            push(None, push_to_hub, check_only=True)
        rep = do_export(run_dir, format, to, system=system, val_ratio=val_ratio, seed=seed,
                        card=card, commercial=commercial)
        if push_to_hub:
            push(rep, push_to_hub)
    except TaneError as e:
        _fail(e)
        return
    files = ", ".join(f"{p} ({rep.counts[s]} {s})" for s, p in rep.files.items())
    out.print(f"{format}: {files}", highlight=False)
    if rep.skipped_no_output:
        err.print(f"[yellow]skipped:[/] {rep.skipped_no_output} record(s) without output")
    extra = [str(p) for p in (rep.dataset_info, rep.card, rep.notice) if p]
    if extra:
        out.print("also wrote: " + ", ".join(extra), highlight=False)
    for w in rep.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if rep.pushed_to:
        out.print(f"pushed to https://huggingface.co/datasets/{rep.pushed_to}")


@app.command()
def stats(dataset: Path = typer.Argument(..., help="run directory or JSONL file"),
          out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                                 help="chart/report folder (default: stats/ "
                                                      "in the run dir or beside the file)"),
          field: str = typer.Option("instruction", help="field for language, verbs and "
                                                        "duplicates"),
          charts: bool = typer.Option(True, help="draw PNG charts (needs tane[report])")) -> None:
    """Counts, lengths, leading verbs, duplicate clusters and drops; report.json + charts."""
    from .report.stats import compute_stats, load_dataset, print_report, write_report

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
    from .review import export_review

    try:
        rep = export_review(run_dir, output, include_dropped=include_dropped)
    except TaneError as e:
        _fail(e)
        return
    out.print(f"review file: {rep.path} ({rep.rows - rep.dropped_rows} records"
              + (f", {rep.dropped_rows} dropped rows" if include_dropped else "") + ")",
              highlight=False)


@review_app.command("import")
def review_import(run_dir: Path = typer.Argument(..., help="run directory"),
                  review_file: Path = typer.Argument(..., help="reviewed .xlsx or .csv")
                  ) -> None:
    """Validate a reviewed file, store its decisions as revisions (all or nothing) and
    rewrite dataset.jsonl / rejected.jsonl (no model is run)."""
    from .review import import_review

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


def main() -> None:
    try:
        app()
    except TaneError as e:  # pragma: no cover - commands catch their own
        err.print(f"error: {e.one_line()}")
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
