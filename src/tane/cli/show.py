"""``tane show DIR``: a few kept and dropped records side by side, with the reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import TaneError
from .common import app, error_exit, out


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def show(path: Path = typer.Argument(..., help="a run directory, or a JSONL file written by "
                                               "tane curate / tane dedup"),
         stage: Optional[str] = typer.Option(None, help="only drops of this stage (default: all "
                                                        "stages)"),
         reason: Optional[str] = typer.Option(None, help="only drops with this reason "
                                                         "(repetition matches "
                                                         "repetition:ngram; default: all but "
                                                         "over_target)"),
         sample: int = typer.Option(3, "--sample", "-n", help="records of each side to show"),
         seed: int = typer.Option(0, help="which records the sample draws"),
         kept: bool = typer.Option(True, "--kept/--no-kept", help="show kept records"),
         dropped: bool = typer.Option(True, "--dropped/--no-dropped",
                                      help="show dropped records"),
         chars: int = typer.Option(240, help="characters shown of each field")) -> None:
    """Kept and dropped records side by side, with each drop's stage, reason and detail."""
    from ..report.show import load, render, select

    try:
        if sample < 1:
            raise TaneError(f"--sample must be at least 1, got {sample}", field="sample")
        all_kept, all_dropped = load(path)
    except TaneError as e:
        error_exit(e)
        return
    k, d = select(all_kept, all_dropped, stage=stage, reason=reason, sample=sample, seed=seed,
                  show_kept=kept, show_dropped=dropped)
    out.print(render(all_kept, all_dropped, k, d, limit=chars))
