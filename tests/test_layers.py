"""Import structure of ``src/tane``, read from the source (AST; nothing is imported).

Two rules, both over every import statement in a file: top-level, inside functions and
under ``if TYPE_CHECKING`` alike (a lazy or type-only import is still a dependency), plus
``importlib.import_module("tane....")`` with a literal name.

1. No import cycles between modules.
2. Dependencies point down the floors of DESIGN.md's layer table:

   ====== =====================================================================
   floor  packages / modules
   ====== =====================================================================
   8      ``cli``
   7      ``api`` (the Python API: ``tane.run``, ``tane.load``, ``tane.curate`` ...)
   6      ``pipeline``; beside it ``review``, ``export``, ``report``, ``eval``
   5      ``methods``
   4      ``curate``; beside it ``engine`` (the stage contract: context, counts,
          the stage Protocols)
   3      ``llm``
   2      ``store``
   1      the bottom floor: ``schema``, ``stage``, ``errors``, ``config``,
          ``recipe``, ``seeds``, ``prompts``, ``yaml_errors``, ``provenance`` and the package root
          ``tane``
   ====== =====================================================================

   The package root ``tane`` names the API lazily: its ``__getattr__`` looks each name up
   in ``tane.api`` (``tane.recipe``, ``tane.errors``) by a string at first use, so the
   root depends on nothing (tests/api/test_package.py checks that table).

   A module may import its own package and any lower floor. Packages on one floor do not
   import each other, except on the bottom floor (its cycles are still refused). The
   packages beside the pipeline read only ``curate``, ``store`` and the bottom floor. A
   new top-level package that is not in `FLOOR` is taken as bottom floor until it is
   placed there (the failure message says so).

`PENDING` lists the violations known today that are being removed; they are reported but
do not fail. Anything else fails, named with its file and line. An entry of `PENDING`
that is no longer found raises a warning: remove it. ``python tests/test_layers.py``
prints every violation, pending ones included.
"""

from __future__ import annotations

import ast
import functools
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tane"

BOTTOM = 1
FLOOR = {
    "cli": 8,
    "api": 7,
    "pipeline": 6, "review": 6, "export": 6, "report": 6, "eval": 6,
    "methods": 5,
    "curate": 4, "engine": 4,
    "llm": 3,
    "store": 2,
    "schema": BOTTOM, "stage": BOTTOM, "errors": BOTTOM, "config": BOTTOM,
    "recipe": BOTTOM, "seeds": BOTTOM, "prompts": BOTTOM, "yaml_errors": BOTTOM,
    "provenance": BOTTOM,
    "": BOTTOM,  # "": tane itself
}
# Beside the pipeline: these read only what is listed here (plus their own package).
SIDE = {"review", "export", "report", "eval"}
SIDE_READS = {"curate", "store"} | {p for p, f in FLOOR.items() if f == BOTTOM}
# eval asks models for answers and verdicts: it reads llm as well
SIDE_EXTRA = {"eval": {"llm"}}

# Known violations being removed now; empty this as the fixes land. Layer violations are
# "importer -> imported", cycles "cycle: " + the modules of the cycle, sorted.
PENDING: set[str] = set()


@dataclass(frozen=True)
class Edge:
    src: str     # importing module
    dst: str     # imported module
    path: str    # importing file, relative to src/
    line: int
    kind: str    # "module" (runs on import), "function" or "type-only" (TYPE_CHECKING)

    def where(self) -> str:
        return f"{self.path}:{self.line}" + ("" if self.kind == "module"
                                             else f" ({self.kind})")


