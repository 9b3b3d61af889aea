"""What every command module shares: the typer app, the consoles and the one-line failure."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ..errors import TaneError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="tane (種): grow instruction-tuning datasets from a few human seeds.")
err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 110)


def _fail(e: TaneError) -> None:
    err.print(f"[red]error:[/] {e.one_line()}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(e.exit_code)
