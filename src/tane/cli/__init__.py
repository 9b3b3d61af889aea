"""Command line: the typer app, one module per group of commands (run, data, export, review)."""

from __future__ import annotations

import sqlite3
import sys

from ..errors import TaneError
# each adds its commands to ``app``
from . import data, export, plan, preview, review, run, serve, show  # noqa: F401
from . import eval as eval_commands  # noqa: F401  (tane eval ...)
from .common import app, err

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except TaneError as e:  # pragma: no cover - commands catch their own
        err.print(f"error: {e.one_line()}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except (OSError, sqlite3.Error) as e:  # a path the user gave, a full disk: one line
        from ..store.files import os_error

        one = os_error(e)
        err.print(f"error: {one.one_line()}", highlight=False, soft_wrap=True)
        sys.exit(one.exit_code)
