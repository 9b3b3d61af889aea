"""``keep_if:`` of a prompt stage: a small expression over the fields its schema returns.

    quality >= 3
    category in ["code", "math"] and not (difficulty == "hard")
    score > 0.5 or flagged == false

The language, parsed here by a small recursive-descent parser (never ``eval``):

- names: fields of the stage's ``output_schema``; literals: numbers, strings in single or
  double quotes, ``true`` / ``false`` / ``null``, lists ``[a, b]`` of literals;
- comparisons ``==  !=  <  <=  >  >=``, ``in`` / ``not in`` (a list, or a substring of a
  string);
- ``and``, ``or``, ``not`` and parentheses; ``and`` binds tighter than ``or``.

A bad expression is a :class:`KeepIfError` saying what is wrong at which column; an
ordering comparison between a number and a text is refused when the schema gives the
field's type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<punct>[\[\](),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)
_WORDS = {"and", "or", "not", "in", "true", "false", "null"}
_ORDER = {"<", "<=", ">", ">="}


class KeepIfError(ValueError):
    """A keep_if expression that cannot be read, or names what the schema does not have."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, op, punct, name, word, end
    value: Any
    col: int  # 1-based


def _tokens(text: str) -> list[_Tok]:
    out, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            raise KeepIfError(f"unexpected {text[i]!r} at column {i + 1}")
        kind, raw = m.lastgroup or "", m.group()
        if kind == "num":
            out.append(_Tok("num", float(raw) if any(c in raw for c in ".eE") else int(raw),
                            i + 1))
        elif kind == "str":
            body = raw[1:-1]
            out.append(_Tok("str", re.sub(r"\\(.)", r"\1", body), i + 1))
        elif kind == "name":
            out.append(_Tok("word" if raw in _WORDS else "name", raw, i + 1))
        elif kind != "ws":
            out.append(_Tok(kind, raw, i + 1))
        i = m.end()
    out.append(_Tok("end", None, len(text) + 1))
    return out


# the tree: ("or"|"and", left, right), ("not", x), ("cmp", op, left, right),
# ("name", n), ("lit", value)
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str):
        self.toks, self.i = _tokens(text), 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_word(self, w: str) -> bool:
        return self.tok.kind == "word" and self.tok.value == w

    def expect(self, kind: str, value: str) -> None:
        t = self.take()
        if t.kind != kind or t.value != value:
            raise KeepIfError(f"expected {value!r} at column {t.col}, found {_said(t)}")

    def parse(self) -> Node:
        node = self.or_()
        if self.tok.kind != "end":
            raise KeepIfError(f"unexpected {_said(self.tok)} at column {self.tok.col}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.is_word("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.is_word("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.is_word("not"):
            self.take()
            return ("not", self.not_())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        if self.tok.kind == "op":
            op = self.take().value
            return ("cmp", op, left, self.operand())
        if self.is_word("in"):
            self.take()
            return ("cmp", "in", left, self.operand())
        if self.is_word("not") and self.toks[self.i + 1].kind == "word" \
                and self.toks[self.i + 1].value == "in":
            self.i += 2
            return ("cmp", "not in", left, self.operand())
        return left

    def operand(self) -> Node:
        t = self.take()
        if t.kind == "punct" and t.value == "(":
            node = self.or_()
            self.expect("punct", ")")
            return node
        if t.kind == "punct" and t.value == "[":
            items: list[Any] = []
            while not (self.tok.kind == "punct" and self.tok.value == "]"):
                items.append(self.literal())
                if self.tok.kind == "punct" and self.tok.value == ",":
                    self.take()
                elif not (self.tok.kind == "punct" and self.tok.value == "]"):
                    raise KeepIfError(f"expected ',' or ']' at column {self.tok.col}, "
                                      f"found {_said(self.tok)}")
            self.take()
            return ("lit", items)
        if t.kind == "name":
            return ("name", t.value)
        self.i -= 1
        return ("lit", self.literal())

    def literal(self) -> Any:
        t = self.take()
        if t.kind in ("num", "str"):
            return t.value
        if t.kind == "word" and t.value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[t.value]
        raise KeepIfError(f"expected a value at column {t.col}, found {_said(t)}")


def _said(t: _Tok) -> str:
    return "the end" if t.kind == "end" else repr(t.value)


def _names(node: Node) -> list[str]:
    if node[0] == "name":
        return [node[1]]
    if node[0] == "lit":
        return []
    return [n for part in node[1:] if isinstance(part, tuple) for n in _names(part)]


_KIND = {"integer": "number", "number": "number", "string": "text", "boolean": "bool",
         "array": "list"}


def _kind(node: Node, types: dict[str, str]) -> str | None:
    if node[0] == "name":
        return _KIND.get(types.get(node[1], ""))
    if node[0] == "lit":
        v = node[1]
        return ("bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float))
                else "text" if isinstance(v, str) else "list" if isinstance(v, list) else None)
    return "bool"


def _check_types(node: Node, types: dict[str, str]) -> None:
    if node[0] in ("or", "and"):
        _check_types(node[1], types)
        _check_types(node[2], types)
    elif node[0] == "not":
        _check_types(node[1], types)
    elif node[0] == "cmp":
        op, a, b = node[1], _kind(node[2], types), _kind(node[3], types)
        if op in _ORDER and a and b and (a != b or a not in ("number", "text")):
            raise KeepIfError(f"'{op}' compares a {a} with a {b}")
        if op in ("in", "not in") and b not in (None, "list", "text"):
            raise KeepIfError(f"'{op}' needs a list or a text on its right, not a {b}")


@dataclass(frozen=True)
class KeepIf:
    """A parsed ``keep_if`` expression: ``KeepIf.parse(text, types)``, then ``test(values)``."""

    text: str
    tree: Node

    @classmethod
    def parse(cls, text: str, types: dict[str, str]) -> "KeepIf":
        """``types``: the schema's fields and their JSON types (``integer``, ``string``,
        ...); a name that is not one of them is an error."""
        if not text.strip():
            raise KeepIfError("an empty expression")
        tree = _Parser(text).parse()
        for n in _names(tree):
            if n not in types:
                raise KeepIfError(f"{n!r} is not a field of output_schema (fields: "
                                  f"{', '.join(types) or 'none'})")
        _check_types(tree, types)
        return cls(text, tree)

    def test(self, values: dict[str, Any]) -> bool:
        return bool(_eval(self.tree, values))


def _eval(node: Node, values: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "name":
        return values.get(node[1])
    if kind == "or":
        return bool(_eval(node[1], values)) or bool(_eval(node[2], values))
    if kind == "and":
        return bool(_eval(node[1], values)) and bool(_eval(node[2], values))
    if kind == "not":
        return not _eval(node[1], values)
    op, a, b = node[1], _eval(node[2], values), _eval(node[3], values)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op in ("in", "not in"):
        try:
            found = a in b if isinstance(b, (list, str)) and (
                isinstance(b, list) or isinstance(a, str)) else False
        except TypeError:
            found = False
        return found if op == "in" else not found
    # ordering: a value of another type (a field the schema left open) is never kept
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if not ((isinstance(a, num) and isinstance(b, num))
            or (isinstance(a, str) and isinstance(b, str))):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


__all__ = ["KeepIf", "KeepIfError"]
