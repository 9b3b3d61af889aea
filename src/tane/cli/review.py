"""``tane review export|import``: the human review round trip; ``tane review serve|agreement``:
the team review in the browser."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import TaneError
from .common import app, err, error_exit, out

review_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Human review: export a run to XLSX/CSV and import "
                              "the reviewed file as persistent revisions, or serve it to a team in "
                              "the browser (serve, agreement).")
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(run_dir: Path = typer.Argument(..., help="run directory"),
                  output: Path = typer.Option(..., "-o", "--output",
                                              help="review file, .xlsx or .csv"),
                  include_dropped: bool = typer.Option(False, help="also list the rows "
                                                       "the pipeline dropped (read only)"),
                  answers: bool = typer.Option(False, "--answers", help="add a read-only "
                                               "column with the web reviewers' answers "
                                               "(tane review serve)")
                  ) -> None:
    """Write a run's records to a spreadsheet for human review."""
    from ..review import export_review

    try:
        rep = export_review(run_dir, output, include_dropped=include_dropped,
                            answers=answers)
    except TaneError as e:
        error_exit(e)
        return
    records = rep.rows - rep.dropped_rows
    what = (f"{records - rep.review_dropped} records in the dataset, {rep.review_dropped} "
            "dropped by an earlier review" if rep.review_dropped else f"{records} records")
    out.print(f"review file: {rep.path} ({what}"
              + (f", {rep.dropped_rows} dropped rows" if include_dropped else "") + ")",
              highlight=False)


@review_app.command("import")
def review_import(run_dir: Path = typer.Argument(..., help="run directory"),
                  review_file: Path = typer.Argument(..., help="reviewed .xlsx or .csv"),
                  force: bool = typer.Option(False, "--force",
                                             help="import a stale file: the rows it "
                                                  "changes overwrite what another import "
                                                  "changed since its export"),
                  dry_run: bool = typer.Option(False, "--dry-run",
                                               help="show what would change; write "
                                                    "nothing")) -> None:
    """Validate a reviewed file, store its decisions as revisions (all or nothing) and
    rewrite dataset.jsonl / rejected.jsonl (no model is run). A row left as exported is
    no decision; a row changed in the file and by another import since its export is
    refused (--force). Refused while a run works in the directory."""
    from ..review import import_review

    try:
        rep = import_review(run_dir, review_file, force=force, dry_run=dry_run)
    except TaneError as e:
        error_exit(e)
        return
    by: dict[str, int] = {}
    for r in rep.revisions:
        by[r["status"]] = by.get(r["status"], 0) + 1
    what = ", ".join(f"{k}: {v}" for k, v in sorted(by.items())) or "no changes"
    if rep.overwritten:
        rows = ", ".join(f"{it['line']} ({it['record_id']})" for it in rep.overwritten)
        err.print(f"[yellow]warning:[/] --force: rows {rows} overwrite a later review",
                  highlight=False, markup=True, soft_wrap=True)
    if rep.dry_run:
        for r in rep.revisions:
            changed = ", ".join(r.get("changed") or []) or "no text change"
            note = f"; note: {r['note']}" if r.get("note") else ""
            out.print(f"row {r['line']} {r['record_id']}: {r['status']} ({changed}){note}",
                      highlight=False, markup=False, soft_wrap=True)
        out.print(f"dry run: {len(rep.revisions)} revision(s) would be added ({what}); "
                  "nothing was written", highlight=False)
        return
    out.print(f"{len(rep.revisions)} new revision(s) ({what}); dataset: {rep.kept} "
              f"records, {rep.dropped} dropped by review", highlight=False)


def _reviewers(reviewers: str | None, reviewers_file: Path | None) -> list[str]:
    names: list[str] = []
    if reviewers_file is not None:
        try:
            text = reviewers_file.read_text(encoding="utf-8")
        except OSError as e:
            raise TaneError(f"cannot read: {e.strerror or e}", path=str(reviewers_file))
        names = [ln.strip() for ln in text.splitlines()
                 if ln.strip() and not ln.startswith("#")]
    elif reviewers:
        names = [n.strip() for n in reviewers.split(",") if n.strip()]
    bad = [n for n in names if not n.replace("-", "").replace("_", "").isalnum()
           or n == "admin"]
    if not names or bad or len(set(names)) != len(names):
        raise TaneError("reviewers: one or more unique names of letters, digits, - and _ "
                        "(not 'admin'), e.g. --reviewers alice,bob,carol",
                        path=str(reviewers_file) if reviewers_file else None,
                        field="reviewers")
    return names


