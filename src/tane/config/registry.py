"""The one registry of methods: one :func:`register` line per method.

The recipe's stage union (:mod:`tane.recipe`), the runner's lookup, the dataset card's
method text and the docs' method list all read it. The stage class is named as
``"module:Class"`` and imported only when a recipe uses it, so validating a recipe
imports no method code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..provenance import Shape
from .base import GeneratorBase, StageBase


@dataclass(frozen=True)
class Method:
    name: str
    stage: str  # "module:Class" of the stage the engine runs
    config: type[StageBase]

    @property
    def generator(self) -> bool:
        return issubclass(self.config, GeneratorBase)

    @property
    def card_text(self) -> str:
        return self.config.card_text

    @property
    def provenance(self) -> Shape:
        """The shape of what the method records in provenance (its config declares it)."""
        return self.config.provenance

    def stage_class(self) -> Any:
        module, _, attr = self.stage.partition(":")
        return getattr(importlib.import_module(module), attr)


METHODS: dict[str, Method] = {}


def register(name: str, stage: str, config: type[StageBase]) -> None:
    if name in METHODS:
        raise ValueError(f"method {name!r} registered twice")
    literal = config.model_fields["method"].annotation
    if getattr(literal, "__args__", None) != (name,):
        raise ValueError(f"{config.__name__}.method must be Literal[{name!r}]")
    if config.provenance.METHOD not in ("", name):
        raise ValueError(f"{config.__name__}.provenance is the shape of "
                         f"{config.provenance.METHOD!r}, not {name!r}")
    METHODS[name] = Method(name, stage, config)


def method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        from ..errors import TaneError

        raise TaneError(f"unknown method {name!r} (valid: {', '.join(METHODS)})",
                        field="method") from None


def generators() -> tuple[str, ...]:
    return tuple(n for n, m in METHODS.items() if m.generator)


def _register_all() -> None:
    from .agent_instruct import AgentInstructStage
    from .alpaca import AlpacaStage
    from .answer import AnswerStage
    from .curate import CurateStage
    from .evol_instruct import EvolInstructStage
    from .grid import GridStage
    from .judge import JudgeStage
    from .magpie import MagpieStage
    from .prompt import PromptStage
    from .self_instruct import SelfInstructStage

    register("self_instruct", "tane.methods.self_instruct:SelfInstruct", SelfInstructStage)
    register("alpaca", "tane.methods.alpaca:Alpaca", AlpacaStage)
    register("magpie", "tane.methods.magpie:Magpie", MagpieStage)
    register("grid", "tane.methods.grid:Grid", GridStage)
    register("agent_instruct", "tane.methods.agent_instruct:AgentInstruct", AgentInstructStage)
    register("answer", "tane.methods.answer:Answer", AnswerStage)
    register("evol_instruct", "tane.methods.evol_instruct:EvolInstruct", EvolInstructStage)
    register("curate", "tane.methods.curate:CurateStage", CurateStage)
    register("judge", "tane.methods.judge:Judge", JudgeStage)
    register("prompt", "tane.methods.prompt_stage:PromptTransform", PromptStage)


_register_all()


def markdown_table() -> str:
    """The method list of ``docs/methods.md`` (kept in step by a test)."""
    rows = ["| method | role | what it does |", "|---|---|---|"]
    for name, m in METHODS.items():
        role = "generator" if m.generator else "transform"
        rows.append(f"| `{name}` | {role} | {m.card_text} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m tane.config.registry > the table for the docs
    print(markdown_table(), end="")
