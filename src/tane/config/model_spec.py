"""One grammar for naming a model on the command line, shared by ``tane run`` / ``plan`` /
``preview`` (``--llm``) and ``tane eval`` (``--model``, ``--judge``)::

    [NAME=]TARGET[,KEY=VALUE...]

    --llm http://127.0.0.1:8000/v1,model=Qwen/Qwen2.5-7B-Instruct
    --llm big=http://10.0.0.2:8000/v1,http://10.0.0.3:8000/v1,model=Qwen/Qwen2.5-32B-Instruct
    --model tuned=http://127.0.0.1:8000/v1,model=my-lora,license=apache-2.0   (tane eval)
    --llm embedded

TARGET is ``embedded`` or one or more server URLs; KEY is a field of the ``llm:`` section
(``model``, ``license``, ``concurrency``, ``api_key_env``, ``timeout``, ``max_retries``,
``json_schema``, ``adaptive``, ``slots``, ``threads``) and, for ``tane eval``, ``style``
(``chat`` or ``completion``). NAME is the recipe's model of ``models:`` (run: none, the
default model) or the name an eval gives the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import TaneError
from .llm import LLMConfig, key_in_url_message

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
STYLES = ("chat", "completion")
KEYS = tuple(sorted(k for k in LLMConfig.model_fields if k not in ("backend", "base_url")))
_INTS = {"concurrency", "max_retries", "slots", "threads"}
_FLOATS = {"timeout"}
_BOOLS = {"json_schema", "adaptive"}


@dataclass
class Target:
    """What one spec says: where the model is and the ``llm:`` fields it sets."""

    urls: list[str] = field(default_factory=list)
    embedded: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    style: str | None = None

    def llm_fields(self) -> dict[str, Any]:
        """The ``llm:`` fields to set: the backend and its place, then the keys given."""
        if self.embedded:
            return {"backend": "embedded", "base_url": None, "model": None} | {
                k: v for k, v in self.fields.items() if k != "model"}
        return {"backend": "openai",
                "base_url": self.urls[0] if len(self.urls) == 1 else list(self.urls)
                } | self.fields


def value_of(key: str, raw: str, flag: str) -> Any:
    try:
        if key in _INTS:
            return int(raw)
        if key in _FLOATS:
            return float(raw)
    except ValueError:
        raise TaneError(f"{key}={raw!r} is not a number", field=flag) from None
    if key in _BOOLS:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise TaneError(f"{key}={raw!r}: expected true or false", field=flag)
    return raw


def refuse_keys(value: str, flag: str, name: str = "") -> None:
    """One line, before any message quotes ``value``, when a server URL in it carries a
    key (``user:password@`` or ``?api_key=``): a URL is printed and stored."""
    for part in value.split(","):
        for url in (part.strip(), part.partition("=")[2].strip()):
            refused = key_in_url_message(url) if url.startswith(("http://", "https://")) \
                else None
            if refused:
                raise TaneError(f"{name + ': ' if name else ''}{refused}", field=flag)


def check_name(name: str, flag: str) -> str:
    if not NAME.match(name):
        raise TaneError(f"model name {name!r}: use letters, digits, '_', '.', '-' "
                        "(at most 64)", field=flag)
    return name


def split_name(value: str) -> tuple[str | None, str]:
    """``("big", "http://...")`` for ``big=http://...``; ``(None, value)`` when the value
    names no model (it starts with its target: a URL has ':' and '/' before any '=')."""
    head, sep, rest = value.partition("=")
    if sep and "://" not in head and "," not in head and NAME.match(head.strip()) \
            and head.strip() not in KEYS and head.strip() != "style":
        return head.strip(), rest
    return None, value


def parse_spec(value: str, flag: str, name: str = "", *, styles: bool = True) -> Target:
    """The TARGET[,KEY=VALUE...] part of a spec (see the module doc)."""
    refuse_keys(value, flag, name)
    t = Target()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part == "embedded":
            t.embedded = True
        elif part.startswith(("http://", "https://")):
            t.urls.append(part)
        elif "=" in part:
            key, raw = (s.strip() for s in part.split("=", 1))
            if key == "style" and styles:
                if raw not in STYLES:
                    raise TaneError(f"style={raw!r}: expected chat or completion", field=flag)
                t.style = raw
                continue
            if key not in KEYS:
                known = ", ".join(KEYS + (("style",) if styles else ()))
                raise TaneError(f"unknown option {key!r} in {value!r} (known: {known})",
                                field=flag)
            t.fields[key] = value_of(key, raw, flag)
        else:
            raise TaneError(f"expected 'embedded', a server URL (http://...) or KEY=VALUE, "
                            f"got {part!r} in {value!r}", field=flag)
    if t.embedded == bool(t.urls):
        raise TaneError(f"{name + ': ' if name else ''}give either 'embedded' or server "
                        f"URL(s), e.g. {name + '=' if name else ''}"
                        "http://127.0.0.1:8000/v1,model=NAME", field=flag)
    return t
