"""The one registry of executors: one :func:`register_executor` line per executor.

An executor is named as ``"module:Class"`` with the options it takes, a pydantic model
(:class:`~tane.pipeline.executor_options.ExecutorOptions`, a class or its
``"module:Class"``); both are imported only when a run uses them, so ``tane --help``
reads this registry without them. ``tane run --executor NAME -X KEY=VALUE`` (or
``--KEY VALUE``) and :func:`tane.run`'s ``executor_options`` are checked against the
options, and the class is built as ``Class(plan, options)``
(:class:`~tane.pipeline.execution.ExecutionPlan`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from ..errors import TaneError

if TYPE_CHECKING:
    from ..recipe import Recipe
    from .execution import ExecutionPlan, Executor
    from .executor_options import ExecutorOptions

NO_OPTIONS = "tane.pipeline.executor_options:ExecutorOptions"


class ExecutorClass(Protocol):
    """An executor's class: built as ``Class(plan, options)``."""

    replays_shards: bool

    def __call__(self, plan: "ExecutionPlan", options: Any) -> "Executor": ...


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class ExecutorEntry:
    name: str
    target: str  # "module:Class"
    options: "type[ExecutorOptions] | str"
    help: str
    # "module:function" called as function(recipe, base_dir) before the run directory is
    # touched: what this executor cannot run, refused in one line (None: nothing)
    checks: str | None = None

    def executor_class(self) -> ExecutorClass:
        cls: ExecutorClass = _load(self.target)
        return cls

    def options_class(self) -> "type[ExecutorOptions]":
        if isinstance(self.options, str):
            cls: type[ExecutorOptions] = _load(self.options)
            return cls
        return self.options

    def check(self, recipe: "Recipe", base_dir: Path) -> None:
        """Refuse, before the run starts, a recipe this executor cannot run."""
        if self.checks is not None:
            _load(self.checks)(recipe, base_dir)

    def parse(self, given: Mapping[str, Any]) -> "ExecutorOptions":
        """The options from ``given`` (values as typed or as text); one line naming the
        option on a bad one."""
        from pydantic import ValidationError

        opts = self.options_class()
        try:
            return opts.model_validate(dict(given))
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(x) for x in err["loc"]) or "?"
            if err["type"] == "extra_forbidden":
                known = ", ".join(opts.model_fields) or "none"
                msg = f"executor {self.name!r} has no option {key!r} (its options: {known})"
            else:
                msg = (f"executor {self.name!r} option {key!r}: {err['msg']}, got "
                       f"{err.get('input')!r}")
            raise TaneError(msg, field=f"executor_options.{key}") from None


EXECUTORS: dict[str, ExecutorEntry] = {}


def register_executor(name: str, target: str,
                      options: "type[ExecutorOptions] | str" = NO_OPTIONS,
                      help: str = "", checks: str | None = None) -> None:
    if name in EXECUTORS:
        raise ValueError(f"executor {name!r} registered twice")
    EXECUTORS[name] = ExecutorEntry(name, target, options, help, checks)


def executor(name: str) -> ExecutorEntry:
    try:
        return EXECUTORS[name]
    except KeyError:
        raise TaneError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})",
                        field="executor") from None


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["workers=2", "shard_size=3"]`` -> ``{"workers": "2", "shard_size": "3"}``
    (``shard-size`` is ``shard_size``)."""
    out: dict[str, str] = {}
    for p in pairs:
        key, eq, value = p.partition("=")
        if not eq or not key.strip():
            raise TaneError(f"--executor-option wants KEY=VALUE, got {p!r}",
                            field="executor_options")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def help_text() -> str:
    """The executors, for ``tane run --help`` (each one's help names its options)."""
    return "; ".join(f"{e.name} ({e.help})" for e in EXECUTORS.values())


register_executor("local", "tane.pipeline.local:LocalExecutor",
                  help="every stage on this process")
register_executor("ray", "tane.pipeline.ray_executor:RayExecutor",
                  "tane.pipeline.executor_options:RayOptions",
                  help="per-record stages on a Ray cluster, needs tane[ray]; options: "
                       "address, workers, shard_size (default 64), worker_resource",
                  checks="tane.pipeline.ray_files:check_recipe")

__all__ = ["EXECUTORS", "ExecutorEntry", "executor", "help_text", "parse_pairs",
           "register_executor"]
