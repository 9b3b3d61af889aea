"""``tane run``: a recipe into a run directory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer

from ..errors import TaneError
from ..pipeline.executors import help_text as executor_help
from .common import SHIPPED_HELP, app, err, error_exit, note_older_model_flag, out


def executor_args(args: list[str]) -> dict[str, str]:
    """``--KEY VALUE`` / ``--KEY=VALUE`` words the command does not know: options of the
    executor (``--workers 2`` is ``-X workers=2``)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("--") or len(word) < 3:
            raise TaneError(f"unexpected argument {word!r}", field="executor_options")
        key, eq, value = word[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise TaneError(f"no such option --{key} (an executor's option takes a "
                                "value)", field="executor_options")
            value = args[i + 1]
            i += 1
        out[key.replace("-", "_")] = value
        i += 1
    return out


@app.command(context_settings={"help_option_names": ["-h", "--help"],
                               "allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context,
        recipe: Path = typer.Argument(..., help=SHIPPED_HELP),
        out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help=(
            "run directory (resumable); required but with --dry-run, which saves its "
            "plan there when given (default: none)")),
        target: Optional[int] = typer.Option(None, help="how many kept records to produce "
                                                        "(default: the recipe's)"),
        llm: list[str] = typer.Option([], help="[NAME=]TARGET[,KEY=VALUE...], as tane eval "
                                              "--model: TARGET is 'embedded' or "
                                              "OpenAI-compatible server URL(s), KEY a field "
                                              "of llm: (model, license, timeout, ...), e.g. "
                                              "http://127.0.0.1:8000/v1,model=Qwen/"
                                              "Qwen2.5-7B-Instruct; NAME= for the recipe's "
                                              "model NAME (repeatable; default: the "
                                              "recipe's llm:)"),
        model: list[str] = typer.Option([], help="the older spelling of --llm URL,model=NAME "
                                                "(NAME=MODEL for a named model; default: "
                                                "the recipe's)"),
        license: list[str] = typer.Option([], "--license", help="licence of a served model "
                                                               "tane cannot identify by name, "
                                                               "e.g. apache-2.0; NAME=LICENCE "
                                                               "for a named model (default: the recipe's, "
                                                               "else looked up by model name)"),
        timeout: list[str] = typer.Option([], "--timeout", metavar="SECONDS",
                                          help="served models: seconds to wait for an "
                                               "answer before retrying (default: the "
                                               "recipe's llm.timeout, 120); NAME=SECONDS "
                                               "for a named model (repeatable)"),
        slots: Optional[int] = typer.Option(None, help="embedded: parallel decode slots "
                                                       "(>1 is faster but not reproducible; "
                                                       "default: the recipe's llm.slots)"),
        force: bool = typer.Option(False, "--force", help="reuse a run directory made by "
                                                         "another recipe"),
        executor: str = typer.Option("local", help=f"where the stages run: {executor_help()}"),
        executor_option: list[str] = typer.Option([], "--executor-option", "-X",
                                                  metavar="KEY=VALUE",
                                                  help="an option of the executor, e.g. "
                                                       "-X workers=2, also written "
                                                       "--workers 2 (repeatable; default: "
                                                       "the executor's own)"),
        threads: Optional[int] = typer.Option(None, help="embedded: llama.cpp decode threads "
                                                         "(default: the CPUs free of other "
                                                         "load, 1-8)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the plan (calls, tokens "
                                                              "and time per stage, as tane "
                                                              "plan) and stop"),
        yes: bool = typer.Option(False, "--yes", "-y", help="run a recipe meant for a served "
                                                            "model on the embedded one anyway"),
        progress: bool = typer.Option(True, help="progress on stderr: a live table on a "
                                                 "terminal, else a plain line every 5 s "
                                                 "(--no-progress: none)")) -> None:
    """Run a recipe into a run directory. Rerun the same command to resume."""
    from ..api.run import recipe_for, runner_for
    from ..pipeline.progress import live_progress, summary_table

    from ..shipped import find_recipe

    recipe = find_recipe(recipe)  # a shipped recipe's name (quickstart): its file
    try:
        if out_dir is None and not dry_run:
            raise TaneError("give the run directory with --out DIR (only --dry-run goes "
                            "without one)", field="out")
        rec, base = recipe_for(recipe, target=target, llm=llm, model=model, license=license,
                               slots=slots, timeout=timeout)
        if threads is not None:
            if threads < 1:
                raise TaneError(f"--threads must be at least 1, got {threads}",
                                field="threads")
            rec.llm = rec.llm.model_copy(update={"threads": threads})
        from .runnotes import check_needs

        check_needs(rec, recipe, bool(llm), yes or dry_run)
        from ..pipeline.executors import parse_pairs

        opts = executor_args(list(ctx.args)) | parse_pairs(executor_option)
        runner = runner_for(rec, out_dir or Path("."), base, where=str(recipe), force=force,
                            executor=executor, executor_options=opts)
    except TaneError as e:
        error_exit(e)
        return
    if dry_run:
        from .plan import plan_and_print

        plan_and_print(rec, runner, out_dir, True, None, False)
        note_older_model_flag(model)  # at the end: an error stays one line
        return
    assert out_dir is not None  # checked above
    from .runnotes import finish_notes, prediction_for_run

    prediction = prediction_for_run(rec, runner, out_dir)
    models = "; ".join(f"{n}: {rec.llm_for(n).where()}" for n in sorted(set(runner.model_names)))
    start = f"source {rec.source.path}" if rec.source else f"target {runner.goal}"
    err.print(f"tane run: {rec.name} -> {out_dir} ({start}; {models})", highlight=False)

    def warn(w: str) -> None:
        from rich.markup import escape

        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, markup=True,
                  soft_wrap=True)

    runner.on_warning = warn  # the endpoints' warnings, before the first stage

    # what the live table calls each stage's model until its first answer names it
    labels = {name: (rec.llm_for(m).model or rec.llm_for(m).backend) if spec.llm else "-"
              for name, spec, m in zip(runner.names, runner.specs, runner.model_names)}

    async def main() -> dict:
        async with live_progress(runner.state, err, runner.names, enabled=progress,
                                 models=labels):
            return await runner.run()

    try:
        stats = asyncio.run(main())
    except TaneError as e:
        error_exit(e)
        return
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted: completed calls are in the journal; rerun the same "
                  "command to resume")
        raise typer.Exit(130)
    used = {n: st.llm.model for n, st in zip(runner.names, runner.stats)}
    out.print(summary_table(stats, out.width, used))
    n = stats.get("dataset_records", stats["kept"])
    held = (f"{n} records" if n == stats["kept"] else
            f"{n} records: {stats['kept']} kept, {stats['kept'] - n} dropped by review")
    out.print(f"dataset: {out_dir / 'dataset.jsonl'} ({held}); "
              f"drops: {out_dir / 'rejected.jsonl'}; stats: {out_dir / 'stats.json'}")
    finish_notes(out, rec, out_dir, prediction)
    note_older_model_flag(model)  # at the end: an error stays one line
    if stats["target"] is not None and stats["kept"] < stats["target"]:
        from ..errors import INCOMPLETE_EXIT

        failed = stats["llm"]["failures"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
        why = (f"{sum(failed.values())} calls failed ({reasons}); see rejected.jsonl for "
               "the server's messages" if failed
               else "raise max_rounds, or use a stronger model (most drops: see the table)")
        err.print(f"[yellow]incomplete:[/] kept {stats['kept']} of {stats['target']} within "
                  f"{stats['rounds']} rounds; {why}", highlight=False, markup=True)
        raise typer.Exit(INCOMPLETE_EXIT)
