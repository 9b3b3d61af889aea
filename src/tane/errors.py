"""User-facing errors: one line naming the file, line and field; exit code 2."""

from __future__ import annotations

from json import JSONDecodeError


class TaneError(Exception):
    """An error caused by the user's input. Printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.path:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        fld = f"field '{self.field}': " if self.field else ""
        return f"{where}{fld}{self.message}".replace("\n", " ")


class ServerError(TaneError):
    """The model server cannot be used: unreachable, refusing the key, or without the
    model. Printed as one line naming the URL; exit code 4."""

    exit_code = 4


# `tane run` exit codes: 0 complete; 2 bad input; 3 ended below its target; 4 the model
# server could not be used; 5 no space left on the disk (every command); 130 interrupted
INCOMPLETE_EXIT = 3


class BackendError(TaneError):
    """The LLM backend cannot be used as asked (bad spec, missing capability)."""


class DiskFullError(TaneError):
    """No space left where tane writes: ``no space left on MOUNT while writing PATH; free
    space and rerun the same command``. Exit code 5; what was committed stays (a rerun
    resumes)."""

    exit_code = 5


def json_problem(e: JSONDecodeError) -> str:
    """What is wrong in a JSON text and at which column of its line: ``Expecting ','
    delimiter at column 21``. Python's messages that end in "at" (``Unterminated string
    starting at``, ``Invalid control character at``) take the column without a second
    "at"."""
    return f"{e.msg} {'' if e.msg.endswith(' at') else 'at '}column {e.colno}"
