"""``tane eval answer|grade|compare|report|run``: did the data make the model better?"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ..errors import INCOMPLETE_EXIT, ServerError, TaneError
from .common import app, err, error_exit, out

eval_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Evaluate models: answers to a benchmark, graded or compared "
                            "pairwise by an LLM judge, and a report with honest statistics.")
app.add_typer(eval_app, name="eval")

_JUDGE_HELP = ("the judge: [NAME=]URL,model=MODEL[,license=...] or 'embedded' (the "
               "grammar of tane run --llm)")


def _step(run: Callable[[], Any]) -> dict[str, Any]:
    """Run one step's coroutine; one line and the exit code on failure. SIGTERM stops it
    as Ctrl-C does (what was journaled stays)."""

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)  # type: ignore[union-attr]
        return await run()

    try:
        return asyncio.run(main())
    except TaneError as e:
        error_exit(e)
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted: completed calls are in the journal; rerun the same "
                  "command to resume")
        raise typer.Exit(130)
    raise AssertionError("unreachable")  # pragma: no cover


def _outcome(step: str, info: dict[str, Any], evaldir: Path, what: str) -> int:
    """4 when every call of the step failed (printed as the one error line), 3 when some
    did (with advice), else 0."""
    rows, failed = info.get("rows", 0), info.get("error", 0)
    file = evaldir / what
    if rows and failed == rows:
        e = ServerError(f"every {step} call failed ({failed} of {rows}); the server's "
                        f"messages are in {file} (column 'error')")
        err.print(f"[red]error:[/] {e.one_line()}", highlight=False, markup=True,
                  soft_wrap=True)
        return e.exit_code
    if failed:
        err.print(f"[yellow]incomplete:[/] {failed} of {rows} {step} rows failed; their "
                  f"errors are in {file}; rerun the same command to retry only those",
                  highlight=False, markup=True)
        return INCOMPLETE_EXIT
    return 0


def _end(step: str, info: dict[str, Any], evaldir: Path, what: str) -> None:
    code = _outcome(step, info, evaldir, what)
    if code:
        raise typer.Exit(code)


def _opts_judge(max_tokens: int, temperature: float, seed: int, reference: str,
                lang: str | None):
    from ..eval.grade import REFERENCE_MODES, JudgeOptions

    if reference not in REFERENCE_MODES:
        raise TaneError(f"--reference must be one of {', '.join(REFERENCE_MODES)}",
                        field="reference")
    if lang not in (None, "ja", "en"):
        raise TaneError(f"--lang must be ja or en, got {lang!r}", field="lang")
    if max_tokens < 32:
        raise TaneError("--max-tokens must be at least 32 for a judge", field="max-tokens")
    return JudgeOptions(max_tokens=max_tokens, temperature=temperature, seed=seed,
                        reference=reference, lang=lang)


@eval_app.command("answer")
def eval_answer(
        bench: str = typer.Argument(..., help="benchmark file (ELYZA-tasks-100 CSV/JSONL, "
                                    "MT-Bench question.jsonl, AlpacaEval JSON/JSONL), a tane "
                                    "run directory, or bundled:elyza_ja | bundled:mt_bench_ja "
                                    "| bundled:alpaca_eval_en"),
        model: list[str] = typer.Option(..., "--model", "-m", help="NAME=URL,model=MODEL"
                                        "[,license=...,style=completion] or NAME=embedded "
                                        "(repeatable: one per model to evaluate)"),
        out_dir: Path = typer.Option(..., "--out", "-o", help="eval directory (resumable)"),
        license: list[str] = typer.Option([], "--license", help="NAME=LICENCE of a served "
                                          "model, recorded in eval.json and the report "
                                          "(default: unknown; embedded models know theirs)"),
        format: str = typer.Option("auto", help="auto | elyza | mt_bench | alpaca_eval | "
                                   "tane_run"),
        references: Path | None = typer.Option(None, help="MT-Bench reference answers "
                                               "(FastChat reference_answer/*.jsonl; "
                                               "default: none)"),
        lang: str | None = typer.Option(None, help="ja | en (default: from the items)"),
        limit: int | None = typer.Option(None, help="only the first N items (default: all)"),
        temperature: float = typer.Option(0.0, help="sampling temperature (0: greedy)"),
        top_p: float = typer.Option(1.0),
        max_tokens: int = typer.Option(1024, help="tokens per answer at most"),
        seed: int = typer.Option(0, help="seed of every call (with the model name, item "
                                 "and turn)"),
        system: str | None = typer.Option(None, help="a system message for chat models "
                                               "(default: none)"),
        progress: bool = typer.Option(True, help="progress lines on stderr")) -> None:
    """Answers from one or more models to every item of a benchmark. Rerun to resume."""
    from ..eval.answer import AnswerOptions, run_answer
    from ..eval.bench import load_bench
    from ..eval.evaldir import ANSWERS, EvalDir
    from ..eval.models import parse_models

    try:
        if limit is not None and limit < 1:
            raise TaneError("--limit must be at least 1", field="limit")
        if max_tokens < 1:
            raise TaneError("--max-tokens must be at least 1", field="max-tokens")
        specs = parse_models(model, license)
        b = load_bench(bench, format, references, lang)
        if limit is not None:
            b.items = b.items[:limit]
    except TaneError as e:
        error_exit(e)
        return
    opts = AnswerOptions(temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                         seed=seed, system=system)
    err.print(f"tane eval answer: {b.path} ({b.format}, {b.lang}, {len(b.items)} items) -> "
              f"{out_dir}; " + "; ".join(f"{n}: {s.where}" for n, s in specs.items()),
              highlight=False)

    async def go():
        with EvalDir(out_dir, create=True) as ed:
            return await run_answer(ed, b, specs, opts, progress)

    info = _step(go)
    _said_answer(info, out_dir)
    _end("answer", info, out_dir, ANSWERS)


def _said_answer(info: dict[str, Any], evaldir: Path) -> None:
    out.print(f"answers: {evaldir / 'answers.jsonl'} ({info['ok']} of {info['rows']} ok, "
              f"{info['length_cut']} cut at max_tokens; {info['calls']} calls, "
              f"{info['cache_hits']} from the journal)", highlight=False)


def _said_grade(info: dict[str, Any], evaldir: Path) -> None:
    out.print(f"grades: {evaldir / 'grades.jsonl'} ({info['judge']}: {info['ok']} scored, "
              f"{info['parse_failed']} unparseable, {info['error']} failed of {info['rows']}; "
              f"scale {info['scale']}; {info['calls']} calls, {info['cache_hits']} from the "
              "journal)", highlight=False)


def _said_compare(info: dict[str, Any], evaldir: Path) -> None:
    out.print(f"comparisons: {evaldir / 'comparisons.jsonl'} ({info['a']} vs {info['b']}, "
              f"{info['judge']}: {info['ok']} judged in both orders, {info['inconsistent']} "
              f"changed with the order, {info['parse_failed']} unparseable, {info['error']} "
              f"failed of {info['rows']}; {info['calls']} calls, {info['cache_hits']} from "
              "the journal)", highlight=False)


_JUDGE_MODEL_HELP = ("the older spelling of --judge URL,model=NAME (default: from "
                     "--judge)")
_JUDGE_LICENSE_HELP = ("the judge model's licence, recorded in eval.json and the report "
                       "(default: unknown)")


def _judge(judge: str, judge_model: str | None, judge_license: str | None,
           judge_name: str | None):
    from ..eval.models import parse_judge

    return parse_judge(judge, judge_model, judge_license, judge_name)


def _note_judge_model(judge_model: str | None) -> None:
    """Once the flags are all read (an error in them stays one line)."""
    if judge_model is not None:
        err.print("note: --judge-model is the older spelling of --judge URL,model=NAME; it "
                  "still works", highlight=False, soft_wrap=True)


@eval_app.command("grade")
def eval_grade(
        evaldir: Path = typer.Argument(..., help="eval directory (from tane eval answer)"),
        judge: str = typer.Option(..., help=_JUDGE_HELP),
        judge_model: str | None = typer.Option(None, help=_JUDGE_MODEL_HELP),
        judge_license: str | None = typer.Option(None, help=_JUDGE_LICENSE_HELP),
        judge_name: str | None = typer.Option(None, help="name of the judge in the "
                                                 "files (default: the model's name)"),
        scale: int | None = typer.Option(None, help="5 (ELYZA rubric) or 10 (MT-Bench); "
                                            "default: 10 for MT-Bench, else 5"),
        models: list[str] = typer.Option([], "--models", help="grade only these models "
                                         "(repeatable; default: all)"),
        max_tokens: int = typer.Option(512, help="tokens per verdict at most"),
        temperature: float = typer.Option(0.0),
        seed: int = typer.Option(0),
        reference: str = typer.Option("auto", help="show the reference answer: auto (5: "
                                      "always; 10: maths, reasoning, coding) | always | never"),
        lang: str | None = typer.Option(None, help="language of the judge prompt "
                                           "(default: the benchmark's)"),
        logprobs: int = typer.Option(0, help="ask the judge's server for the N most likely "
                                     "tokens at each position (1-20) and report the "
                                     "probability-weighted grade beside the 1-5 one "
                                     "(default 0: not asked)"),
        progress: bool = typer.Option(True)) -> None:
    """An LLM judge grades every answer, turn by turn, on an absolute scale."""
    from ..eval.evaldir import GRADES, EvalDir
    from ..eval.grade import run_grade

    try:
        spec = _judge(judge, judge_model, judge_license, judge_name)
        opts = _opts_judge(max_tokens, temperature, seed, reference, lang)
        if scale not in (None, 5, 10):
            raise TaneError(f"--scale must be 5 or 10, got {scale}", field="scale")
        if not 0 <= logprobs <= 20:
            raise TaneError(f"--logprobs must be 0 to 20, got {logprobs}", field="logprobs")
        opts.logprobs = logprobs
    except TaneError as e:
        error_exit(e)
        return
    err.print(f"tane eval grade: {evaldir}; judge {spec.name}: {spec.where}", highlight=False)
    _note_judge_model(judge_model)
    sel = [m for v in models for m in v.split(",") if m] or None

    async def go():
        with EvalDir(evaldir) as ed:
            return await run_grade(ed, spec, scale, sel, opts, progress)

    info = _step(go)
    _said_grade(info, evaldir)
    _end("grade", info, evaldir, GRADES)


@eval_app.command("compare")
def eval_compare(
        evaldir: Path = typer.Argument(..., help="eval directory (from tane eval answer)"),
        a: str = typer.Option(..., "--a", help="model A"),
        b: str = typer.Option(..., "--b", help="model B, or 'baseline' for the benchmark's "
                              "baseline outputs (AlpacaEval style)"),
        judge: str = typer.Option(..., help=_JUDGE_HELP),
        judge_model: str | None = typer.Option(None, help=_JUDGE_MODEL_HELP),
        judge_license: str | None = typer.Option(None, help=_JUDGE_LICENSE_HELP),
        judge_name: str | None = typer.Option(None, help="name of the judge in the files "
                                              "(default: the model's name)"),
        levels: int = typer.Option(3, help="3 (A, B, tie) or 5 (A>>B, A>B, A=B, B>A, B>>A)"),
        max_tokens: int = typer.Option(512),
        temperature: float = typer.Option(0.0),
        seed: int = typer.Option(0),
        reference: str = typer.Option("auto", help="auto | always | never"),
        lang: str | None = typer.Option(None, help="language of the judge prompt "
                                        "(default: the benchmark's)"),
        progress: bool = typer.Option(True)) -> None:
    """A judge compares two models item by item, in both orders (a verdict that changes
    with the order is a tie)."""
    from ..eval.compare import run_compare
    from ..eval.evaldir import COMPARISONS, EvalDir

    try:
        spec = _judge(judge, judge_model, judge_license, judge_name)
        opts = _opts_judge(max_tokens, temperature, seed, reference, lang)
    except TaneError as e:
        error_exit(e)
        return
    err.print(f"tane eval compare: {evaldir}; {a} vs {b}; judge {spec.name}: {spec.where}",
              highlight=False)
    _note_judge_model(judge_model)

    async def go():
        with EvalDir(evaldir) as ed:
            return await run_compare(ed, spec, a, b, levels, opts, progress)

    info = _step(go)
    _said_compare(info, evaldir)
    _end("compare", info, evaldir, COMPARISONS)


@eval_app.command("report")
def eval_report(
        evaldir: Path = typer.Argument(..., help="eval directory"),
        output: Path | None = typer.Option(None, "-o", "--out",
                                              help="report directory (default EVALDIR/report)"),
        seed: int = typer.Option(0, help="seed of the bootstrap"),
        n_boot: int = typer.Option(2000, help="bootstrap resamples"),
        difficulty: Path | None = typer.Option(
            None, help="item difficulties for the length-controlled win rates (JSON Lines "
                       "with item_id and difficulty; higher: easier for the compared "
                       "models; default: fitted from the models compared)"),
        ja_min: float | None = typer.Option(
            None, "--ja-min", help="score answers of a Japanese benchmark whose Japanese "
                                   "share (kana + kanji) is below this as failures (default: "
                                   "none scored, flagged below 0.4)")) -> None:
    """Tables, plots and an Excel sheet of disagreements from an eval directory."""
    try:
        _report(evaldir, output, seed, n_boot, difficulty, ja_min)
    except TaneError as e:
        error_exit(e)


def _report(evaldir: Path, output: Path | None, seed: int = 0, n_boot: int = 2000,
            difficulty: Path | None = None, ja_min: float | None = None) -> None:
    if not (evaldir / "eval.json").is_file():
        raise TaneError("not an eval directory (no eval.json)", path=str(evaldir))
    try:
        from ..eval.report import write_report
    except ModuleNotFoundError as e:
        if e.name in ("tane.eval.report", "tane.eval.stats"):
            raise TaneError("this installation of tane has no report writer "
                            "(tane.eval.report)") from None
        raise TaneError(f"tane eval report needs {e.name}: pip install "
                        "'tane[report]'") from None
    rep = write_report(evaldir, output, seed=seed, n_boot=n_boot, difficulty=difficulty,
                       ja_min=ja_min)
    where = output or evaldir / "report"
    files = list((rep.get("files") or {}).values()) + list(rep.get("plots") or []) \
        if isinstance(rep, dict) else []
    out.print(f"report: {where}" + (f" ({', '.join(files)})" if files else ""),
              highlight=False)
    for w in (rep.get("warnings") or []) if isinstance(rep, dict) else []:
        err.print(f"warning: {w}", highlight=False, markup=False, soft_wrap=True)
    for note in (rep.get("notes") or []) if isinstance(rep, dict) else []:
        err.print(f"note: {note}", highlight=False)


@eval_app.command("judge-vs-human")
def eval_judge_vs_human(
        run_dir: Path = typer.Argument(..., help="run directory with human review decisions"),
        as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """How far a run's LLM judge agrees with the humans who reviewed its records: weighted
    kappa and Spearman against the web review's ratings, and keep/drop agreement (the
    judge's drops the humans kept) against the review revisions, with counts."""
    import json

    from ..eval.human import judge_vs_human, render

    try:
        res = judge_vs_human(run_dir)
    except TaneError as e:
        error_exit(e)
        return
    if as_json:
        out.print_json(json.dumps(res, ensure_ascii=False))
        return
    for line in render(res):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@eval_app.command("run")
