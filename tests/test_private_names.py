"""No module imports another module's private names (``_name``): what one module offers
another is public, named without a leading underscore. Read from the source (AST), every
``from tane... import`` and relative import, inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tane"


def private_imports(root: Path = SRC) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if not node.level and not (node.module or "").startswith("tane"):
                continue  # another package's names are its own business
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} "
                                 f"{'.' * node.level}{node.module or ''} import {a.name}")
    return found


def test_no_module_imports_a_private_name():
    found = private_imports()
    assert not found, "private names imported across modules:\n" + "\n".join(found)


if __name__ == "__main__":
    print("\n".join(private_imports()))
