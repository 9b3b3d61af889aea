"""``tane plan``: what a recipe will cost (calls, tokens, time per stage) before a run.
``tane run --dry-run`` prints the same and stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..errors import TaneError
from .common import SHIPPED_HELP, app, err, error_exit, note_older_model_flag, out


def build_plan(rec: Any, runner: Any, out_dir: Optional[Path], measure: bool,
               tokens_per_second: Optional[float]) -> Any:
    """The plan of ``runner``'s recipe, with speeds measured (or given) per model."""
    from ..pipeline.plan import (given_speed, make_plan, measure_embedded, measure_served,
                                 sample_prompts)

    speed = {}
    if tokens_per_second is not None:
        speed = {m: given_speed(tokens_per_second) for m in set(runner.model_names)}
    elif measure:
        prompts = sample_prompts(runner)
        for name in sorted(set(runner.model_names)):
            cfg = rec.llm_for(name)
            idx = runner.model_names.index(name)
            # the stage's real prompt; else the seeds' text, so the prompt speed is
            # measured on a prompt of a realistic length
            text = (prompts.get(idx) or [""])[0] or "\n".join(
                f"{i + 1}. {s.instruction}" for i, s in enumerate(runner.seeds[:10]))
            chat = getattr(rec.stages[idx], "prompt_style", "completion") == "chat"
            try:
                if cfg.backend == "embedded":
                    speed[name] = measure_embedded(cfg, text)
                else:
                    speed[name] = measure_served(cfg, text or "こんにちは", chat)
            except Exception as e:  # noqa: BLE001 - the plan stands without a time
                err.print(f"[yellow]warning:[/] could not measure model {name!r}: {e}",
                          highlight=False, markup=True)
    return make_plan(runner, out_dir, speed)


def print_plan(plan: Any) -> None:
    goal = "every row" if plan.target is None else plan.target
    t = Table(title=f"plan: {plan.recipe} (target {goal})", title_justify="left")
    for col in ("stage", "model", "records in → out", "calls", "prompt tok", "output tok",
                "time", "from"):
        t.add_column(col, justify="right" if col in ("calls", "prompt tok", "output tok",
                                                     "time") else "left")
    for s in plan.stages:
        rin = "—" if s.role == "generator" else str(s.records_in)
        t.add_row(s.name, s.model, f"{rin} → {s.records_out}",
                  f"{s.calls}{'' if s.calls_exact else ' ~'}",
                  f"{s.prompt_tokens:,}" if s.prompt_known else "?",
                  f"{'≤' if s.completion_is_bound else ''}{s.completion_tokens:,}",
                  f"{s.seconds:.0f} s" if plan.speed and s.calls else "—", s.basis)
    out.print(t)
    total = plan.to_dict()
    secs = plan.seconds
    when = (f"about {secs:.0f} s ({secs / 60:.1f} min)" if secs is not None
            else "not measured (--no-measure)")
    out.print(f"total: {plan.calls} calls, {total['prompt_tokens']:,} prompt tokens, "
              f"{'≤' if any(s.completion_is_bound for s in plan.stages) else ''}"
              f"{total['completion_tokens']:,} output tokens; time {when}", highlight=False)
    out.print(f"tokens: {plan.tokens_from}", highlight=False)
    for name, sp in plan.speed.items():
        prompt = f", {sp.prompt_tps:.0f} prompt" if sp.prompt_tps < 1e9 else ""
        out.print(f"speed {name}: {sp.decode_tps:.1f} tokens/s decode{prompt} ({sp.how}; "
                  f"load {sp.load_seconds:.1f} s)", highlight=False)
    for s in plan.stages:
        if s.why:
            out.print(f"{s.name}: {s.why}", highlight=False)
    for n in plan.notes:
        out.print(n, highlight=False)
    out.print("'~': the generator's calls depend on what the model writes (see docs/plan.md)",
              highlight=False)


def plan_and_print(rec: Any, runner: Any, out_dir: Optional[Path], measure: bool,
                   tokens_per_second: Optional[float], as_json: bool) -> Any:
    import json

    from ..pipeline.plan import save_plan

    plan = build_plan(rec, runner, out_dir, measure, tokens_per_second)
    if as_json:
        out.print_json(json.dumps(plan.to_dict(), ensure_ascii=False))
    else:
        print_plan(plan)
    if out_dir is not None:
        save_plan(out_dir, plan)
    return plan


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def plan(recipe: Path = typer.Argument(..., help=SHIPPED_HELP),
         out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help=(
             "run directory: rates from its earlier run (stats.json), and the plan saved "
             "there (plan.json) for tane run to compare with (default: none, nothing "
             "written)")),
         target: Optional[int] = typer.Option(None, help="kept records (default: the "
                                                         "recipe's)"),
         llm: list[str] = typer.Option([], help="as tane run --llm (default: the recipe's "
                                                "llm:)"),
         model: list[str] = typer.Option([], help="as tane run --model (default: the "
                                                  "recipe's)"),
         threads: Optional[int] = typer.Option(None, help="as tane run --threads (default: "
                                                          "the CPUs free of other load)"),
         tokens_per_second: Optional[float] = typer.Option(
             None, "--tokens-per-second", help="decode speed to assume instead of measuring "
                                               "(default: measured)"),
         measure: bool = typer.Option(True, help="measure the backend's speed (embedded: a "
                                                 "few seconds of decoding; served: one "
                                                 "short request)"),
         as_json: bool = typer.Option(False, "--json", help="print the plan as JSON")) -> None:
    """Calls, tokens and time per stage for a recipe's target, before running it."""
    try:
        rec, runner = prepare(recipe, out_dir, target, llm, model, threads)
    except TaneError as e:
        error_exit(e)
        return
    plan_and_print(rec, runner, out_dir, measure, tokens_per_second, as_json)
    note_older_model_flag(model)  # at the end: an error stays one line


def prepare(recipe: Path, out_dir: Optional[Path], target: Optional[int], llm: list[str],
            model: list[str], threads: Optional[int]) -> tuple[Any, Any]:
    from ..api.run import runner_for
    from ..pipeline.overrides import apply_overrides
    from ..recipe import load_recipe

    from ..shipped import find_recipe

    if target is not None and target < 1:
        raise TaneError(f"--target must be at least 1, got {target}", field="target")
    recipe = find_recipe(recipe)  # a shipped recipe's name (quickstart): its file
    rec = load_recipe(recipe, {"target": target} if target is not None else {})
    rec = apply_overrides(rec, llm, model, [])
    if threads is not None:
        rec.llm = rec.llm.model_copy(update={"threads": threads})
    runner = runner_for(rec, out_dir or Path("."), recipe.resolve().parent, where=str(recipe))
    return rec, runner
