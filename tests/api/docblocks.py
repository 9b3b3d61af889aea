"""The ```python blocks of docs/python.md, run in order in one namespace, as a reader
would paste them into a notebook."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"
# a block whose first line says so runs the embedded model: only in the slow test
SLOW = "# the embedded model"
_FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass
class Block:
    line: int     # line of the doc where the code starts
    code: str

    @property
    def slow(self) -> bool:
        return self.code.lstrip().startswith(SLOW)


def blocks(doc: Path = DOC) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    return [Block(text.count("\n", 0, m.start(1)) + 1, m.group(1))
            for m in _FENCE.finditer(text)]


def run_blocks(slow: bool, doc: Path = DOC) -> dict:
    """Execute the blocks (the slow ones too when ``slow``) in the current directory; a
    failure's traceback points at the doc's own line numbers."""
    ns: dict = {"__name__": "__docs__"}
    for b in blocks(doc):
        if b.slow and not slow:
            continue
        code = compile("\n" * (b.line - 1) + b.code, str(doc), "exec")
        exec(code, ns)  # noqa: S102  (the documented examples are the test)
    return ns