def eval_run(
        plan_file: Path = typer.Argument(..., help="eval plan YAML (bench, models, judges, "
                                         "answer, grade, compare, report)"),
        out_dir: Path | None = typer.Option(None, "--out", "-o", help="eval directory "
                                            "(default: the plan's out:)"),
        limit: int | None = typer.Option(None, help="only the first N items (default: the "
                                         "plan's limit:, else all)"),
        progress: bool = typer.Option(True, help="progress lines on stderr")) -> None:
    """Every step of an evaluation from one YAML file: answer, grade, compare, report.
    Rerun the same command to resume."""
    from ..eval.answer import AnswerOptions, run_answer
    from ..eval.bench import load_bench
    from ..eval.compare import run_compare
    from ..eval.evaldir import ANSWERS, COMPARISONS, GRADES, EvalDir
    from ..eval.grade import JudgeOptions, run_grade
    from ..eval.plan import load_plan, report_options, resolve

    try:
        if limit is not None and limit < 1:
            raise TaneError("--limit must be at least 1", field="limit")
        plan, base = load_plan(plan_file)
        if out_dir is None and not plan.out:
            raise TaneError("no eval directory: give --out or out: in the plan",
                            path=str(plan_file), field="out")
        evaldir = out_dir or Path(resolve(base, plan.out or ""))
        refs = resolve(base, plan.references) if plan.references else None
        b = load_bench(resolve(base, plan.bench), plan.format, refs, plan.lang)
        limit = limit or plan.limit
        if limit:
            b.items = b.items[:limit]
        rep_opts = report_options(plan, plan_file, base, b)
    except TaneError as e:
        error_exit(e)
        return
    models = {n: m.spec(n) for n, m in plan.models.items()}
    judges = {n: m.spec(n) for n, m in plan.judges.items()}
    a = plan.answer
    err.print(f"tane eval run: {b.path} ({b.format}, {b.lang}, {len(b.items)} items) -> "
              f"{evaldir}", highlight=False)
    worst = 0

    def check(code: int) -> None:
        nonlocal worst
        if code == 4:
            raise typer.Exit(4)
        worst = max(worst, code)

    async def answer():
        with EvalDir(evaldir, create=True) as ed:
            return await run_answer(ed, b, models, AnswerOptions(
                temperature=a.temperature, top_p=a.top_p, max_tokens=a.max_tokens,
                seed=a.seed, system=a.system), progress)

    info = _step(answer)
    _said_answer(info, evaldir)
    check(_outcome("answer", info, evaldir, ANSWERS))

    def opts(sec) -> JudgeOptions:
        return JudgeOptions(max_tokens=sec.max_tokens, temperature=sec.temperature,
                            seed=sec.seed, reference=sec.reference, lang=sec.lang)

    if plan.grade is not None:
        g = plan.grade
        for name in plan.judge_names(g):
            async def grade(name=name):
                with EvalDir(evaldir) as ed:
                    o = opts(g)
                    o.logprobs = g.logprobs
                    return await run_grade(ed, judges[name], g.scale, g.models, o,
                                           progress)

            info = _step(grade)
            _said_grade(info, evaldir)
            check(_outcome("grade", info, evaldir, GRADES))
    for c in plan.compare:
        for name in plan.judge_names(c):
            async def compare(name=name, c=c):
                with EvalDir(evaldir) as ed:
                    return await run_compare(ed, judges[name], c.a, c.b, c.levels, opts(c),
                                             progress)

            info = _step(compare)
            _said_compare(info, evaldir)
            check(_outcome("compare", info, evaldir, COMPARISONS))
    if plan.report is not None:
        try:
            _report(evaldir, None, **rep_opts)
        except TaneError as e:
            error_exit(e)
    if worst:
        raise typer.Exit(worst)
