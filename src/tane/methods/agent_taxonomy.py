"""The taxonomy of skills and question types that AgentInstruct draws seed questions from.

The built-in file (``prompts/agent_instruct/taxonomy.yaml``) ships reading comprehension;
a user file of the same shape adds skills, or types to a skill, and is checked with an
error naming the file, the YAML line and the field::

    skills:
      reading_comprehension:          # an existing skill: these types are added to it
        types:
          timeline:
            format: ordering
            name: {ja: 出来事の時系列, en: Timeline}
            description: {ja: 文章中の出来事を起きた順に並べさせる, en: Put the events in order}
      summarising:                    # a new skill
        name: {ja: 要約, en: Summarising}
        types: {...}

Text fields (``name``, ``description``) are a mapping of language code to text, or one
string used for every language. A type must have a description in the stage's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ..errors import TaneError
from ..yaml_errors import syntax_error

FORMATS = ("short_answer", "list", "true_false", "multiple_choice", "fill_in_blank",
           "ordering", "matching", "essay")
BUILTIN = "agent_instruct/taxonomy.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LANG = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class QuestionType:
    key: str
    format: str
    name: dict[str, str]
    description: dict[str, str]
    origin: str   # file:line where it is defined


@dataclass
class Skill:
    key: str
    name: dict[str, str] = field(default_factory=dict)
    types: dict[str, QuestionType] = field(default_factory=dict)


def file_error(msg: str, path: str, line: int | None, fld: str) -> TaneError:
    """An error inside a taxonomy file. The field is part of the message: a stage's
    ``field`` names a recipe key, and the runner prefixes it with the stage."""
    return TaneError(f"field '{fld}': {msg}" if fld else msg, path=path, line=line)


def _err(msg: str, path: str, node: yaml.Node, fld: str) -> TaneError:
    return file_error(msg, path, node.start_mark.line + 1, fld)


def _mapping(node: yaml.Node, path: str, fld: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _err("must be a mapping", path, node, fld)
    seen: set[str] = set()
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _err("keys must be plain names", path, k, fld)
        if k.value in seen:
            raise _err(f"duplicate key {k.value!r}", path, k,
                       f"{fld}.{k.value}" if fld else k.value)
        seen.add(k.value)
    return node.value


def _text(node: yaml.Node, path: str, fld: str) -> dict[str, str]:
    """A string for every language, or a mapping language -> string."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        if not node.value.strip():
            raise _err("must not be empty", path, node, fld)
        return {"*": node.value.strip()}
    if not isinstance(node, yaml.MappingNode):
        raise _err("must be text or a mapping of language code to text", path, node, fld)
    out = {}
    for k, v in _mapping(node, path, fld):
        if not _LANG.match(k.value):
            raise _err(f"{k.value!r} is not a language code (ja, en, ...)", path, k,
                       f"{fld}.{k.value}")
        if not (isinstance(v, yaml.ScalarNode) and v.tag == "tag:yaml.org,2002:str"
                and v.value.strip()):
            raise _err("must be non-empty text", path, v, f"{fld}.{k.value}")
        out[k.value] = v.value.strip()
    if not out:
        raise _err("must not be empty", path, node, fld)
    return out


def _type(key: yaml.Node, node: yaml.Node, path: str, fld: str) -> QuestionType:
    if not _NAME.match(key.value):
        raise _err("a type name is lower-case letters, digits and _", path, key, fld)
    got = {}
    for k, v in _mapping(node, path, fld):
        if k.value not in ("format", "name", "description"):
            raise _err("unknown key (format, name, description)", path, k, f"{fld}.{k.value}")
        got[k.value] = (k, v)
    for need in ("format", "description"):
        if need not in got:
            raise _err(f"missing key '{need}'", path, node, f"{fld}.{need}")
    fnode = got["format"][1]
    if not isinstance(fnode, yaml.ScalarNode) or fnode.value not in FORMATS:
        raise _err(f"format must be one of {', '.join(FORMATS)}", path, fnode, f"{fld}.format")
    desc = _text(got["description"][1], path, f"{fld}.description")
    name = _text(got["name"][1], path, f"{fld}.name") if "name" in got else {"*": key.value}
    return QuestionType(key.value, fnode.value, name, desc,
                        f"{path}:{key.start_mark.line + 1}")


