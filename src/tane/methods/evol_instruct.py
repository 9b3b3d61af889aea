"""Evol-Instruct (Xu et al., 2023, "WizardLM", arXiv 2304.12244): rewrite instructions
into harder or rarer ones, epoch after epoch.

A transform stage: it takes the records a generator made and, for ``epochs`` epochs,
rewrites each one with one operation drawn per (record id, epoch):

* in depth (a bit harder, +10–20 words / +20–40 Japanese characters, keeping tables, code
  and input): ``add_constraints``, ``deepen``, ``concretize``, ``increase_reasoning``,
  ``complicate_input`` (adds a table, code, a formula or other data as input);
* in breadth: ``breadth``, a new, rarer instruction in the same domain.

Epoch k evolves what epoch k-1 produced. As in the paper, an instruction whose evolution
failed goes back into the pool unchanged and is tried again in the next epoch
(``retry_failed``). Each failed evolution is a :class:`~tane.schema.Drop` with one of
:data:`DROP_REASONS` (or ``llm_error:<reason>``), never silently lost.

The stage writes instructions only: evolved records have ``output=None`` so the answer
stage writes their responses. The paper's "sorry / short" rule looks at the response; here
it looks at the evolved instruction, which catches the model refusing to rewrite.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..llm.base import Completion, GenParams
from ..prompts import Template, check_overrides, load_template
from ..config.evol_instruct import EvolInstructStage, EvolStep
from ..schema import Drop, Record, stable_hash
from .base import (Batch, KINDS, Outcome, RecordTransform, Request, StageContext,
                   as_messages, to_params)

OPERATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning",
              "complicate_input", "breadth")
IN_DEPTH = OPERATIONS[:5]

DROP_REASONS = ("no_information_gain", "apology_short", "only_punctuation_stopwords",
                "copied_prompt_markers", "empty_evolution", "truncated_evolution")

# The markers our templates use, and those of the paper's prompts (a model may know them).
# Matched case-insensitively; a leading marker or label is stripped by the parser first.
PROMPT_MARKERS = (
    "#given prompt#", "#rewritten prompt#", "#created prompt#", "#original prompt#",
    "given prompt", "rewritten prompt", "created prompt", "original prompt",
    "#与えられたプロンプト#", "#元のプロンプト#", "#書き換えたプロンプト#", "#作成したプロンプト#",
    "与えられたプロンプト", "元のプロンプト", "書き換えたプロンプト", "作成したプロンプト",
    "書き換えられたプロンプト", "作成されたプロンプト",
    "#指示1#", "#指示2#", "#instruction 1#", "#instruction 2#",
)

# Labels a model may put before its answer ("Rewritten Prompt:", "新しい指示：", "#...#").
_WORD_LABEL = (r"(?:the\s+)?(?:rewritten|new|created|evolved|revised|given|original)?\s*"
               r"(?:prompt|instruction|task)(?:\s*\d+)?|"
               r"(?:書き換えた|新しい|作成した|新しく作った|改良した|元の|与えられた)?"
               r"(?:プロンプト|指示文?|依頼|タスク)")
_LEADING_LABEL = re.compile(
    rf"^\s*(?:#[^#\n]{{1,30}}#[^\S\n]*[:：]?|\**(?:{_WORD_LABEL})\**[^\S\n]*[:：]\**)"
    r"[^\S\n]*\n?", re.IGNORECASE)
_MARKER_LINE = re.compile(r"\n[^\S\n]*#[^#\n]{1,30}#")
_INPUT_LINE = re.compile(r"\n[^\S\n]*#?(?:入力|input)(?:データ|data)?#?[^\S\n]*"
                         r"(?:[:：][^\S\n]*\n?|(?=\n|$))", re.IGNORECASE)
_QUOTES = {"「": "」", "『": "』", '"': '"', "“": "”", "'": "'", "`": "`"}

# -- the refusal rule, per language ----------------------------------------------------
# "申し訳ありませんが" is also ordinary polite Japanese ("申し訳ない気持ちを伝える手紙"),
# so a bare substring is not enough: an apology that opens the text, or a "cannot" that
# ends a sentence, outside quotes, in a short text.
_JA_OPENER = re.compile(r"^(?:申し訳(?:ありません|ございません)|申し訳ない(?:のです|です)?|"
                        r"すみません|ごめんなさい|恐れ入ります|残念ながら)"
                        r"(?:が|けど|けれど|けれども|[、,。.!！])")
_JA_CANNOT = re.compile(r"(?:でき|いたしかね|致しかね|かね|お答えでき|お応えでき)ません"
                        r"(?:でした)?(?=[。．.!！、,\s]|$)")
_EN_OPENER = re.compile(r"^(?:i'?m sorry|i am sorry|sorry\b|i apologi[sz]e|unfortunately,? i\b|"
                        r"as an ai\b)", re.IGNORECASE)
_EN_CANNOT = re.compile(r"\bi\s+(?:cannot|can't|can not|am unable to|am not able to|"
                        r"won't be able to)\b", re.IGNORECASE)
JA_SHORT_CHARS, EN_SHORT_WORDS = 120, 80  # the paper: "sorry" in a reply under 80 words
_QUOTED = re.compile(r"「[^」]*」|『[^』]*』|\"[^\"]*\"|“[^”]*”")

EN_STOPWORDS = frozenset("""a an the and or but if then so of to in on at by for with from
as is are was were be been being am do does did done have has had this that these those
it its i me my we our you your he she they them his her their what which who whom how
why when where not no yes please can could would should will shall may might must just
very too also here there some any all ok okay""".split())
# particles, auxiliaries and filler; removed longest first from the text
JA_STOPWORDS = tuple(sorted(set("""は が を に で と の も へ や から まで より ね よ か な
です ます でした ました ません する します して した ください ある あります いる います
これ それ あれ この その あの ここ そこ こと もの はい いいえ ええ うん はず など
について として による ため また そして しかし でも""".split()), key=len, reverse=True))


def _strip_quotes(text: str) -> str:
    while len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        inner = text[1:-1].strip()
        if not inner or any(q in inner for q in (text[0], text[-1])):
            break
        text = inner
    return text


def parse_evolution(text: str) -> tuple[str, str | None]:
    """Model output -> (instruction, input or None when the model wrote no input line).

    Strips an echoed marker or label ("#書き換えたプロンプト#", "Rewritten Prompt:"),
    cuts at the next marker line (the model starting another block), splits off an
    ``入力:`` / ``Input:`` section, and removes quotes wrapped around the whole text.
    """
    t = text.replace("\r\n", "\n").strip()
    for _ in range(3):  # "#Rewritten Prompt#\nPrompt: ..." has two labels
        m = _LEADING_LABEL.match(t)
        if not m or not m.group(0).strip():
            break
        t = t[m.end():].strip()
    cut = _MARKER_LINE.search("\n" + t[1:]) if t else None
    if cut:
        t = t[:cut.start()].rstrip()
    parts = _INPUT_LINE.split("\n" + t, maxsplit=1)
    inst = _strip_quotes(parts[0].strip())
    inp = parts[1].strip() if len(parts) == 2 else None
    return inst, inp


def parse_judgement(text: str, lang: str) -> bool | None:
    """True: the two instructions are equal; False: not equal; None: unreadable."""
    t = re.sub(r"^[\s「『\"'*#:：]+", "", text).lower()
    if lang == "ja":
        if re.match(r"(異な|違|ちが|同じではな|同じでな|等しくな|not)", t):
            return False
        if re.match(r"(同じ|等しい|equal|same)", t):
            return True
        return None
    if re.match(r"(not\b|different|unequal|no\b)", t):
        return False
    if re.match(r"(equal|same|yes\b)", t):
        return True
    return None


def is_refusal(text: str, lang: str) -> bool:
    """Reads as an apology or refusal, and is short (``apology_short``)."""
    t = text.strip()
    bare = _QUOTED.sub("", t)
    if lang == "ja":
        return len(t) <= JA_SHORT_CHARS and bool(
            _JA_OPENER.match(bare) or _JA_CANNOT.search(bare)
            or re.search(r"\bsorry\b|\bi cannot\b", bare, re.IGNORECASE))
    return len(t.split()) < EN_SHORT_WORDS and bool(
        _EN_OPENER.match(bare) or _EN_CANNOT.search(bare))


def only_punct_stopwords(text: str, lang: str) -> bool:
    """Nothing left after removing punctuation, symbols, spaces and stop words."""
    kept = "".join(" " if unicodedata.category(c)[0] in "PSZ" or c.isspace() else c
                   for c in text)
    if lang == "en" or not re.search(r"[\u3040-\u30ff\u3400-\u9fff]", kept):
        return all(w.lower() in EN_STOPWORDS for w in kept.split())
    rest = kept
    for w in JA_STOPWORDS:
        rest = rest.replace(w, " ")
    return all(w.lower() in EN_STOPWORDS for w in rest.split())


def copied_markers(text: str) -> list[str]:
    low = text.lower()
    return [m for m in PROMPT_MARKERS if m in low]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Attempt:
    """One record being evolved in one epoch."""

    rec: Record
    epoch: int
    operation: str
    prompt: Any
    params: GenParams


class EvolInstruct(RecordTransform):
    """A per-record LLM transform. Each record's evolution is a chain of requests: the
    epoch's rewrite, the equality check of a rewrite that passed the rules (its
    follow-up), then the next epoch's rewrite of the child (or, ``retry_failed``, of the
    same parent). Each request's ``state`` holds the :class:`Attempt` it belongs to."""

    method = "evol_instruct"

    def __init__(self, cfg: EvolInstructStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.lang = cfg.mode
        self.kind = KINDS[cfg.prompt_style]
        ops = list(dict.fromkeys(cfg.operations))
        names = [f"{self.lang}_{op}" for op in OPERATIONS] + [f"{self.lang}_equal"]
        check_overrides(cfg.templates, names)
        self.templates: dict[str, Template] = {
            op: load_template("evol_instruct", f"{self.lang}_{op}", cfg.templates, ctx.base_dir)
            for op in ops}
        self.tpl_equal = (load_template("evol_instruct", f"{self.lang}_equal", cfg.templates,
                                        ctx.base_dir) if cfg.judge_equality else None)
        # completion style: the rewritten prompt ends where a blank line and a new
        # "#...#" block start (or a run of blank lines)
        base = ("\n\n#", "\n\n\n") if self.kind == "completion" else ()
        self.stop = tuple(dict.fromkeys(base + tuple(cfg.stop)))

    # -- drawing and prompts (no LLM) ---------------------------------------------------
    def draw(self, record_id: str, epoch: int) -> str:
        return self.ctx.rng("evol", record_id, epoch).choice(list(self.cfg.operations))

    def render(self, rec: Record, operation: str) -> str:
        text = self.templates[operation].render(instruction=rec.instruction, input=rec.input)
        return text + "\n" if self.kind == "completion" and not text.endswith("\n") else text

    def _wrap(self, text: str) -> Any:
        return text if self.kind == "completion" else as_messages(text)

    def attempt(self, rec: Record, epoch: int) -> Attempt:
        op = self.draw(rec.id, epoch)
        params = to_params(self.cfg.sampling, self.stop, self.ctx.seed_for("evol", rec.id, epoch))
        return Attempt(rec, epoch, op, self._wrap(self.render(rec, op)), params)

    def judge_prompt(self, first: str, second: str) -> Any:
        assert self.tpl_equal is not None
        return self._wrap(self.tpl_equal.render(first=first, second=second))

    # -- elimination (no LLM) -----------------------------------------------------------
    def check(self, parent: Record, res: Completion) -> tuple[str, dict[str, Any]] | None:
        """The cheap rules on one evolution; a reason and detail, or None to go on. (A reply
        cut at max_tokens is the engine's drop, ``truncated_evolution``.)"""
        inst, inp = parse_evolution(res.text)
        if not inst:
            return "empty_evolution", {"raw": res.text[:500]}
        found = copied_markers(inst + "\n" + (inp or ""))
        if found:
            return "copied_prompt_markers", {"markers": found}
        if only_punct_stopwords(inst, self.lang):
            return "only_punctuation_stopwords", {}
        if is_refusal(inst, self.lang):
            return "apology_short", {}
        if normalise(inst) == normalise(parent.instruction) and \
                normalise(inp if inp is not None else parent.input) == normalise(parent.input):
            return "no_information_gain", {"judge": "identical"}
        return None

    def child(self, a: Attempt, res: Completion, judge: dict[str, Any] | None) -> Record:
        inst, inp = parse_evolution(res.text)
        carried = inp is None and a.operation in IN_DEPTH and bool(a.rec.input)
        new_input = a.rec.input if carried else (inp or "")
        rid = f"ev-{stable_hash([a.rec.id, a.epoch, a.operation, inst, new_input], 10)}"
        # the parent's provenance, its origin untouched, with this rewrite as a step
        step = EvolStep(
            stage=self.ctx.name, method=EvolStep.METHOD, **self.ctx.model_provenance(self.kind),
            template=self.templates[a.operation].id,
            sampling=self.cfg.sampling.model_dump() | {"seed": a.params.seed,
                                                       "stop": list(a.params.stop)},
            finish_reason=res.finish_reason, id=rid, parent_id=a.rec.id,
            operation=a.operation, epoch=a.epoch, mode=self.lang,
            prompt_style=self.cfg.prompt_style, input_carried=carried, equality_judge=judge)
        return Record(id=rid, instruction=inst, input=new_input, output=None,
                      provenance=a.rec.provenance.with_step(step))

    # -- the stage ----------------------------------------------------------------------
    def _detail(self, a: Attempt, **detail: Any) -> dict[str, Any]:
        return {"operation": a.operation, "epoch": a.epoch,
                "parent_instruction": a.rec.instruction, **detail}

    def _evolve(self, rec: Record, epoch: int) -> Request:
        """Epoch ``epoch``'s rewrite of ``rec``; a cut reply is ``truncated_evolution``."""
        a = self.attempt(rec, epoch)
        return Request(self.kind, a.prompt, a.params, state={"attempt": a}, text=rec.instruction,
                       record_id=rec.id, detail=self._detail(a),
                       truncated="truncated_evolution",
                       cut_text=lambda t: parse_evolution(t)[0])

    def _equal(self, a: Attempt, res: Completion) -> Request:
        """The check that the rewrite in ``res`` says more than its parent."""
        inst, inp = parse_evolution(res.text)
        first = a.rec.instruction + (f"\n{a.rec.input}" if a.rec.input else "")
        second = inst + (f"\n{inp}" if inp else "")
        params = GenParams(temperature=0.0, top_p=1.0, max_tokens=8, stop=("\n",),
                           seed=self.ctx.seed_for("equal", a.rec.id, a.epoch))
        return Request(self.kind, self.judge_prompt(first, second), params,
                       state={"attempt": a, "evolution": res}, text=inst or a.rec.instruction,
                       record_id=a.rec.id, detail=self._detail(a, call="equal"))

    def _next(self, rec: Record, epoch: int) -> list[Outcome]:
        """The next epoch's rewrite of ``rec``, if there is a next epoch."""
        return [self._evolve(rec, epoch)] if epoch <= self.cfg.epochs else []

    def _retry(self, a: Attempt) -> list[Outcome]:
        """After a failed evolution: the same parent in the next epoch (retry_failed)."""
        return self._next(a.rec, a.epoch + 1) if self.cfg.retry_failed else []

    def prompt(self, rec: Record) -> Request:
        return self._evolve(rec, 1)

    def parse(self, rec: Record, req: Request, res: Completion) -> list[Outcome]:
        a: Attempt = req.state["attempt"]
        if "evolution" in req.state:  # the equality check of a's evolution
            evo: Completion = req.state["evolution"]
            j = {"equal": parse_judgement(res.text, self.lang), "raw": res.text.strip()[:80],
                 "template": self.tpl_equal.id if self.tpl_equal else ""}
            if j["equal"] is True:
                return [self._dropped(a, "no_information_gain",
                                      {"judge": "llm", "raw": j["raw"]}, evo), *self._retry(a)]
            return self._kept(a, evo, j)
        bad = self.check(a.rec, res)
        if bad:
            return [self._dropped(a, bad[0], bad[1], res), *self._retry(a)]
        if self.cfg.judge_equality:
            return [self._equal(a, res)]
        return self._kept(a, res, None)

    def failed(self, rec: Record, req: Request, drop: Drop) -> list[Outcome]:
        return [drop, *self._retry(req.state["attempt"])]

    def step(self, record: Record, request: Request, completion: Completion) -> None:
        return None  # a child's provenance is its own (child)

    def _kept(self, a: Attempt, res: Completion, judge: dict[str, Any] | None
              ) -> list[Outcome]:
        new = self.child(a, res, judge)
        return [new, *self._next(new, a.epoch + 1)]

    async def process(self, records: list[Record]) -> Batch:
        batch = await super().process(records)
        if self.cfg.keep_parents:  # the records that came in, first
            batch.records[:0] = records
        return batch

    def _dropped(self, a: Attempt, reason: str, detail: dict[str, Any],
                 res: Completion) -> Drop:
        text = parse_evolution(res.text)[0]
        return self.ctx.drop(reason, text or a.rec.instruction, a.rec.id,
                             **self._detail(a, **detail))
