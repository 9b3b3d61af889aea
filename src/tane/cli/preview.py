"""``tane preview``: every stage of a recipe on about n items, then the plan for the full
target from what the preview measured."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..errors import TaneError
from .common import SHIPPED_HELP, app, err, error_exit, note_older_model_flag, out


def stage_table(result: Any) -> Table:
    t = Table(title=f"preview: {result.recipe.name} on {result.n} items "
                    f"({result.seconds:.0f} s)", title_justify="left")
    for col in ("stage", "model", "in", "kept", "dropped: reason (count)", "calls", "s"):
        t.add_column(col, justify="right" if col in ("in", "kept", "calls", "s") else "left")
    generates = result.recipe.source is None  # the first stage makes its records
    for i, s in enumerate(result.stages):
        drops = ", ".join(f"{r} {c}" for r, c in sorted(s.dropped.items(),
                                                         key=lambda kv: -kv[1])) or "-"
        t.add_row(s.name, s.model, "—" if generates and i == 0 else str(s.records_in),
                  str(s.kept), drops, str(s.calls), f"{s.seconds:.1f}")
    return t


def samples(result: Any, per_stage: int, chars: int) -> Any:
    """Kept records beside each stage's drops (``per_stage`` of each), as tane show."""
    from ..report.show import CUT, render, run_items

    kept, dropped = run_items(result.kept, result.dropped)
    shown = []
    for s in result.stages:
        shown += [d for d in dropped if d.stage == s.name and d.reason != CUT][:per_stage]
    return render(kept, [d for d in dropped if d.reason != CUT], kept[:per_stage], shown,
                  limit=chars)


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def preview(recipe: Path = typer.Argument(..., help=SHIPPED_HELP),
            n: int = typer.Option(5, "-n", help="items the first stage makes (a "
                                                "source: its first rows); every later "
                                                "stage takes all that reach it"),
            target: Optional[int] = typer.Option(None, help="the full target the plan at "
                                                            "the end is for (default: the "
                                                            "recipe's)"),
            keep: Optional[Path] = typer.Option(None, "--keep", help=(
                "keep the preview's run directory here (a new or empty one); a later "
                "tane run --out DIR reuses its calls (default: a temporary one, removed)")),
            llm: list[str] = typer.Option([], help="as tane run --llm (default: the recipe's "
                                                   "llm:)"),
            model: list[str] = typer.Option([], help="as tane run --model (default: the "
                                                     "recipe's)"),
            license: list[str] = typer.Option([], "--license", help="as tane run --license "
                                                                    "(default: the recipe's)"),
            timeout: list[str] = typer.Option([], "--timeout", metavar="SECONDS",
                                              help="as tane run --timeout (default: the "
                                                   "recipe's llm.timeout, 120)"),
            threads: Optional[int] = typer.Option(None, help="as tane run --threads "
                                                             "(default: the CPUs free of "
                                                             "other load)"),
            show: int = typer.Option(2, "--show", help="kept records, and drops of each "
                                                      "stage, shown"),
            chars: int = typer.Option(160, help="characters shown of each field"),
            yes: bool = typer.Option(False, "--yes", "-y", help="preview a recipe meant for a "
                                                                "served model on the embedded "
                                                                "one anyway"),
            progress: bool = typer.Option(True, help="progress on stderr, as tane run "
                                                     "(--no-progress: none)")) -> None:
    """Run every stage of a recipe on about n items and show what each kept and dropped,
    then the plan for the full target from the preview's own rates. Writes nothing but
    the --keep directory."""
    from ..api.preview import Preview
    from ..pipeline.progress import live_progress
    from .plan import print_plan

    try:
        if show < 0:
            raise TaneError(f"--show must be at least 0, got {show}", field="show")
        p = Preview(recipe, n, target=target, keep=keep, llm=llm, model=model,
                    license=license, timeout=timeout, threads=threads, yes=yes)
    except TaneError as e:
        error_exit(e)
        return
    err.print(f"tane preview: {p.small.name} on {n} items"
              + (f" -> {keep}" if keep else " (a temporary directory)"), highlight=False)

    async def main() -> Any:
        async with live_progress(p.runner.state, err, p.runner.names, enabled=progress):
            return await p.run()

    try:
        result = asyncio.run(main())
    except TaneError as e:
        error_exit(e)
        return
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted" + (f": completed calls are in {keep}" if keep else ""))
        raise typer.Exit(130)
    out.print(stage_table(result))
    if show:
        out.print(samples(result, show, chars))
    for note in result.notes:
        out.print(f"note: {note}", highlight=False)
    out.print("")
    print_plan(result.plan)
    if keep:
        out.print(f"kept: {keep}; tane run {recipe} --out {keep} reuses its calls",
                  highlight=False)
    note_older_model_flag(model)  # at the end: an error stays one line