@review_app.command("serve")
def review_serve(run_dir: Path = typer.Argument(..., help="run directory"),
                 host: str = typer.Option("127.0.0.1", help="address to bind"),
                 port: int = typer.Option(8765, help="port (0: any free port)"),
                 reviewers: str = typer.Option(None, help="comma-separated reviewer names (no default: "
                                          "this or --reviewers-file)"),
                 reviewers_file: Path = typer.Option(None, help="one reviewer name a line (default: none)"),
                 overlap: int = typer.Option(2, help="reviewers per record (at least 1)"),
                 rule: str = typer.Option("majority", help="decides a record without an "
                                          "adjudicator: majority or unanimous"),
                 guidelines: Path = typer.Option(None, help="Markdown shown beside records (default: none)"),
                 questions: Path = typer.Option(None, help="questions YAML (default: "
                                                "quality 1-5, natural Japanese yes/no)"),
                 include_dropped: bool = typer.Option(False, help="also review the records "
                                                      "the pipeline dropped (a keep "
                                                      "revives one)")
                 ) -> None:
    """Serve a run's records to a team of reviewers in the browser (needs the 'review'
    extra). Prints each reviewer's link and the admin link once; tokens are stored only
    as hashes, and a restart issues new ones."""
    try:
        import uvicorn

        from ..review.web.app import create_app
        from ..review.web.questions import load
        from ..store.revisions import machine_output
    except ImportError as e:
        error_exit(TaneError(f"tane review serve needs the review extra "
                        f"(pip install 'tane[review]'): {e}"))
        return
    try:
        from ..review.web.decide import RULES

        if rule not in RULES:
            raise TaneError(f"--rule {rule!r}: use {' or '.join(RULES)}", field="--rule")
        if overlap < 1:
            raise TaneError(f"--overlap {overlap}: at least 1", field="--overlap")
        names = _reviewers(reviewers, reviewers_file)
        qs = load(questions)
        guide = ""
        if guidelines is not None:
            try:
                guide = guidelines.read_text(encoding="utf-8")
            except OSError as e:
                raise TaneError(f"cannot read: {e.strerror or e}", path=str(guidelines))
        machine_output(run_dir)
        app, tokens, review = create_app(run_dir, names, overlap, qs, rule, guide,
                                         include_dropped)
    except TaneError as e:
        error_exit(e)
        return
    # an idle connection is kept 65 s (uvicorn's default, 5 s, is httpx's own idle limit:
    # both closing at once made a reused connection fail now and then under load)
    config = uvicorn.Config(app, host=host, port=port, access_log=False,
                            log_level="warning", server_header=False, timeout_keep_alive=65)
    server = uvicorn.Server(config)

    async def serve() -> None:
        import asyncio

        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            sock = server.servers[0].sockets[0].getsockname()
            base = f"http://{host if ':' not in host else f'[{host}]'}:{sock[1]}"
            for name, tok in tokens.items():
                out.print(f"{name}: {base}/login#{tok}", highlight=False, soft_wrap=True)
            if host not in ("127.0.0.1", "localhost", "::1"):
                err.print(f"[yellow]warning:[/] serving {host} in plain HTTP: the links "
                          "give access to anyone who can read the traffic; put a TLS "
                          "proxy or an SSH tunnel in front", highlight=False, markup=True)
            out.print(f"serving {run_dir} ({len(review.items)} records, overlap "
                      f"{review.overlap}); Ctrl+C stops", highlight=False)
        await task

    import asyncio

    asyncio.run(serve())


@review_app.command("agreement")
def review_agreement(run_dir: Path = typer.Argument(..., help="run directory"),
                     as_json: bool = typer.Option(False, "--json", help="print JSON"),
                     overlap: int = typer.Option(2, help="reviewers per record, at least 1 "
                                                 "(for 'complete')"),
                     questions: Path = typer.Option(None, help="the questions YAML the "
                                                    "review was served with (default: the "
                                                    "built-in questions)"),
                     include_dropped: bool = typer.Option(False, help="as the review was "
                                                          "served")) -> None:
    """Progress and agreement of a web review: percent agreement, Cohen's kappa (two
    reviewers; quadratic-weighted for ratings), Fleiss' kappa, Krippendorff's alpha, and
    the judge against the humans."""
    import json

    try:
        from ..review.web.questions import load
        from ..store.review_figures import run_figures

        if overlap < 1:
            raise TaneError(f"--overlap {overlap}: at least 1", field="--overlap")
        qs = load(questions)
        figs = run_figures(run_dir, qs, overlap, include_dropped, always=True)
        assert figs is not None
    except TaneError as e:
        error_exit(e)
        return
    if as_json:
        out.print_json(json.dumps(figs, ensure_ascii=False))
        return
    def f(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"
    out.print(f"{figs['complete']} of {figs['records']} records complete; "
              f"{figs['submissions']} submissions", highlight=False)
    for name, p in figs["progress"].items():
        out.print(f"  {name}: {p['submitted']} submitted, {p['skipped']} skipped, "
                  f"{p['drafts']} drafts", highlight=False)
    for name, a in figs["questions"].items():
        out.print(f"{name} ({a['level']}, {a['items']} items): percent {f(a['percent'])}, "
                  f"Cohen's kappa {f(a.get('cohen'))}, Fleiss' kappa {f(a['fleiss'])}, "
                  f"Krippendorff's alpha {f(a['alpha'])}", highlight=False)
    j = figs["judge"]
    out.print(f"judge vs humans: {j['items']} items, Spearman {f(j.get('spearman'))}, "
              f"weighted kappa {f(j.get('kappa'))}; judge's drops reviewed "
              f"{j.get('drops_reviewed', 0)}, kept by the humans {j.get('drops_kept', 0)}",
              highlight=False)
