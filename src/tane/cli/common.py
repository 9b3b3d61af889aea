"""What every command module shares: the typer app, the consoles and the one-line failure."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ..errors import TaneError

# rich_markup_mode=None: help texts are plain text, so "tane[report]" is printed as written
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="tane (種): grow instruction-tuning datasets from a few human seeds.")
# the recipe argument of run, plan and preview
SHIPPED_HELP = "recipe YAML, or the name of a recipe shipped with tane (quickstart, ...)"
err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 110)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"tane {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", "-V", callback=_version,
                                       is_eager=True, help="print the version and exit")
          ) -> None:
    """tane (種): grow instruction-tuning datasets from a few human seeds."""


def error_exit(e: TaneError) -> None:
    err.print(f"[red]error:[/] {e.one_line()}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(e.exit_code)


def note_older_model_flag(model: list[str]) -> None:
    """``--model NAME`` (beside ``--llm URL``) is the older spelling of ``--llm
    URL,model=NAME``, the grammar ``tane eval`` reads too: it still works; say so."""
    if model:
        err.print("note: --model is the older spelling of --llm URL,model=NAME (NAME=URL,"
                  "model=M for a named model, as tane eval writes it); it still works",
                  highlight=False, soft_wrap=True)
