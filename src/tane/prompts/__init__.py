"""Prompt templates: Jinja files per method and language, overridable from a recipe.

``templates/<method>/<name>.j2`` ships with the package. A recipe stage may map a template
name to a file of its own (``templates: {ja_generate: my_prompt.j2}``; an unknown name is an error); paths are relative to
the recipe file. Each rendered prompt carries a template id (name + content hash) into
provenance, so a dataset card can say which prompt made which record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from ..errors import TaneError

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                          autoescape=False)


@dataclass(frozen=True)
class Template:
    id: str
    template: jinja2.Template

    def render(self, **ctx: Any) -> str:
        return self.template.render(**ctx)


def check_overrides(overrides: dict[str, str] | None, known: list[str]) -> None:
    """An override for a template the stage does not use would be silently ignored."""
    for name in overrides or {}:
        if name not in known:
            raise TaneError(f"no template of this name in this stage; known: {', '.join(known)}",
                            field=f"templates.{name}")


def load_template(method: str, name: str, overrides: dict[str, str] | None = None,
                  base_dir: Path | None = None) -> Template:
    """``name`` is e.g. ``ja_generate``; an override path replaces the bundled file."""
    override = (overrides or {}).get(name)
    if override:
        path = Path(override)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise TaneError("template file not found", path=str(path), field=f"templates.{name}")
        # the template's id names the file as the recipe does, not where the recipe's
        # folder happens to be (the same recipe elsewhere, or on a Ray worker, makes the
        # same provenance)
        source, origin, where = path.read_text(encoding="utf-8"), override, str(path)
    else:
        ref = resources.files(__package__) / method / f"{name}.j2"
        if not ref.is_file():
            raise TaneError(f"no bundled template {method}/{name}.j2")
        source = ref.read_text(encoding="utf-8")
        origin = where = f"{method}/{name}.j2"
    try:
        tpl = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise TaneError(f"template syntax error: {e.message}", path=where, line=e.lineno) from None
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]
    return Template(id=f"{origin}@{digest}", template=tpl)
