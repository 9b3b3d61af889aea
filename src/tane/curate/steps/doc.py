"""The step reference in docs/curation.md, written from the registry so it cannot drift.

    python -m tane.curate.steps.doc docs/curation.md   # rewrite the generated part
    python -m tane.curate.steps.doc                    # print it

The part between ``<!-- steps:begin -->`` and ``<!-- steps:end -->`` is generated; a
test compares it with `render()`.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from tane.curate.steps import STEPS

BEGIN, END = "<!-- steps:begin -->", "<!-- steps:end -->"


def _type(ann: Any) -> str:
    if isinstance(ann, type):
        return ann.__name__
    t = str(ann).replace("typing.", "")
    return re.sub(r"Optional\[(.*)\]$", r"\1 | None", t)


def _default(v: Any) -> str:
    if isinstance(v, list) and len(json.dumps(v, ensure_ascii=False)) > 60:
        return f"{len(v)} built-in entries"
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 60 else s[:57] + "…"


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    out = [BEGIN, "", "| step | languages | drop reasons |", "|---|---|---|"]
    for name, cls in STEPS.items():
        reasons = ", ".join(f"`{name}:{r}`" for r in cls.reasons) or f"`{name}`"
        out.append(f"| [`{name}`](#{name}) | {'/'.join(cls.langs or ('any',))} | "
                   f"{reasons} |")
    for name, cls in STEPS.items():
        doc = inspect.cleandoc(cls.__doc__ or "")
        out += ["", f"### {name}", "", doc, "",
                "| parameter | type | default | note |", "|---|---|---|---|"]
        for pname, info in cls.Params.model_fields.items():
            out.append(f"| `{pname}` | `{_cell(_type(info.annotation))}` | "
                       f"`{_cell(_default(info.default))}` | "
                       f"{_cell(info.description or '')} |")
    out += ["", END]
    return "\n".join(out)


def update(path: str | Path) -> bool:
    """Rewrite the generated part of `path`; True when it changed."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    a, b = text.index(BEGIN), text.index(END) + len(END)
    new = text[:a] + render() + text[b:]
    if new != text:
        p.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print("updated" if update(sys.argv[1]) else "up to date")
    else:
        print(render())