def parse_taxonomy(source: str, path: str, into: dict[str, Skill] | None = None
                   ) -> dict[str, Skill]:
    """Read one taxonomy file into ``into`` (new skills and types are added; a type that
    is already defined is an error)."""
    skills = into if into is not None else {}
    try:
        root = yaml.compose(source)
    except yaml.YAMLError as e:
        raise syntax_error(e, path) from None
    if root is None:
        raise TaneError("empty taxonomy file; it needs a 'skills' mapping", path=path, line=1)
    top = _mapping(root, path, "")
    for k, _ in top:
        if k.value != "skills":
            raise _err("unknown key (a taxonomy file has 'skills')", path, k, k.value)
    if not top:
        raise _err("missing key 'skills'", path, root, "skills")
    for skey, snode in _mapping(top[0][1], path, "skills"):
        fld = f"skills.{skey.value}"
        if not _NAME.match(skey.value):
            raise _err("a skill name is lower-case letters, digits and _", path, skey, fld)
        parts = {k.value: (k, v) for k, v in _mapping(snode, path, fld)}
        for k, _ in parts.values():
            if k.value not in ("name", "types"):
                raise _err("unknown key (name, types)", path, k, f"{fld}.{k.value}")
        if "types" not in parts:
            raise _err("missing key 'types'", path, snode, f"{fld}.types")
        skill = skills.setdefault(skey.value, Skill(skey.value))
        if "name" in parts:
            skill.name = _text(parts["name"][1], path, f"{fld}.name")
        tnodes = _mapping(parts["types"][1], path, f"{fld}.types")
        if not tnodes:
            raise _err("a skill needs at least one type", path, parts["types"][1],
                       f"{fld}.types")
        for tkey, tnode in tnodes:
            tfld = f"{fld}.types.{tkey.value}"
            if tkey.value in skill.types:
                raise _err(f"type already defined at {skill.types[tkey.value].origin}; "
                           "choose another name", path, tkey, tfld)
            skill.types[tkey.value] = _type(tkey, tnode, path, tfld)
    return skills


def load_taxonomy(user_file: Path | None = None) -> dict[str, Skill]:
    """The built-in taxonomy, extended by ``user_file`` when given."""
    ref = resources.files("tane.prompts") / "agent_instruct" / "taxonomy.yaml"
    skills = parse_taxonomy(ref.read_text(encoding="utf-8"), BUILTIN)
    if user_file is not None:
        if not user_file.is_file():
            raise TaneError("taxonomy file not found", path=str(user_file), field="taxonomy")
        try:
            source = user_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise TaneError(f"cannot read the taxonomy file: {e}", path=str(user_file),
                            field="taxonomy") from None
        parse_taxonomy(source, str(user_file), skills)
    return skills


def text_for(text: dict[str, str], lang: str) -> str | None:
    return text.get(lang) or text.get("*")


def select_types(skills: dict[str, Skill], skill: str, wanted: list[str] | None,
                 lang: str) -> list[QuestionType]:
    """The types a stage draws from; each must be known and described in ``lang``."""
    if skill not in skills:
        raise TaneError(f"unknown skill {skill!r}; known: {', '.join(sorted(skills))}",
                        field="skill")
    types = skills[skill].types
    for i, key in enumerate(wanted or []):
        if key not in types:
            raise TaneError(f"unknown type {key!r} of skill {skill!r}; known: "
                            f"{', '.join(types)}", field=f"question_types.{i}")
    chosen = [types[k] for k in dict.fromkeys(wanted)] if wanted else list(types.values())
    for t in chosen:
        if text_for(t.description, lang) is None:
            path, _, line = t.origin.rpartition(":")
            raise file_error(f"type {t.key!r} has no description in {lang!r}", path,
                             int(line), f"skills.{skill}.types.{t.key}.description")
    return chosen
