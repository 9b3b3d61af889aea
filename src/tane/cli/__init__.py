"""Command line: the typer app, one module per group of commands (run, data, export, review)."""

from __future__ import annotations

import sys

from ..errors import TaneError
from . import data, export, plan, review, run, show  # noqa: F401  (each adds its commands to ``app``)
from . import eval as eval_commands  # noqa: F401  (tane eval ...)
from .common import app, err

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except TaneError as e:  # pragma: no cover - commands catch their own
        err.print(f"error: {e.one_line()}")
        sys.exit(e.exit_code)
