"""The recipes shipped with tane: the source tree's ``recipes/`` folder, in the wheel as
``tane/recipes/`` (with the files they name), so ``tane run quickstart`` and
``tane run recipes/quickstart.yaml`` work from any folder after ``pip install``."""

from __future__ import annotations

from pathlib import Path

RECIPES = Path(__file__).resolve().parent / "recipes"


def shipped_recipes() -> list[str]:
    """The names of the shipped recipes (``quickstart``, ``alpaca_ja`` ...)."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml")) if RECIPES.is_dir() else []


def find_recipe(path: str | Path) -> Path:
    """``path`` when it is there; else, for a bare name (``quickstart``,
    ``quickstart.yaml``) or one under ``recipes/`` as the README writes them, the shipped
    recipe of that name; else ``path`` as given (reading it says it is missing)."""
    p = Path(path)
    if p.exists() or p.parent not in (Path("."), Path("recipes")):
        return p
    name = p.name if p.suffix in (".yaml", ".yml") else p.name + ".yaml"
    shipped = RECIPES / name
    return shipped if shipped.is_file() else p


def missing_recipe_hint(path: str | Path) -> str:
    """For a recipe that is not there, named as a shipped one would be: the shipped
    names."""
    names = shipped_recipes()
    near = Path(path).parent in (Path("."), Path("recipes"))
    return f" (shipped with tane: {', '.join(names)})" if names and near else ""


__all__ = ["RECIPES", "find_recipe", "missing_recipe_hint", "shipped_recipes"]
