"""The recipe's stages, built from configuration alone: by the runner on this process and
by a remote executor's workers (:mod:`tane.pipeline.ray_executor`).

Each stage is built with a whole context, its model included: the run's journaled
backends, or :class:`~tane.engine.NoModel` (:func:`offline_models`) for stages that check
a recipe or render a plan's prompts and make no call."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from ..config.base import StageBase
from ..config.registry import method
from ..engine import (GeneratorStage, Model, NoModel, Stage, StageContext, StageStats,
                      TransformStage)
from ..errors import TaneError
from ..llm.base import ModelInfo
from ..recipe import Recipe
from ..seeds.loader import Seed


def stage_configs(recipe: Recipe) -> list[StageBase]:
    """The recipe's stage sections, each its method's config class."""
    return list(recipe.stages)


def stage_names(recipe: Recipe) -> list[str]:
    """Each stage's name: its method, numbered from the second stage of that method on
    (``curate``, ``curate#2``)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for st in stage_configs(recipe):
        seen[st.method] = seen.get(st.method, 0) + 1
        names.append(st.method if seen[st.method] == 1 else f"{st.method}#{seen[st.method]}")
    return names


def resolve_path(p: str, base_dir: Path) -> str:
    """A recipe's path as given (``bundled:...``, absolute) or under ``base_dir``."""
    if p.startswith("bundled:") or Path(p).is_absolute():
        return p
    return str(base_dir / p)


def offline_models(recipe: Recipe) -> dict[str, Model]:
    """A :class:`~tane.engine.NoModel` for each of the recipe's models."""
    out: dict[str, Model] = {}
    for st in recipe.stages:
        name = recipe.model_of(st)
        cfg = recipe.llm_for(name)
        out[name] = NoModel(ModelInfo(cfg.model or cfg.backend, license=cfg.license,
                                      backend=cfg.backend))
    return out


@dataclass
class Stages:
    """Built stages by index: the generator (stage 0 of a recipe that generates) and the
    transforms. ``stages[i]`` is stage ``i``; iterating gives every built stage in recipe
    order."""

    generator: GeneratorStage | None = None
    transforms: dict[int, TransformStage] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Stage]:
        if self.generator is not None:
            yield self.generator
        for i in sorted(self.transforms):
            yield self.transforms[i]

    def __len__(self) -> int:
        return len(self.transforms) + (self.generator is not None)

    def __getitem__(self, i: int) -> Stage:
        if i == 0 and self.generator is not None:
            return self.generator
        return self.transforms[i]

    def context(self, i: int) -> StageContext:
        return self[i].ctx


def build_stages(recipe: Recipe, seeds: list[Seed], base_dir: Path, stats: list[StageStats],
                 lookahead: int, models: Mapping[str, Model],
                 only: set[int] | None = None) -> Stages:
    """The recipe's stages, from configuration alone (what a remote worker does too), each
    with the model ``models`` holds under its model's name. ``only``: build just those
    stages."""
    out = Stages()
    names = stage_names(recipe)
    for i, (cfg, name, st) in enumerate(zip(stage_configs(recipe), names, stats)):
        if only is not None and i not in only:
            continue
        ctx = StageContext(name, models[recipe.model_of(cfg)], st, seeds, recipe.seed,
                           base_dir, lookahead=lookahead or 1)
        m = method(cfg.method)
        try:
            obj = m.stage_class()(cfg, ctx)
        except TaneError as e:
            if e.field:
                e = TaneError(e.message, path=e.path, line=e.line,
                              field=f"stages.{i}.{e.field}")
            raise e from None
        if cfg.spec().role == "generator":
            if not isinstance(obj, GeneratorStage):
                raise TypeError(f"{m.stage}: a generator needs ctx and round(r, need)")
            out.generator = obj
        else:
            if not isinstance(obj, TransformStage):
                raise TypeError(f"{m.stage}: a transform needs ctx and process(records)")
            out.transforms[i] = obj
    return out


__all__ = ["Stages", "build_stages", "offline_models", "resolve_path", "stage_configs",
           "stage_names"]
