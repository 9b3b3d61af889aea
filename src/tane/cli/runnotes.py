"""What ``tane run`` says around a run: a recipe meant for a served model, the estimate
to compare with, and the end-of-run note when the embedded model made the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any


SERVED_FLAG = "--llm URL,model=NAME"


def check_needs(rec: Any, recipe: Path, llm_given: bool, yes: bool) -> None:
    """A recipe meant for a served model (``needs:``) started on the embedded one stops
    with exit 2, unless ``--yes`` or an explicit ``--llm`` was given."""
    from ..api.run import check_needs as check

    check(rec, str(recipe), llm_given, yes, served=SERVED_FLAG, anyway="--yes")


def prediction_for_run(rec: Any, runner: Any, out_dir: Path) -> dict[str, Any] | None:
    """The estimate to judge this run by: the plan saved by ``tane plan --out`` / ``tane
    run --dry-run`` for this recipe and target, else one made now (calls and tokens from
    the earlier run's rates, no time). Never stops a run."""
    try:
        from ..pipeline.plan import load_plan, make_plan

        saved = load_plan(out_dir, rec.name, runner.goal)
        return saved if saved is not None else make_plan(runner, out_dir).to_dict()
    except Exception:  # noqa: BLE001 - an estimate is a nicety, the run is not
        return None


def uses_embedded(rec: Any) -> bool:
    return any(rec.llm_for(rec.model_of(s)).backend == "embedded" for s in rec.stages)


def finish_notes(console: Any, rec: Any, out_dir: Path, prediction: dict[str, Any] | None
                 ) -> None:
    """How good the estimate was (also written to stats.json), and, when the embedded
    model made the data, what the data proves and the flag that changes the model."""
    if prediction is not None:
        from ..pipeline.plan import record_accuracy

        acc = record_accuracy(out_dir, prediction)
        if acc:
            p, a = acc["predicted"], acc["actual"]
            secs = (f", {a['seconds']:.0f} s against {p['seconds']:.0f} s predicted"
                    if p.get("seconds") and a.get("seconds") is not None else "")
            console.print(f"estimate: {a['calls']} calls against {p['calls']} predicted"
                          f"{secs} ({acc['basis']}; stats.json 'estimate')", highlight=False)
    if uses_embedded(rec):
        console.print(
            "[bold]note:[/] this data comes from the small embedded model (Gemma 3 270M; "
            "SmolLM2 135M for chat). It proves the "
            "plumbing (stages, drops with reasons, resume, export), not the quality: expect "
            "wrong answers and junk that no filter catches. For real data run the same "
            f"recipe against a served model: [bold]{SERVED_FLAG}[/] "
            "(e.g. --llm http://127.0.0.1:8000/v1,model=Qwen/Qwen2.5-7B-Instruct).",
            highlight=False, markup=True)
