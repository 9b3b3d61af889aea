"""Chat templates as raw text: what a chat model sees before each turn.

A chat template (Jinja, the format Hugging Face tokenizers and GGUF files carry) turns a
list of messages into the one string the model was trained on. Raw completion needs
pieces of that string:

* the *pre-query* prefix: everything up to where the user's words begin (Magpie feeds
  only this, so an aligned model writes a user turn);
* the *answer* prompt: the conversation so far with the assistant header opened;
* stop strings that end a user turn or an assistant turn, and the template's own markers
  (a generated text containing them has leaked the format).

All of these are derived one way, from any template: render it with a sentinel in place
of a message and cut at the sentinel. The built-in formats below are Jinja templates of
our own in that same form, so a template read from a model and a built-in one go through
the same code.

Sources (:func:`load_chat_format`): a built-in name, a GGUF file's
``tokenizer.chat_template``, a ``tokenizer_config.json`` (``chat_template``, ``bos_token``,
``eos_token``), a plain Jinja file, or a template string from a server (llama.cpp's
``GET /props``).

A leading BOS token is removed from every rendered prompt: servers add it themselves when
the model asks for one (llama.cpp from the GGUF's ``add_bos_token``, vLLM through the
tokenizer), and a second BOS changes what the model sees.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import TaneError, json_problem

SENTINEL_USER = "\u2063TANE-USER-TURN\u2063"
SENTINEL_ASSISTANT = "\u2063TANE-ASSISTANT-TURN\u2063"
SENTINEL_NEXT = "\u2063TANE-NEXT-TURN\u2063"
_BOS_MARK = "\u2063TANE-BOS\u2063"

# Built-in formats, written as chat templates. ``system`` is rendered only when given
# (except where the family always had a preamble: llm-jp / Tanuki).
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
_QWEN2 = (  # Qwen2 / 2.5 put a default system turn first when none is given
    "{% if messages[0].role != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}" + _CHATML)
_QWEN3 = (  # thinking switched off for answers: an empty think block opens the turn
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "<think>\n\n</think>\n\n{% endif %}")
_LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>"
    "\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{% endif %}")
_GEMMA = (  # no system role: the system text opens the first user turn
    "{{ bos_token }}{% set ns = namespace(sys='') %}"
    "{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = m.content %}"
    "{% else %}<start_of_turn>{{ 'model' if m.role == 'assistant' else 'user' }}\n"
    "{% if ns.sys and m.role == 'user' %}{{ ns.sys }}\n\n{% set ns.sys = '' %}{% endif %}"
    "{{ m.content | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
_MISTRAL = (  # [INST] ... [/INST] answer</s>; the system text opens the first user turn
    "{{ bos_token }}{% set ns = namespace(sys='') %}"
    "{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = m.content %}"
    "{% elif m.role == 'user' %}[INST] {% if ns.sys %}{{ ns.sys }}\n\n"
    "{% set ns.sys = '' %}{% endif %}{{ m.content }} [/INST]"
    "{% else %}{{ m.content }}{{ eos_token }}{% endif %}{% endfor %}")
# llm-jp-3 instruct, Tanuki and other "### 指示: / ### 応答:" models; the preamble is the
# one these models are tuned with, replaced by a system message when one is given
_LLMJP = (
    "{{ bos_token }}{% set ns = namespace(sys='以下は、タスクを説明する指示です。"
    "要求を適切に満たす応答を書きなさい。') %}"
    "{% if messages[0].role == 'system' %}{% set ns.sys = messages[0].content %}{% endif %}"
    "{{ ns.sys }}{% for m in messages %}{% if m.role == 'user' %}"
    "{{ '\\n\\n### 指示:\\n' + m.content }}{% elif m.role == 'assistant' %}"
    "{{ '\\n\\n### 応答:\\n' + m.content + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\\n\\n### 応答:\\n' }}{% endif %}")


@dataclass(frozen=True)
class Builtin:
    template: str
    bos: str = ""
    eos: str = ""
    families: str = ""


BUILTINS: dict[str, Builtin] = {
    "chatml": Builtin(_CHATML, eos="<|im_end|>", families="ChatML: SmolLM2, Qwen (no "
                      "default system), Hermes, many fine-tunes"),
    "qwen2": Builtin(_QWEN2, eos="<|im_end|>", families="Qwen2 / Qwen2.5 (default system)"),
    "qwen3": Builtin(_QWEN3, eos="<|im_end|>", families="Qwen3 (thinking off for answers)"),
    "llama3": Builtin(_LLAMA3, bos="<|begin_of_text|>", eos="<|eot_id|>",
                      families="Llama 3 / 3.1 / 3.2 / 3.3"),
    "gemma": Builtin(_GEMMA, bos="<bos>", eos="<end_of_turn>", families="Gemma 2 / 3"),
    "mistral": Builtin(_MISTRAL, bos="<s>", eos="</s>", families="Mistral / Mixtral "
                       "[INST] format"),
    "llm-jp": Builtin(_LLMJP, bos="<s>", eos="</s>", families="llm-jp-3 instruct, Tanuki "
                      "and other '### 指示: / ### 応答:' models"),
}
ALIASES = {"qwen": "qwen2", "qwen2.5": "qwen2", "smollm2": "chatml", "llama-3": "llama3",
           "gemma2": "gemma", "gemma3": "gemma", "tanuki": "llm-jp", "llmjp": "llm-jp"}

# Markers of chat formats in general: a generated instruction containing one of these has
# leaked a template, whatever the model's own format is.
COMMON_MARKERS = ("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>", "<|begin_of_text|>", "<|endoftext|>", "<start_of_turn>",
                  "<end_of_turn>", "[INST]", "[/INST]", "<|user|>", "<|assistant|>",
                  "<|system|>", "### 指示:", "### 応答:", "### Instruction:", "### Response:")
_MARKER_RE = re.compile(r"<\|[^|<>\s]{1,40}\|>|<[a-z_]{2,30}>|</?s>|\[/?[A-Z_]{2,20}\]"
                        r"|###[^\S\n]*[^\s#:：]{1,20}[:：]")


def _raise(msg: str) -> None:
    raise jinja2.TemplateError(msg)


def _env() -> ImmutableSandboxedEnvironment:
    # the settings Hugging Face tokenizers render chat templates with
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"],
                                        undefined=jinja2.ChainableUndefined)
    env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False, **_: json.dumps(
        x, indent=indent, ensure_ascii=ensure_ascii)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


@dataclass
class ChatFormat:
    """One chat template, ready to give the raw text of any turn."""

    name: str
    source: str  # "builtin", "gguf:PATH", "tokenizer_config:PATH", "jinja:PATH", "server:URL"
    template: str
    bos: str = ""
    eos: str = ""
    _compiled: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            self._compiled = _env().from_string(self.template)
        except jinja2.TemplateSyntaxError as e:
            raise TaneError(f"chat template syntax error: {e.message}",
                            path=self._where(), line=e.lineno) from None
        self.render([{"role": "user", "content": "x"}], True)  # fails here if unusable

    def _where(self) -> str | None:
        kind, _, path = self.source.partition(":")
        return path if kind in ("gguf", "tokenizer_config", "jinja") and path else None

    @property
    def id(self) -> str:
        import hashlib

        digest = hashlib.sha256(self.template.encode("utf-8")).hexdigest()[:8]
        return f"{self.name}@{digest}"

    # -- rendering ----------------------------------------------------------------------
    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        try:
            text = self._compiled.render(messages=messages,
                                         add_generation_prompt=add_generation_prompt,
                                         bos_token=_BOS_MARK, eos_token=self.eos,
                                         tools=None, enable_thinking=False)
        except Exception as e:  # template code raising (raise_exception, type errors)
            raise TaneError(f"chat template '{self.name}' cannot render a conversation: "
                            f"{type(e).__name__}: {e}", path=self._where(),
                            field="template") from None
        # the BOS the template writes through ``bos_token`` is the server's to add
        text = text.removeprefix(_BOS_MARK)
        return text.replace(_BOS_MARK, self.bos)

    @staticmethod
    def _conv(system: str | None, history: list[dict[str, str]]) -> list[dict[str, str]]:
        return ([{"role": "system", "content": system}] if system else []) + list(history)

    def _cut(self, text: str, sentinel: str) -> tuple[str, str]:
        i = text.find(sentinel)
        if i < 0:
            raise TaneError(f"chat template '{self.name}' drops the message text (the "
                            "sentinel did not come out)", path=self._where(), field="template")
        return text[:i], text[i + len(sentinel):]

    def pre_query(self, system: str | None = None,
                  history: list[dict[str, str]] | None = None) -> str:
        """Raw text up to where the next user message begins."""
        msgs = self._conv(system, history or []) + [{"role": "user", "content": SENTINEL_USER}]
        return self._cut(self.render(msgs, False), SENTINEL_USER)[0]

    def answer_prompt(self, system: str | None, history: list[dict[str, str]]) -> str:
        """Raw text of the conversation (ending in a user turn) with the answer opened."""
        return self.render(self._conv(system, history), True)

    # -- what ends a turn -----------------------------------------------------------------
    def user_end(self) -> str:
        """What follows a user's words: end of the turn and the assistant header."""
        msgs = [{"role": "user", "content": SENTINEL_USER}]
        return self._cut(self.render(msgs, True), SENTINEL_USER)[1]

    def assistant_end(self) -> str:
        """What follows an assistant's words: end of the turn and the next user header."""
        msgs = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": SENTINEL_ASSISTANT},
                {"role": "user", "content": SENTINEL_NEXT}]
        between = self._cut(self.render(msgs, False), SENTINEL_ASSISTANT)[1]
        return self._cut(between, SENTINEL_NEXT)[0]

    def _stops(self, tail: str) -> tuple[str, ...]:
        t = tail.strip()
        out: list[str] = []
        if t:
            m = _MARKER_RE.match(t)
            if m:
                out.append(m.group(0))
            lines = [ln.strip() for ln in t.splitlines() if ln.strip()]
            out += [lines[0], lines[-1]]
        if self.eos:
            out.append(self.eos)
        return tuple(dict.fromkeys(s for s in out if s))

    @cached_property
    def instruction_stops(self) -> tuple[str, ...]:
        return self._stops(self.user_end())

    @cached_property
    def answer_stops(self) -> tuple[str, ...]:
        return self._stops(self.assistant_end())

    @cached_property
    def markers(self) -> tuple[str, ...]:
        """The template's own markers (special tokens, role headers) and the common ones."""
        msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]
        try:
            text = self.render(msgs, True)
        except TaneError:  # a template without a system role
            text = self.render(msgs[1:], True)
        found = _MARKER_RE.findall(text)
        specials = [t for t in (self.bos, self.eos) if t]
        return tuple(dict.fromkeys([*found, *specials, *COMMON_MARKERS]))


