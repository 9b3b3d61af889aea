"""Where a problem in a YAML file is, said as ``TaneError(path=, line=, field=)``: the line
of a field given as a node path (``("stages", 0, "model")``), and the line of a syntax
error. Every YAML file tane reads says its errors through these: recipes, curate configs,
eval plans, grid few-shot files, agent taxonomies and review questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import TaneError

__all__ = ["error_at", "field_loc", "field_name", "line_of", "syntax_error"]


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    nxt = k if v is None else v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def field_loc(field: str) -> tuple[Any, ...]:
    """A dotted field name as a node path: ``"stages.0.model"`` -> ``("stages", 0, "model")``."""
    return tuple(int(x) if x.isdigit() else x for x in field.split("."))


def field_name(loc: tuple[Any, ...]) -> str | None:
    """A node path as the dotted field name errors show (None for the whole file)."""
    return ".".join(str(x) for x in loc) or None


def error_at(msg: str, path: str | Path, root: yaml.Node | None,
             loc: tuple[Any, ...]) -> TaneError:
    """An error about the field at ``loc``: the file, that field's line and its name."""
    return TaneError(msg, path=str(path), line=line_of(root, loc), field=field_name(loc))


def syntax_error(e: yaml.YAMLError, path: str | Path, field: str | None = None) -> TaneError:
    """A file PyYAML cannot parse: ``invalid YAML: <problem>`` at the problem's line."""
    mark = getattr(e, "problem_mark", None)
    return TaneError(f"invalid YAML: {getattr(e, 'problem', e)}", path=str(path),
                     line=mark.line + 1 if mark else None, field=field)