# -- reading the imports -----------------------------------------------------------------
def modules(root: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `root` (a package named like it)."""
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*.py")):
        parts = (root.name,) + p.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module `name` is, or is inside of."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _walk(tree: ast.AST):
    """(node, kind) for every node: "type-only" under `if TYPE_CHECKING`, "function"
    inside a function body, else "module"."""
    stack: list[tuple[ast.AST, str]] = [(tree, "module")]
    while stack:
        node, kind = stack.pop()
        yield node, kind
        inner = kind
        if kind == "module" and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                  ast.Lambda)):
            inner = "function"
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend((c, "type-only") for c in node.body)
            stack.extend((c, inner) for c in node.orelse)
            stack.append((node.test, inner))
            continue
        stack.extend((c, inner) for c in ast.iter_child_nodes(node))


def imports(root: Path = SRC) -> list[Edge]:
    """Every import of one module of `root` by another, once per statement and target."""
    known = modules(root)
    top = root.name
    edges: list[Edge] = []
    for mod, path in known.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        rel = str(path.relative_to(root.parent))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node, kind in _walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # `from pkg import name`: the submodule pkg.name if there is one
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin
                           for a in node.names]
            elif (isinstance(node, ast.Call) and node.args
                  and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and ast.unparse(node.func) in ("importlib.import_module", "import_module")):
                targets = [node.args[0].value]
            seen: set[str] = set()
            for t in targets:
                if not (t == top or t.startswith(top + ".")):
                    continue
                dst = _resolve(t, known)
                if dst is None or dst == mod or dst in seen:
                    continue
                seen.add(dst)
                edges.append(Edge(mod, dst, rel, node.lineno, kind))
    return edges


# -- the two rules -------------------------------------------------------------------------
def _graph(edges: list[Edge]) -> dict[str, dict[str, list[Edge]]]:
    g: dict[str, dict[str, list[Edge]]] = {}
    for e in edges:
        g.setdefault(e.src, {}).setdefault(e.dst, []).append(e)
        g.setdefault(e.dst, {})
    return g


def _components(g: dict[str, dict[str, list[Edge]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def cycles(edges: list[Edge]) -> dict[str, list[Edge]]:
    """"cycle: a <-> b <-> ..." -> the imports that hold that group of modules together."""
    g = _graph(edges)
    out: dict[str, list[Edge]] = {}
    for comp in _components(g):
        members = set(comp)
        inside = [e for v in comp for w, es in sorted(g[v].items()) if w in members
                  for e in es]
        out["cycle: " + " <-> ".join(comp)] = inside
    return out


def _unit(mod: str) -> str:
    """The top-level package or module below tane ("" for tane itself)."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(edges: list[Edge]) -> dict[str, list[Edge]]:
    """"importer -> imported" -> its import statements, for every import that does not
    point down (see the module doc)."""
    out: dict[str, list[Edge]] = {}
    for e in edges:
        a, b = _unit(e.src), _unit(e.dst)
        if a == b:
            continue
        fa, fb = FLOOR.get(a, BOTTOM), FLOOR.get(b, BOTTOM)
        if a in SIDE:
            ok = (b in SIDE_READS or b in SIDE_EXTRA.get(a, ())
                  or (b not in FLOOR and fb == BOTTOM))
        elif fa == fb:
            ok = fa == BOTTOM
        else:
            ok = fa > fb
        if not ok:
            out.setdefault(f"{e.src} -> {e.dst}", []).append(e)
    return out


@functools.lru_cache(maxsize=1)
def _src_imports() -> tuple[Edge, ...]:
    """`imports()` of tane itself, read once for the tests below (each parse of every
    module took seconds)."""
    return tuple(imports(SRC))


def violations(root: Path = SRC) -> dict[str, list[Edge]]:
    edges = list(_src_imports()) if root == SRC else imports(root)
    return cycles(edges) | layer_violations(edges)


def _describe(found: dict[str, list[Edge]]) -> str:
    lines = []
    for key in sorted(found):
        lines.append(key)
        for e in sorted(found[key], key=lambda e: (e.path, e.line)):
            where = f"    {e.src} imports {e.dst} at {e.where()}"
            for u in (_unit(e.src), _unit(e.dst)):
                if u not in FLOOR:
                    where += f"  [{u!r} has no floor: bottom assumed; place it in FLOOR]"
            lines.append(where)
    return "\n".join(lines)


# -- tests ----------------------------------------------------------------------------------
def _new(found: dict[str, list[Edge]]) -> dict[str, list[Edge]]:
    return {k: v for k, v in found.items() if k not in PENDING}


def _check(kind: str, found: dict[str, list[Edge]]) -> None:
    new = _new(found)
    pending = {k: v for k, v in found.items() if k in PENDING}
    assert not new, (f"{kind}:\n{_describe(new)}\n\nknown and pending (PENDING):\n"
                     f"{_describe(pending) or '    none'}")


def test_no_import_cycles():
    _check("import cycles (function-level and type-only imports count)",
           cycles(list(_src_imports())))


def test_dependencies_point_down():
    _check("imports that do not point down the layers", layer_violations(list(_src_imports())))


def test_pending_entries_are_still_there():
    gone = sorted(PENDING - set(violations()))
    if gone:
        warnings.warn("fixed, remove from PENDING in tests/test_layers.py: "
                      + "; ".join(gone), stacklevel=1)


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def test_the_checker_sees_lazy_cycles_and_upward_imports(tmp_path):
    root = _package(tmp_path / "tane", {
        "__init__.py": "",
        "errors.py": "",
        "curate/__init__.py": "",
        "curate/a.py": "from tane.curate import b\nfrom ..errors import X\n",
        "curate/b.py": "def f():\n    from .a import g\n",
        "curate/c.py": "import typing\nif typing.TYPE_CHECKING:\n"
                       "    from tane.methods.m import T\n",
        "methods/__init__.py": "",
        "methods/m.py": "from tane.curate.c import x\nimport tane.curate\n",
        "llm/__init__.py": "",
        "llm/x.py": "import importlib\nimportlib.import_module('tane.store.s')\n",
        "store/__init__.py": "",
        "store/s.py": "",
        "export/__init__.py": "",
        "export/e.py": "from tane.llm import x\nfrom tane.curate import a\n",
        "newpkg.py": "from tane.cli import main\n",
        "cli.py": "",
    })
    edges = imports(root)
    kind = {(e.src, e.dst): e.kind for e in edges}
    assert kind[("tane.curate.b", "tane.curate.a")] == "function"
    assert kind[("tane.curate.c", "tane.methods.m")] == "type-only"
    assert kind[("tane.curate.a", "tane.errors")] == "module"
    assert kind[("tane.llm.x", "tane.store.s")] == "module"
    assert set(cycles(edges)) == {"cycle: tane.curate.a <-> tane.curate.b",
                                  "cycle: tane.curate.c <-> tane.methods.m"}
    assert set(layer_violations(edges)) == {
        "tane.curate.c -> tane.methods.m",   # upward, type-only
        "tane.export.e -> tane.llm.x",       # beside the pipeline: curate/store only
        "tane.newpkg -> tane.cli",           # unplaced: bottom floor assumed
    }
    assert "no floor" in _describe(layer_violations(edges))


if __name__ == "__main__":
    found = violations()
    print(_describe(found) or "no violations")
    sys.exit(1 if _new(found) else 0)
