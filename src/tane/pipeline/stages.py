"""The recipe's stages, built from configuration alone: by the runner on this process and
by a remote executor's workers (:mod:`tane.pipeline.ray_executor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.registry import method
from ..errors import TaneError
from ..methods.base import StageContext, StageStats
from ..recipe import Recipe


def _stage_names(recipe: Recipe) -> list[str]:
    names, seen = [], {}
    for st in recipe.stages:
        seen[st.method] = seen.get(st.method, 0) + 1
        names.append(st.method if seen[st.method] == 1 else f"{st.method}#{seen[st.method]}")
    return names


def _resolve(p: str, base_dir: Path) -> str:
    if p.startswith("bundled:") or Path(p).is_absolute():
        return p
    return str(base_dir / p)


def build_stages(recipe: Recipe, seeds: list[Any], base_dir: Path, stats: list[StageStats],
                 lookahead: int, only: set[int] | None = None) -> list[Any]:
    """The recipe's stages, from configuration alone (what a remote worker does too); each
    stage's model is set later (``stage.ctx.llm``). ``only``: build just those stages (the
    others are None)."""
    stages: list[Any] = []
    names = _stage_names(recipe)
    for i, (cfg, name, st) in enumerate(zip(recipe.stages, names, stats)):
        if only is not None and i not in only:
            stages.append(None)
            continue
        ctx = StageContext(name, None, st, seeds, recipe.seed,  # type: ignore[arg-type]
                           base_dir, lookahead=lookahead or 1)
        try:
            stages.append(method(cfg.method).stage_class()(cfg, ctx))
        except TaneError as e:
            if e.field:
                e = TaneError(e.message, path=e.path, line=e.line,
                              field=f"stages.{i}.{e.field}")
            raise e from None
    return stages


__all__ = ["build_stages"]
