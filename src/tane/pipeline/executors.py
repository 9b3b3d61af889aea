"""The one registry of executors: one :func:`register_executor` line per executor.

An executor is named as ``"module:Class"`` (imported only when a run uses it) with the
options it takes, a pydantic model: ``tane run --executor NAME --executor-option KEY=VALUE``
and :func:`tane.run`'s ``executor_options`` are checked against it, and the class is built
as ``Class(plan, options)`` (:class:`~tane.pipeline.execution.ExecutionPlan`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from pydantic import Field, ValidationError

from ..config.base import Strict
from ..errors import TaneError
if TYPE_CHECKING:  # the plan's module imports the recipe's; this one is read by --help
    from .execution import ExecutionPlan, Executor


class ExecutorClass(Protocol):
    """An executor's class: built as ``Class(plan, options)``."""

    replays_shards: bool

    def __call__(self, plan: "ExecutionPlan", options: Any) -> "Executor": ...


class ExecutorOptions(Strict):
    """An executor's options (none by default)."""


class RayOptions(ExecutorOptions):
    address: str | None = Field(None, description=(
        "the cluster to join, 'auto' or HOST:PORT (default: start a local one)"))
    workers: int | None = Field(None, ge=1, description=(
        "worker actors (default: one per GPU when a stage runs vLLM in-process, else one "
        "per CPU of the cluster)"))
    shard_size: int = Field(64, ge=1, description="records per shard sent to a worker")


@dataclass(frozen=True)
class ExecutorEntry:
    name: str
    target: str  # "module:Class"
    options: type[ExecutorOptions]
    help: str

    def executor_class(self) -> ExecutorClass:
        module, _, attr = self.target.partition(":")
        cls: ExecutorClass = getattr(importlib.import_module(module), attr)
        return cls

    def parse(self, given: Mapping[str, Any]) -> ExecutorOptions:
        """The options from ``given`` (values as typed or as text); one line naming the
        option on a bad one."""
        try:
            return self.options.model_validate(dict(given))
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(x) for x in err["loc"]) or "?"
            if err["type"] == "extra_forbidden":
                known = ", ".join(self.options.model_fields) or "none"
                msg = f"executor {self.name!r} has no option {key!r} (its options: {known})"
            else:
                msg = (f"executor {self.name!r} option {key!r}: {err['msg']}, got "
                       f"{err.get('input')!r}")
            raise TaneError(msg, field=f"executor_options.{key}") from None


EXECUTORS: dict[str, ExecutorEntry] = {}


def register_executor(name: str, target: str, options: type[ExecutorOptions] = ExecutorOptions,
                      help: str = "") -> None:
    if name in EXECUTORS:
        raise ValueError(f"executor {name!r} registered twice")
    EXECUTORS[name] = ExecutorEntry(name, target, options, help)


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
    """The executors and their options, for ``tane run --help``."""
    parts = []
    for e in EXECUTORS.values():
        opts = ", ".join(k if f.default is None else f"{k} (default {f.default})"
                         for k, f in e.options.model_fields.items())
        parts.append(f"{e.name} ({e.help}{'; options: ' + opts if opts else ''})")
    return "; ".join(parts)


register_executor("local", "tane.pipeline.local:LocalExecutor",
                  help="every stage on this process")
register_executor("ray", "tane.pipeline.ray_executor:RayExecutor", RayOptions,
                  help="per-record stages on a Ray cluster; needs tane[ray]")

__all__ = ["EXECUTORS", "ExecutorEntry", "ExecutorOptions", "executor", "help_text",
           "parse_pairs", "register_executor"]