# -- sources ----------------------------------------------------------------------------
def builtin_names() -> list[str]:
    return sorted(BUILTINS)


def builtin(name: str) -> ChatFormat:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BUILTINS:
        raise TaneError(f"unknown chat template '{name}'; built-in: "
                        f"{', '.join(builtin_names())}", field="template")
    b = BUILTINS[key]
    return ChatFormat(key, "builtin", b.template, b.bos, b.eos)


def _token_text(value: Any) -> str:
    """tokenizer_config.json writes a special token as a string or as {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def from_tokenizer_config(path: str | Path) -> ChatFormat:
    p = Path(path)
    if not p.is_file():
        raise TaneError("tokenizer config not found", path=str(p), field="chat_template_path")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise TaneError(f"not valid JSON: {json_problem(e)}", path=str(p), line=e.lineno) from None
    tpl = data.get("chat_template") if isinstance(data, dict) else None
    if isinstance(tpl, list):  # named templates: [{"name": "default", "template": ...}]
        named = {t.get("name"): t.get("template") for t in tpl if isinstance(t, dict)}
        tpl = named.get("default")
    if not isinstance(tpl, str) or not tpl.strip():
        # newer tokenizers keep the template beside the config
        jinja = p.with_name("chat_template.jinja")
        if jinja.is_file():
            tpl = jinja.read_text(encoding="utf-8")
        else:
            raise TaneError("no chat_template in this tokenizer config", path=str(p),
                            field="chat_template_path")
    return ChatFormat(data.get("name_or_path") or p.parent.name or "tokenizer_config",
                      f"tokenizer_config:{p}", tpl, _token_text(data.get("bos_token")),
                      _token_text(data.get("eos_token")))


def from_gguf(path: str | Path, name: str | None = None) -> ChatFormat:
    from .gguf import chat_template, read_metadata, token_strings

    tpl = chat_template(path)
    if tpl is None:
        raise TaneError("this GGUF file carries no tokenizer.chat_template (a base model?); "
                        f"set template to a built-in ({', '.join(builtin_names())})",
                        path=str(path), field="template")
    toks = token_strings(path)
    meta = read_metadata(path, {"general.basename", "general.size_label", "general.name"})
    short = "-".join(str(meta[k]) for k in ("general.basename", "general.size_label")
                     if meta.get(k)).lower()
    label = name or short or meta.get("general.name") or Path(path).stem
    return ChatFormat(str(label), f"gguf:{path}", tpl, toks.get("bos_token", ""),
                      toks.get("eos_token", ""))


def from_file(path: str | Path) -> ChatFormat:
    """A ``.gguf``, a ``tokenizer_config.json`` (any ``.json``) or a Jinja template file."""
    p = Path(path)
    if not p.is_file():
        raise TaneError("chat template file not found", path=str(p), field="chat_template_path")
    if p.suffix.lower() == ".gguf":
        return from_gguf(p)
    if p.suffix.lower() == ".json":
        return from_tokenizer_config(p)
    return ChatFormat(p.stem, f"jinja:{p}", p.read_text(encoding="utf-8"))


def from_server_props(props: dict[str, Any], url: str) -> ChatFormat:
    """llama.cpp's ``/props``: ``chat_template`` and, in recent versions, bos/eos text."""
    tpl = props.get("chat_template")
    if not isinstance(tpl, str) or not tpl.strip():
        raise TaneError(f"{url} reports no chat_template; set template to a built-in "
                        f"({', '.join(builtin_names())}) or chat_template_path",
                        field="template")
    name = props.get("model_alias") or Path(str(props.get("model_path") or "server")).stem
    return ChatFormat(str(name), f"server:{url}", tpl, _token_text(props.get("bos_token")),
                      _token_text(props.get("eos_token")))
