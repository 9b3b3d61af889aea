"""Recipes: YAML validated by pydantic before any LLM call.

Any error becomes one line naming the file, the YAML line and the field (exit code 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, model_validator

from .config.agent_instruct import AgentInstructStage  # noqa: F401  (re-exported)
from .config.alpaca import AlpacaSampling, AlpacaStage  # noqa: F401
from .config.answer import AnswerSampling, AnswerStage  # noqa: F401
from .config.base import NoveltyConfig, Sampling, Strict  # noqa: F401
from .config.curate import CurateStage, CurateStep  # noqa: F401
from .config.evol_instruct import EvolInstructStage  # noqa: F401
from .config.grid import GridStage  # noqa: F401
from .config.judge import (JUDGE_CATEGORIES, JUDGE_DIFFICULTIES, JudgeSampling,  # noqa: F401
                           JudgeStage)
from .config.llm import LLMConfig
from .config.magpie import MagpieStage  # noqa: F401
from .config.hints import unknown_key_hint, unknown_method
from .config.registry import METHODS, generators
from .config.seeds import SeedsConfig, SourceConfig
from .config.self_instruct import (GenerateSampling, InstanceSampling,  # noqa: F401
                                   SelfInstructStage)
from .errors import TaneError
from .stage import FIELDS, Availability, check_chain
from .yaml_errors import field_loc, field_name, line_of, syntax_error

Stage = Annotated[Union[tuple(m.config for m in METHODS.values())],  # type: ignore[misc]
                  Field(discriminator="method")]
GENERATORS = generators()
MODEL_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class ChainError(ValueError):
    """A chain of stages that cannot work; ``index`` is the stage to blame."""

    def __init__(self, index: int, message: str, key: str | None = None):
        self.index = index
        self.key = key
        super().__init__(message)


class Needs(Strict):
    """What a recipe is written for, beyond the embedded model (``needs:``)."""

    model: Literal["base", "chat"] = Field(description=(
        "the served model the recipe is meant for: a base model with raw completions, or "
        "an instruction-tuned chat model"))
    japanese: bool = Field(False, description="the model must write Japanese")
    why: str = Field("", description="one line said when the recipe is started on the "
                                     "embedded model")


class Recipe(Strict):
    name: str = "recipe"
    needs: Needs | None = Field(None, description=(
        "a served model the recipe is meant for; started on the embedded model, tane run "
        "says so and stops unless --yes or an explicit --llm is given"))
    seed: int = 0
    target: int | None = Field(None, ge=1, description=(
        "kept records to produce (default 50; with source: every row)"))
    llm: LLMConfig = LLMConfig()
    models: dict[str, LLMConfig] = Field(default_factory=dict, description=(
        "named models; a stage picks one with model: NAME (default: llm)"))
    seeds: SeedsConfig = SeedsConfig()
    source: SourceConfig | None = None
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _chain_works(self) -> "Recipe":
        for name in self.models:
            if not re.match(MODEL_NAME, name) or name == "default":
                raise ValueError(f"models: {name!r} is not a usable name (letters, digits, "
                                 "_ and -, not 'default')")
        for i, st in enumerate(self.stages):
            if st.model is not None and st.model != "default" and st.model not in self.models:
                known = ", ".join(["default", *self.models]) or "default"
                raise ChainError(i, f"model {st.model!r} is not in models: (known: {known})",
                                 key="model")
        specs = [(st.method, st.contract()) for st in self.stages]
        if self.source is None:
            if specs[0][1].role != "generator":
                raise ChainError(0, "the first stage must generate (one of "
                                    f"{', '.join(GENERATORS)}), or give source: {{path: FILE}} "
                                    "to start from existing records")
            start = Availability(sure=set(), maybe=set())
        else:
            if specs[0][1].role == "generator":
                raise ChainError(0, f"'{specs[0][0]}' generates records, but the recipe starts "
                                    "from source:; drop one of them")
            # what a file carries is known when it is read (the runner checks again then)
            start = Availability(sure={"instruction"}, unknown=set(FIELDS) - {"instruction"})
        bad = check_chain(specs, start)
        if bad:
            raise ChainError(*bad)
        return self

    @property
    def goal(self) -> int | None:
        """Kept records to stop at: ``target``, 50 for a generator, None (all) for a source."""
        if self.target is not None:
            return self.target
        return None if self.source is not None else 50

    def model_of(self, stage: Any) -> str:
        return stage.model if stage.model and stage.model != "default" else "default"

    def llm_for(self, name: str) -> LLMConfig:
        return self.llm if name == "default" else self.models[name]

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "Recipe":
        """The recipe in a YAML file (top-level keys in ``overrides`` replace the file's);
        a bad file raises TaneError naming the file, the line and the field."""
        return load_recipe(path, overrides)

    def to_yaml(self, path: str | Path | None = None, *, full: bool = False) -> str:
        """The recipe as YAML: the keys that were given (``full``: every key, defaults
        included); written to ``path`` too when given. ``Recipe.from_yaml`` reads it back
        to an equal recipe."""
        text = yaml.safe_dump(self.model_dump(mode="json", exclude_unset=not full),
                              allow_unicode=True, sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


TAGS = tuple(METHODS)


def field_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error's location in a recipe as the recipe's node path."""
    # pydantic puts the union's tag ("self_instruct") after ``stages.N``; only that goes
    if len(loc) > 2 and loc[0] == "stages" and isinstance(loc[1], int) and loc[2] in TAGS:
        return loc[:2] + loc[3:]
    return loc


def _duplicate_key(node: yaml.Node | None, where: tuple[Any, ...] = (),
                   seen: set[int] | None = None) -> tuple[tuple[Any, ...], int, int] | None:
    """(key path, first line, second line) of the first key given twice in one mapping.
    Each node is looked at once: a node an alias points to again is not walked again (a
    file of nested aliases would take exponential time)."""
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[Any, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                line = k.start_mark.line + 1
                if k.value in keys:
                    return where + (k.value,), keys[k.value], line
                keys[k.value] = line
            found = _duplicate_key(v, where + (getattr(k, "value", "?"),), seen)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found = _duplicate_key(v, where + (i,), seen)
            if found:
                return found
    return None


MAX_YAML_VALUES = 100_000  # values a YAML file may add through its aliases


def _too_big(root: yaml.Node | None) -> tuple[int, int] | None:
    """(line, values) of the first node that, with its aliases expanded, holds more than
    `MAX_YAML_VALUES` values beyond those written in the file ("billion laughs": a few
    lines of nested aliases that expand to billions of values); None when the file is
    fine. Each node is sized once."""
    sizes: dict[int, int] = {}
    found: list[tuple[int, int]] = []

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that holds itself counts once
        n = 1
        if isinstance(node, yaml.MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n += sum(size(v) for v in node.value)
        sizes[id(node)] = n
        if not found and n > len(sizes) + MAX_YAML_VALUES:
            found.append((node.start_mark.line + 1, n))
        return n

    if root is not None:
        size(root)
    return found[0] if found else None


def read_yaml_mapping(path: str | Path, what: str) -> tuple[yaml.Node | None, dict[str, Any]]:
    """(node tree for line numbers, data) of a YAML file that must hold a mapping.

    A key given twice in one mapping is an error naming both lines (YAML would silently
    keep the last value)."""
    p = Path(path)
    if p.is_dir():
        raise TaneError(f"is a directory, not a {what} file", path=str(p))
    if not p.is_file():
        raise TaneError(f"{what} file not found", path=str(p))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        line = e.object[:e.start].count(b"\n") + 1
        raise TaneError(f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
                        f"{e.start}); save the file as UTF-8", path=str(p), line=line) from None
    except OSError as e:
        raise TaneError(f"cannot read the {what} file: {e.strerror or e}", path=str(p)) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
        big = _too_big(root)
        dup = _duplicate_key(root)
    except yaml.YAMLError as e:
        raise syntax_error(e, p) from None
    except RecursionError:
        raise TaneError("nested too deeply to read (hundreds of levels of lists or "
                        "mappings)", path=str(p)) from None
    if big:
        line, n = big
        raise TaneError(f"YAML aliases expand this value to {n:,} values (at most "
                        f"{MAX_YAML_VALUES:,} more than the file writes out); write the "
                        "values out instead of nesting aliases", path=str(p), line=line)
    if dup:
        key, first, second = dup
        raise TaneError(f"key {key[-1]!r} given twice (lines {first} and {second}); keep one",
                        path=str(p), line=second,
                        field=".".join(str(x) for x in key)) from None
    if not isinstance(data, dict):
        raise TaneError(f"a {what} must be a YAML mapping", path=str(p), line=1)
    return root, data


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """The recipe in a YAML file, or the shipped recipe a bare name names (``quickstart``:
    :func:`tane.shipped.find_recipe`)."""
    from .shipped import find_recipe, missing_recipe_hint

    p = find_recipe(path)
    if not p.exists():
        raise TaneError(f"recipe file not found{missing_recipe_hint(p)}", path=str(p))
    root, data = read_yaml_mapping(p, "recipe")
    for key, value in (overrides or {}).items():
        data[key] = value
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise recipe_error(e, p, root) from None


def at_recipe_line(e: TaneError, recipe: str | Path) -> TaneError:
    """An error about one of a recipe's fields found after the recipe was read (a file it
    names is missing, a template name its stage does not use), said at that field's line
    of the recipe file, with the file the error named after the message. Errors that
    already have a line (a bad row of a seed file), or are not about a recipe field, are
    returned as they are."""
    if e.field is None or e.line is not None \
            or e.field.split(".")[0] not in Recipe.model_fields:
        return e
    try:
        root, _ = read_yaml_mapping(recipe, "recipe")
    except TaneError:
        return e
    loc = field_loc(e.field)
    named = e.path is not None and e.path != str(recipe) and e.path not in e.message
    return type(e)(f"{e.message}: {e.path}" if named else e.message, path=str(recipe),
                   line=line_of(root, loc), field=e.field)


MAX_ERRORS = 8  # errors of one recipe shown on its one line


def _one_error(err: Any, root: yaml.Node | None) -> tuple[int | None, str | None, str]:
    """(line, field, message) of one pydantic error, with a hint where one helps."""
    raw = tuple(err["loc"])
    loc = field_path(raw)
    msg = err["msg"]
    chain = (err.get("ctx") or {}).get("error")
    if isinstance(chain, ChainError):
        loc = ("stages", chain.index) + ((chain.key,) if chain.key else ())
        msg = str(chain)
    if err["type"] == "extra_forbidden":
        msg = "unknown key" + unknown_key_hint(str(loc[-1]), Recipe, raw[:-1])
    elif err["type"] == "union_tag_invalid" and isinstance(err.get("input"), dict):
        msg = unknown_method(err["input"].get("method"))
    elif err["type"] == "union_tag_not_found":
        msg = f"missing key 'method' (valid: {', '.join(METHODS)})"
    return line_of(root, loc), field_name(loc), msg


def recipe_error(e: ValidationError, path: Path, root: yaml.Node | None) -> TaneError:
    """One line for all of a recipe's errors (up to MAX_ERRORS): the first names the
    file, line and field; the others follow as ``line N: field 'F': message``."""
    seen: list[tuple[int | None, str | None, str]] = []
    for err in e.errors():
        one = _one_error(err, root)
        if one not in seen:
            seen.append(one)
    seen.sort(key=lambda x: x[0] or 0)  # in the file's order
    (line, field, msg), rest = seen[0], seen[1:MAX_ERRORS]
    if rest:
        also = "; ".join(("" if ln is None else f"line {ln}: ")
                         + (f"field '{f}': " if f else "") + m for ln, f, m in rest)
        msg += f" — also {also}"
    if len(seen) > MAX_ERRORS:
        msg += f" (and {len(seen) - MAX_ERRORS} more)"
    return TaneError(msg, path=str(path), line=line, field=field)
