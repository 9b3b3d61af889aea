"""Command line: ``tane run``, ``tane dedup``, ``tane seeds``."""

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


@app.command()
def run(recipe: Path = typer.Argument(..., help="recipe YAML"),
        out_dir: Path = typer.Option(..., "--out", "-o", help="run directory (resumable)"),
        target: Optional[int] = typer.Option(None, help="how many kept records to produce"),
        llm: Optional[str] = typer.Option(None, help="'embedded' or an OpenAI-compatible "
                                                     "server URL, e.g. http://127.0.0.1:8000/v1"),
        model: Optional[str] = typer.Option(None, help="model name on the server (with --llm URL)"),
        slots: Optional[int] = typer.Option(None, help="embedded: parallel decode slots "
                                                       "(>1 is faster but not reproducible)"),
        progress: bool = typer.Option(True, help="show a progress bar")) -> None:
    """Run a recipe into a run directory. Rerun the same command to resume."""
    from .llm.factory import apply_cli_spec
    from .pipeline.progress import live_progress, summary_table
    from .pipeline.runner import Runner
    from .recipe import load_recipe

    try:
        overrides = {"target": target} if target is not None else {}
        rec = load_recipe(recipe, overrides)
        rec.llm = apply_cli_spec(rec.llm, llm, model)
        if slots is not None:
            rec.llm = rec.llm.model_copy(update={"slots": slots})
        base = recipe.resolve().parent
        seeds = rec.seeds.path
        if not seeds.startswith("bundled:") and not (base / seeds).exists():
            raise TaneError(f"seed file not found: {base / seeds}", path=str(recipe),
                            field="seeds.path")
        runner = Runner(rec, out_dir, base_dir=base)
    except TaneError as e:
        _fail(e)
        return
    where = rec.llm.base_url if rec.llm.backend == "openai" else f"embedded, {rec.llm.slots} slot(s)"
    err.print(f"tane run: {rec.name} -> {out_dir} (target {rec.target}, llm: {where})")

    async def main() -> dict:
        async with live_progress(runner.state, err, enabled=progress):
            return await runner.run()

    try:
        stats = asyncio.run(main())
    except TaneError as e:
        _fail(e)
        return
    except KeyboardInterrupt:
        err.print("interrupted: completed calls are in the journal; rerun the same "
                  "command to resume")
        raise typer.Exit(130)
    out.print(summary_table(stats))
    out.print(f"dataset: {out_dir / 'dataset.jsonl'} ({stats['kept']} records); "
              f"drops: {out_dir / 'rejected.jsonl'}; stats: {out_dir / 'stats.json'}")
    if stats["kept"] < stats["target"]:
        err.print(f"[yellow]warning:[/] kept {stats['kept']} of {stats['target']} within "
                  f"{stats['rounds']} rounds; raise max_rounds or use a stronger model")


@app.command()
def dedup(in_path: Path = typer.Argument(..., help="input JSONL"),
          output: Path = typer.Option(..., "-o", "--output", help="output JSONL"),
          field: str = typer.Option("instruction", help="field to compare"),
          threshold: float = typer.Option(0.7, help="drop when ROUGE-L F is above this"),
          tokenizer: str = typer.Option("auto", help="auto, char, morph, whitespace or rouge"),
          lang: Optional[str] = typer.Option(None, help="language for tokenizer 'auto'")) -> None:
    """Drop near-duplicates (greedy ROUGE-L, the Self-Instruct novelty filter)."""
    from rich.progress import Progress

    from .curate.dedup import dedup_file

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("dedup", total=None)
        try:
            rep = dedup_file(in_path, output, field=field, threshold=threshold,
                             tokenizer=tokenizer, lang=lang,
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


def main() -> None:
    try:
        app()
    except TaneError as e:  # pragma: no cover - commands catch their own
        err.print(f"error: {e.one_line()}")
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
