"""tane (種): grow instruction-tuning datasets from a handful of human-written seeds.

The Python API (docs/python.md)::

    import tane

    recipe = tane.Recipe.from_yaml("recipes/quickstart.yaml")
    result = tane.run(recipe, out="runs/qs", target=4, progress=print)
    records = tane.load("runs/qs")          # .kept, .dropped, .stats, .to_dataset()
    tane.curate(rows, [{"name": "length"}]) # also tane.dedup(...), tane.export(...)

``import tane`` loads nothing else: each name below is looked up in the module that
defines it (``tane.api``, ``tane.recipe``, ``tane.errors``) when first used.

``tane.curate`` and ``tane.export`` are also the names of subpackages. They stay those
packages (``tane.curate.steps``, ``import tane.export.card`` work as before), and calling
one calls the API function of that name.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# name -> the module that defines it, imported when the name is first used
_API = {
    "Recipe": "tane.recipe",
    "TaneError": "tane.errors", "ServerError": "tane.errors", "BackendError": "tane.errors",
    "run": "tane.api.run", "run_async": "tane.api.run", "RunResult": "tane.api.run",
    "RunProgress": "tane.api.run", "StageProgress": "tane.api.run",
    "load": "tane.api.load", "Records": "tane.api.load",
    "preview": "tane.api.preview", "PreviewResult": "tane.api.preview",
    "curate": "tane.api.data", "dedup": "tane.api.data", "export": "tane.api.data",
    "DataResult": "tane.api.data",
}
# API names that are subpackages too: calling the package calls the function
_CALLABLE_PACKAGES = frozenset({"curate", "export"})

__all__ = [
    "BackendError",
    "DataResult",
    "PreviewResult",
    "Recipe",
    "Records",
    "RunProgress",
    "RunResult",
    "ServerError",
    "StageProgress",
    "TaneError",
    "__version__",
    "curate",
    "dedup",
    "export",
    "load",
    "preview",
    "run",
    "run_async",
]


def _resolve(name: str) -> object:
    return getattr(importlib.import_module(_API[name]), name)


class _CallablePackage(types.ModuleType):
    """A subpackage that is also an API function (``tane.curate(...)``)."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        return _resolve(self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    """``tane`` itself: the import system sets each loaded subpackage as an attribute;
    the two that are API names become callable then."""

    def __setattr__(self, name: str, value: object) -> None:
        if (name in _CALLABLE_PACKAGES and isinstance(value, types.ModuleType)
                and type(value) is types.ModuleType):
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


def __getattr__(name: str) -> object:
    if name in _CALLABLE_PACKAGES:  # not imported yet: importing sets it (callable)
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = _resolve(name)
    return value


def __dir__() -> list[str]:
    loaded = {k for k, v in globals().items() if isinstance(v, types.ModuleType)
              and v.__name__.startswith(__name__ + ".")}
    return sorted(set(__all__) | loaded)


sys.modules[__name__].__class__ = _Package
