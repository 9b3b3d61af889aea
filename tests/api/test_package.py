"""``import tane``: light, and every API name where docs/python.md says it is."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tane

HEAVY = ("typer", "rich", "aiohttp", "pydantic", "yaml", "numpy", "datasets", "jinja2")
SRC = Path(tane.__file__).resolve().parent


def _fresh(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_import_tane_loads_nothing_heavy():
    out = _fresh("import sys, tane; print(' '.join(sorted({m.split('.')[0] for m in "
                 "sys.modules})))")
    loaded = set(out.split())
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    out = _fresh("import sys, tane; print(sorted(m for m in sys.modules "
                 "if m.startswith('tane.')))")
    assert out == "[]"


def test_a_name_loads_its_module_when_first_used():
    out = _fresh("import sys, tane; tane.TaneError; print('pydantic' in sys.modules); "
                 "tane.load; print('tane.api.load' in sys.modules, 'typer' in sys.modules)")
    assert out.splitlines() == ["False", "True False"]


def test_every_api_name_resolves_to_what_the_facade_table_says():
    import importlib

    for name, module in tane._API.items():
        obj = getattr(tane, name)
        if name in tane._CALLABLE_PACKAGES:  # the package; calling it calls the function
            assert obj is sys.modules[f"tane.{name}"]
        else:
            assert obj is getattr(importlib.import_module(module), name)
    assert set(tane.__all__) == set(tane._API) | {"__version__"}
    assert set(tane._API) <= set(dir(tane))
    # the table points only at the API and the bottom floor: the root depends on nothing
    assert {m for m in tane._API.values()} <= {"tane.api.run", "tane.api.load", "tane.api.preview",
                                               "tane.api.data", "tane.recipe",
                                               "tane.errors"}


def test_the_root_imports_no_tane_module_by_name():
    """The layer check cannot see a string lookup, so this checks there is no other."""
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.level or (node.module or "").startswith("tane")), node.module
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("tane") for a in node.names)


def test_curate_and_export_are_packages_and_functions():
    import types

    import tane.curate.rouge as rouge  # noqa: PLR0402  (this form must still work)
    from tane.export import formats

    assert isinstance(tane.curate, types.ModuleType) and callable(tane.curate)
    assert isinstance(tane.export, types.ModuleType) and callable(tane.export)
    assert tane.curate.rouge is rouge and tane.export.formats is formats
    res = tane.curate([{"instruction": "短い"}, {"instruction": "十分に長い指示です。"}],
                      [{"name": "length", "instruction_min": 5}])
    assert [r["instruction"] for r in res.kept] == ["十分に長い指示です。"]


def test_the_packages_are_callable_whichever_is_imported_first():
    for first in ("import tane.export.card", "from tane.curate import rows",
                  "import tane"):
        out = _fresh(f"{first}\nimport tane\nprint(callable(tane.curate), "
                     "callable(tane.export))")
        assert out == "True True", first
