"""Magpie (Xu et al., 2024, arXiv 2406.08464): an aligned chat model writes the
instructions itself.

An instruction-tuned model has seen countless user turns after its chat template's user
header. Fed *only* that header (the pre-query template, e.g. ``<|im_start|>user\\n``), it
completes it with a plausible user query. The query is then sent back with the full
template (as the user turn) and the model answers it. No seeds and no prompt engineering;
a system turn before the user header steers language or domain.

Each round starts ``batch_size`` conversations (at most the number still needed). Per turn:

1. raw completion of the pre-query text (system turn + earlier turns + the next user
   header) on the chat model: kind ``RAW_CHAT``; it stops at the template's end-of-turn
   marker;
2. filters on the instruction, each a recorded drop: ``llm_error:<reason>``,
   ``truncated_instruction`` (hit max_tokens), ``empty_instruction``,
   ``template_tokens`` (it contains the template's own markers: the format leaked),
   ``degenerate_instruction`` (too short, no letters, a repeated loop), and for the first
   turn ``near_duplicate`` (ROUGE-L against every earlier accepted instruction);
3. raw completion of the answer prompt (the conversation with the assistant header
   opened); drops ``truncated_output``, ``empty_output``, ``output_template_tokens``,
   ``degenerate_output``.

A conversation is kept only when all its turns pass; a drop names the turn. The record's
``instruction``/``output`` are the first turn; provenance carries the whole conversation
(``messages``), the chat template (name, source, id), the system prompt, turn count, model
and sampling. Tags (quality, difficulty, category) come from a following ``judge`` stage.

The chat template comes from the model where it can (``template: auto``: the GGUF of the
embedded chat model, a llama.cpp server's ``/props``, or ``chat_template_path``) or from a
built-in (:mod:`tane.llm.templates`). Raw completions need a server with
``/v1/completions``; a chat-only server stops the run with a clear error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.magpie import MagpieStage
from ..curate.rouge import NoveltyIndex
from ..curate.tokenize import resolve_tokenizer_name
from ..errors import BackendError, ServerError, TaneError
from ..llm.base import RAW_CHAT, Completion, GenParams, LLMError
from ..llm.templates import ChatFormat, builtin, from_file
from ..prompts import check_overrides, load_template
from ..schema import Drop, Provenance, Record, stable_hash
from .base import Batch, Request, StageContext, to_params
from .sampled import Drawn, Sampler

INSTRUCTION_DROPS = ("truncated_instruction", "empty_instruction", "template_tokens",
                     "degenerate_instruction", "near_duplicate")
OUTPUT_DROPS = ("truncated_output", "empty_output", "output_template_tokens",
                "degenerate_output")
_LOOP = re.compile(r"(.{1,40}?)\1{4,}", re.DOTALL)  # a unit repeated 5+ times in a row


def degenerate(text: str, min_chars: int) -> str | None:
    """Why ``text`` is not a usable turn, or None: ``too_short``, ``no_letters``,
    ``repetition`` (one short unit repeated over half the text)."""
    t = text.strip()
    if len(t) < min_chars:
        return "too_short"
    if not any(unicodedata.category(c)[0] in "LN" for c in t):
        return "no_letters"
    longest = max((len(m.group(0)) for m in _LOOP.finditer(t)), default=0)
    if longest * 2 >= len(t):
        return "repetition"
    return None


def leaked_markers(text: str, markers: tuple[str, ...]) -> list[str]:
    return [m for m in markers if m in text]


@dataclass
class Conversation:
    """One conversation being grown turn by turn."""

    round: int
    index: int
    system: str | None
    system_choice: int | None
    drawn: dict[str, Drawn] = field(default_factory=dict)  # sampled context
    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)  # seeds, finish reasons
    max_rouge: float = 0.0
    similar: list[dict[str, Any]] = field(default_factory=list)


class Magpie:
    def __init__(self, cfg: MagpieStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        names = ["ja_system", "en_system", "ja_context", "en_context"]
        check_overrides(cfg.templates, names)
        self.tpl_system = load_template("magpie", f"{cfg.mode}_system", cfg.templates,
                                        ctx.base_dir)
        self.tpl_context = load_template("magpie", f"{cfg.mode}_context", cfg.templates,
                                         ctx.base_dir)
        self.sampler = Sampler(cfg.context, ctx, "context")
        if cfg.system_prompt is None:
            default = self.tpl_system.render().strip()
            self.systems: list[str | None] = [default or None]
        else:
            items = cfg.system_prompt if isinstance(cfg.system_prompt, list) \
                else [cfg.system_prompt]
            self.systems = [s.strip() or None for s in items]
        self.fmt: ChatFormat | None = self._static_format()
        self.index = NoveltyIndex(tokenizer=cfg.novelty.tokenizer, lang=cfg.mode,
                                  threshold=cfg.novelty.threshold, top_k=cfg.novelty.top_k,
                                  report_floor=0.0)
        self.novelty = {"tokenizer": resolve_tokenizer_name(cfg.novelty.tokenizer, cfg.mode),
                        "threshold": cfg.novelty.threshold}

    # -- the chat template ------------------------------------------------------------
    def _static_format(self) -> ChatFormat | None:
        """A template fixed by the recipe is read (and checked) now; ``auto`` without a
        path is asked of the backend when the run starts."""
        cfg = self.cfg
        if cfg.chat_template_path:
            if cfg.template != "auto":
                raise TaneError("set either template (a built-in) or chat_template_path, "
                                "not both", field="chat_template_path")
            p = Path(cfg.chat_template_path)
            if not p.is_absolute() and self.ctx.base_dir is not None:
                p = self.ctx.base_dir / p
            if not p.is_file():
                raise TaneError("chat template file not found", path=str(p),
                                field="chat_template_path")
            return self._checked(from_file(p))
        if cfg.template != "auto":
            return self._checked(builtin(cfg.template))
        return None

    def _checked(self, fmt: ChatFormat) -> ChatFormat:
        for s in self.systems:  # every system prompt must render before any call
            fmt.pre_query(s)
        return fmt

    async def format(self) -> ChatFormat:
        if self.fmt is not None:
            return self.fmt
        try:
            src = await self.ctx.llm.chat_template()
        except LLMError as e:
            raise BackendError(f"cannot read the model's chat template: {e}") from None
        if src is None:
            raise TaneError("this backend does not report the model's chat template (no "
                            "llama.cpp /props?): set template to a built-in (chatml, qwen2, "
                            "qwen3, llama3, gemma, mistral, llm-jp) or chat_template_path",
                            field="stages.0.template")
        self.fmt = self._checked(ChatFormat(src.name or "model", src.source, src.template,
                                            src.bos_token, src.eos_token))
        return self.fmt

    # -- prompt assembly (no LLM) -----------------------------------------------------
    def start(self, r: int, i: int) -> Conversation:
        """A new conversation; its system prompt is drawn with a seeded RNG, and its
        sampled context (``context:``) is added to it."""
        k = None if len(self.systems) == 1 else \
            self.ctx.rng("magpie-system", r, i).randrange(len(self.systems))
        system = self.systems[k or 0]
        drawn = self.sampler.draw(r, i)
        if drawn:
            lines = self.tpl_context.render(
                context=Sampler.for_template(drawn),
                context_lines=[d.requirement(self.cfg.context[a].label)["description"]
                               for a, d in drawn.items()]).strip()
            system = f"{system}\n\n{lines}" if system else lines
        return Conversation(r, i, system, k, drawn)

    def instruction_prompt(self, fmt: ChatFormat, conv: Conversation) -> str:
        return fmt.pre_query(conv.system, conv.messages)

    def answer_prompt(self, fmt: ChatFormat, conv: Conversation, instruction: str) -> str:
        return fmt.answer_prompt(conv.system,
                                 conv.messages + [{"role": "user", "content": instruction}])

    def params(self, fmt: ChatFormat, conv: Conversation, turn: int, what: str) -> GenParams:
        if what == "instruction":
            s, stops = self.cfg.instruction_sampling, fmt.instruction_stops
        else:
            s, stops = self.cfg.response_sampling, fmt.answer_stops
        stop = tuple(dict.fromkeys(stops + tuple(self.cfg.stop)))
        return to_params(s, stop, self.ctx.seed_for("magpie", conv.round, conv.index, turn,
                                                   what))

    # -- checks (no LLM) --------------------------------------------------------------
    def check_instruction(self, fmt: ChatFormat, res: Completion
                          ) -> tuple[str, dict[str, Any]] | None:
        text = res.text.strip()
        if not text:
            return "empty_instruction", {}
        leaked = leaked_markers(text, fmt.markers)
        if leaked:
            return "template_tokens", {"markers": leaked}
        why = degenerate(text, self.cfg.min_instruction_chars)
        if why:
            return "degenerate_instruction", {"why": why}
        return None

    def check_output(self, fmt: ChatFormat, res: Completion
                     ) -> tuple[str, dict[str, Any]] | None:
        text = res.text.strip()
        if not text:
            return "empty_output", {}
        leaked = leaked_markers(text, fmt.markers)
        if leaked:
            return "output_template_tokens", {"markers": leaked}
        why = degenerate(text, 1)
        if why:
            return "degenerate_output", {"why": why}
        return None

    def novel(self, conv: Conversation, text: str) -> tuple[str, dict[str, Any]] | None:
        res = self.index.check(text)
        conv.max_rouge = round(res.max_score, 4)
        conv.similar = [{"text": str(k), "rouge_l": round(s, 4)} for k, s in res.top]
        if not res.keep:
            return "near_duplicate", {"max_rouge": conv.max_rouge, "similar": conv.similar}
        self.index.add(text, key=text)
        return None

    # -- the stage --------------------------------------------------------------------
    def request(self, conv: Conversation, turn: int, prompt: str, params: GenParams,
                what: str, question: str = "") -> Request:
        """One call of ``conv``'s turn: its drops name the turn, and a cut reply is
        dropped as ``truncated_<what>`` (an instruction's drop shows the cut text)."""
        first = conv.messages[0]["content"] if conv.messages else ""
        return Request(RAW_CHAT, prompt, params, text=question or first,
                       detail={"round": conv.round, "turn": turn, "turns": self.cfg.turns,
                               **({"first_instruction": first} if first else {})},
                       truncated=f"truncated_{what}",
                       cut_text=None if question else str.strip)

    async def _calls(self, requests: list[Request]) -> list[Completion | Drop]:
        try:
            return await self.ctx.ask_all(requests)
        except ServerError as e:  # a 404 stops the run: say what Magpie needed
            if "http_404" in e.message:
                raise BackendError(f"Magpie needs raw text completions on the chat model: "
                                   f"{e.message}") from None
            raise

    async def round(self, r: int, need: int) -> Batch:
        ctx, batch = self.ctx, Batch()
        if RAW_CHAT not in ctx.llm.capabilities:
            raise BackendError("this backend cannot send raw text completions to its chat "
                               "model, which Magpie needs")
        fmt = await self.format()
        convs = [self.start(r, i) for i in range(min(self.cfg.batch_size, need))]
        alive = list(convs)
        for turn in range(1, self.cfg.turns + 1):
            if not alive:
                break
            q_params = [self.params(fmt, c, turn, "instruction") for c in alive]
            results = await self._calls([
                self.request(c, turn, self.instruction_prompt(fmt, c), p, "instruction")
                for c, p in zip(alive, q_params)])
            asked: list[tuple[Conversation, str, GenParams, Completion]] = []
            for c, p, res in zip(alive, q_params, results):
                if isinstance(res, Drop):
                    batch.drops.append(res)
                    continue
                bad = self.check_instruction(fmt, res)
                if bad is None and turn == 1:
                    bad = self.novel(c, res.text.strip())
                if bad:
                    self._drop(batch, c, turn, bad, res.text.strip())
                    continue
                asked.append((c, res.text.strip(), p, res))
            a_params = [self.params(fmt, c, turn, "response") for c, *_ in asked]
            answers = await self._calls([
                self.request(c, turn, self.answer_prompt(fmt, c, q), p, "output", q)
                for (c, q, *_), p in zip(asked, a_params)])
            alive = []
            for (c, q, qp, qres), ap, res in zip(asked, a_params, answers):
                if isinstance(res, Drop):
                    batch.drops.append(res)
                    continue
                bad = self.check_output(fmt, res)
                if bad:
                    self._drop(batch, c, turn, bad, q)
                    continue
                c.messages += [{"role": "user", "content": q},
                               {"role": "assistant", "content": res.text.strip()}]
                c.calls.append({"turn": turn, "instruction_seed": qp.seed,
                                "instruction_finish_reason": qres.finish_reason,
                                "response_seed": ap.seed,
                                "response_finish_reason": res.finish_reason})
                alive.append(c)
        batch.records = [self.record(fmt, c) for c in alive]
        return batch

    def _drop(self, batch: Batch, conv: Conversation, turn: int,
              bad: tuple[str, dict[str, Any]], text: str) -> None:
        first = conv.messages[0]["content"] if conv.messages else ""
        batch.drops.append(self.ctx.drop(
            bad[0], text or first, None, round=conv.round, turn=turn, turns=self.cfg.turns,
            **({"first_instruction": first} if first else {}), **bad[1]))

    def record(self, fmt: ChatFormat, conv: Conversation) -> Record:
        msgs = conv.messages
        rid = f"mp-{stable_hash([conv.round, conv.index, conv.system, msgs], 10)}"
        system_msgs = [{"role": "system", "content": conv.system}] if conv.system else []
        prov = Provenance(
            method="magpie", **self.ctx.model_provenance(RAW_CHAT),
            template=fmt.id,
            sampling={"instruction": self.cfg.instruction_sampling.model_dump(),
                      "response": self.cfg.response_sampling.model_dump(),
                      "calls": conv.calls},
            template_name=fmt.name, template_source=fmt.source,
            system_prompt=conv.system or "", system_prompt_choice=conv.system_choice,
            system_template=self.tpl_system.id if self.cfg.system_prompt is None else None,
            turns=len(msgs) // 2, messages=system_msgs + msgs, round=conv.round,
            mode=self.cfg.mode, max_rouge=conv.max_rouge, most_similar=conv.similar,
            novelty=self.novelty,
            **self.sampler.provenance(conv.drawn, [conv.round, conv.index]))
        return Record(id=rid, instruction=msgs[0]["content"], input="",
                      output=msgs[1]["content"], provenance=prov)
