"""``output_schema:`` of a prompt stage: a JSON Schema, or a field list written in YAML.

A field list names each field and its type::

    output_schema: {quality: int, category: [qa, code, math], tags: list[str]}

Types: ``str``, ``int``, ``float``, ``bool``, ``list[str]``, ``list[int]``, ``list[float]``;
a list of values is one of those values; a mapping is that field's own JSON Schema
(``{type: integer, minimum: 1, maximum: 5}``). Every field of a list is required and no
other field is allowed.

A full JSON Schema (a mapping with ``properties:``) is taken as it is, within the part of
JSON Schema tane checks itself (:data:`KEYWORDS`): what a reply is validated against must
be what the server was asked for, so a keyword tane cannot check is refused, not ignored.
Field names are identifiers (``keep_if`` and templates name them).
"""

from __future__ import annotations

import math
import re
from typing import Any

TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}
KEYWORDS = {"type", "properties", "required", "additionalProperties", "enum", "const",
            "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
            "maxLength", "pattern", "items", "minItems", "maxItems", "title", "description"}
SHORT = {"str": "string", "string": "string", "int": "integer", "integer": "integer",
         "float": "number", "number": "number", "bool": "boolean", "boolean": "boolean"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# names a record or a template already uses for something else
RESERVED = {"id", "provenance", "fields", "seeds", "record"}


class SchemaError(ValueError):
    """A schema tane cannot use; ``loc`` is the key path inside ``output_schema``."""

    def __init__(self, message: str, loc: tuple[Any, ...] = ()):
        self.loc = loc
        super().__init__(message)


def is_json_schema(spec: dict[str, Any]) -> bool:
    return isinstance(spec.get("properties"), dict) and spec.get("type", "object") == "object"


def _short(spec: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    """One field of a field list as a JSON Schema."""
    if isinstance(spec, str):
        s = spec.strip()
        m = re.fullmatch(r"list\[\s*(\w+)\s*\]", s)
        if m and m.group(1) in SHORT:
            return {"type": "array", "items": {"type": SHORT[m.group(1)]}}
        if s in SHORT:
            return {"type": SHORT[s]}
        raise SchemaError(f"unknown type {spec!r} (str, int, float, bool, list[str], a list "
                          "of values, or a JSON Schema mapping)", loc)
    if isinstance(spec, list):
        if not spec:
            raise SchemaError("a list of values needs at least one value", loc)
        kinds = {type(v) for v in spec}
        if kinds <= {str}:
            return {"type": "string", "enum": list(spec)}
        if kinds <= {int}:
            return {"type": "integer", "enum": list(spec)}
        if kinds <= {int, float}:
            return {"type": "number", "enum": list(spec)}
        raise SchemaError("a list of values must be all texts or all numbers", loc)
    if isinstance(spec, dict):
        check(spec, loc)
        return dict(spec)
    raise SchemaError(f"a field's type is a name, a list of values or a mapping, not "
                      f"{type(spec).__name__}", loc)


def normalize(spec: Any) -> dict[str, Any]:
    """The JSON Schema of ``output_schema`` (a field list or a JSON Schema); SchemaError
    (with the key path) when it cannot be used."""
    if not isinstance(spec, dict) or not spec:
        raise SchemaError("a mapping of fields (quality: int) or a JSON Schema with "
                          "properties:")
    if is_json_schema(spec):
        check(spec, ())
        schema = dict(spec)
        schema.setdefault("type", "object")
    else:
        schema = {"type": "object",
                  "properties": {k: _short(v, (k,)) for k, v in spec.items()},
                  "required": list(spec), "additionalProperties": False}
    props = schema["properties"]
    if not props:
        raise SchemaError("no fields", ("properties",))
    prefix = ("properties",) if is_json_schema(spec) else ()
    for name in props:
        if not NAME.match(str(name)) or name in RESERVED:
            raise SchemaError(f"field name {name!r}: letters, digits and _ (not starting "
                              f"with a digit), and not one of {', '.join(sorted(RESERVED))}",
                              prefix + (name,))
    for name in ("instruction", "input", "output"):
        if name in props and props[name].get("type") != "string":
            raise SchemaError(f"'{name}' lands in the record's {name}: its type must be "
                              "string", prefix + (name,))
    return schema


def check(schema: Any, loc: tuple[Any, ...]) -> None:
    """A JSON Schema within :data:`KEYWORDS`, its types known and its values sane."""
    if not isinstance(schema, dict):
        raise SchemaError("a JSON Schema is a mapping", loc)
    for key in schema:
        if key not in KEYWORDS:
            raise SchemaError(f"JSON Schema keyword {key!r} is not supported (tane validates "
                              f"every reply itself; supported: {', '.join(sorted(KEYWORDS))})",
                              loc + (key,))
    t = schema.get("type")
    if t is None and "enum" not in schema and "const" not in schema:
        raise SchemaError("give a type (string, integer, number, boolean, array, object)", loc)
    if t is not None and t not in TYPES:
        raise SchemaError(f"unknown type {t!r} (known: {', '.join(sorted(TYPES))})",
                          loc + ("type",))
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        raise SchemaError("enum: a list of at least one value", loc + ("enum",))
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as e:
            raise SchemaError(f"pattern: not a regular expression ({e})",
                              loc + ("pattern",)) from None
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise SchemaError("properties: a mapping of field -> schema", loc + ("properties",))
        for k, v in props.items():
            check(v, loc + ("properties", k))
    req = schema.get("required")
    if req is not None:
        if not isinstance(req, list) or any(r not in (props or {}) for r in req):
            raise SchemaError("required: a list of fields named in properties",
                              loc + ("required",))
    if "items" in schema:
        check(schema["items"], loc + ("items",))


def validate(schema: dict[str, Any], value: Any, path: str = "") -> str | None:
    """Why ``value`` does not fit ``schema`` (checked by :func:`check`), or None."""
    where = path or "the reply"
    if "const" in schema and value != schema["const"]:
        return f"{where} is {value!r}, not {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"][:12])
        return f"{where} is {value!r}, not one of {allowed}"
    t = schema.get("type")
    if t is not None and not _is(t, value):
        return f"{where} is {_name(value)}, not {t}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where} is shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{where} is longer than {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{where} does not match {schema['pattern']!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} is {value}, below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where} is {value}, above {schema['maximum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{where} is {value}, not above {schema['exclusiveMinimum']}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return f"{where} is {value}, not below {schema['exclusiveMaximum']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where} has fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where} has more than {schema['maxItems']} items"
        if "items" in schema:
            for i, v in enumerate(value):
                bad = validate(schema["items"], v, f"{path}[{i}]" if path else f"item {i}")
                if bad:
                    return bad
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for r in schema.get("required") or []:
            if r not in value:
                return f"{path + '.' if path else ''}{r} is missing"
        if schema.get("additionalProperties") is False:
            extra = [k for k in value if k not in props]
            if extra:
                return f"{path + '.' if path else ''}{extra[0]} is not a field of the schema"
        for k, v in value.items():
            if k in props:
                bad = validate(props[k], v, f"{path}.{k}" if path else k)
                if bad:
                    return bad
    return None


def _is(t: str, v: Any) -> bool:
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or \
            (isinstance(v, float) and math.isfinite(v) and v == int(v))
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    return v is None  # null


def _name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a text",
            list: "a list", dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)


def field_types(schema: dict[str, Any]) -> dict[str, str]:
    """Each top-level field and its JSON type (``""`` when the schema gives none)."""
    out = {}
    for k, v in (schema.get("properties") or {}).items():
        t = v.get("type")
        if t is None and v.get("enum"):
            e = v["enum"][0]
            t = "string" if isinstance(e, str) else "number" if isinstance(e, (int, float)) \
                else ""
        out[k] = t or ""
    return out


__all__ = ["SchemaError", "normalize", "check", "validate", "field_types", "is_json_schema"]
