"""Self-Instruct (Wang et al., 2023, arXiv 2212.10560), faithful to the paper and its code.

Each round:

1. Build ``request_batch_size`` prompts. Each lists ``num_prompt_instructions`` (8)
   in-context instructions: up to ``num_machine_instructions`` (2) sampled from the
   machine-generated pool once it has them, the rest from the human seeds, shuffled.
2. Split each completion into instructions. A completion cut by the token limit is
   dropped whole (``truncated: response``, as upstream) or loses only its last item.
3. Filter each instruction (``en``: the upstream rules; ``ja``: Japanese rules) and drop
   it when its ROUGE-L F against any seed or accepted instruction, including those
   accepted earlier in the same round, is above the threshold (0.7). The most similar
   items and their scores go into provenance.
4. Identify classification tasks: upstream's fixed prompt (``classify: upstream``, the
   default in ``en``) or a few-shot yes/no prompt from the seeds (``seeds``).
5. Generate instances: output-first for classification, input-first otherwise. With
   upstream's prompts (``instance_prompt: upstream``, the default in ``en``) one call
   writes up to ``instances_per_task`` (5) examples, parsed and filtered as upstream's
   ``prepare_for_finetuning.py`` does; each kept one is a record. With ``seeds`` one call
   writes one instance. ``instances: input_only`` writes no output at all and leaves
   every one to the answer stage: an open-ended task's reply stops before its output,
   and a classification task's label, written first to steer its input, is kept only in
   provenance (``instance_label``).

``prompt_style: chat`` asks a chat model to continue the list: it gets stops that suit a
reply, and text around the list ("Here is a numbered list…", 「以下は…」) is dropped as
``preamble``. What still differs from upstream is listed in docs/faithful.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..config.self_instruct import SelfInstructOrigin, SelfInstructStage
from ..curate.instruction_filters import check_instruction
from ..curate.rouge import NoveltyIndex
from ..curate.tokenize import resolve_tokenizer_name
from ..llm.base import Completion, GenParams
from ..prompts import check_overrides, load_template
from ..schema import Drop, Provenance, Record, stable_hash
from .base import KINDS, Batch, Request, StageContext, as_messages, to_params
from .sampled import Drawn, Sampler

NOINPUT = "<noinput>"
# "\n10. " starts a new item; "2.5" (a digit after the dot) does not
_SPLIT = re.compile(r"\n[^\S\n]*\d+[^\S\n]?[.．](?!\d)[^\S\n]?")
_STOPS = ("\n\n", "\n16", "16.", "16 .")  # upstream's, for a completion
# a chat reply: no "\n\n" (a reply may open with a sentence and a blank line); stop only at
# an item numbered past the 15 asked for, at the start of a line
_CHAT_STOPS = ("\n16.", "\n16 .", "\n16．")
# upstream's classification call (identify_clf_or_not.py): greedy, 3 tokens, these stops
_CLF_UPSTREAM = {"max_tokens": 3, "stop": ("\n", "Task")}
_NUMBERED = re.compile(r"^[^\S\n]*(?:\*\*)?\d+[^\S\n]?[.．](?!\d)", re.MULTILINE)
# a chat model's words about the list rather than a task in it
_PREAMBLE = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok|absolutely|great)\b|here(?:'s| is| are)\b|"
    r"below (?:is|are)\b|the following\b|(?:i )?hope (?:this|these)\b|let me know\b|"
    r"(?:these|those) (?:are|tasks)\b|(?:new |more |additional )?tasks? \d+\s*(?:to|-|–)\s*\d+|"
    r"以下[はにのが]|はい[、。,！!]|承知|かしこまり|もちろん|了解|新しいタスク(?:を|の一覧)|"
    r"続き(?:を|です))", re.IGNORECASE)
_BOLD_NUMBER = re.compile(r"^([^\S\n]*)\*\*(\d+[.．])\*\*", re.MULTILINE)
LABELS = {"en": {"task": "Task:", "input": "Input:", "output": "Output:", "label": "Class label:",
                 "yes": ("yes",), "no": ("no",)},
          "ja": {"task": "タスク:", "input": "入力:", "output": "出力:", "label": "ラベル:",
                 "yes": ("はい", "yes"), "no": ("いいえ", "no")}}


@dataclass
class Candidate:
    instruction: str
    seed_ids: list[str]
    round: int
    similar: list[dict[str, Any]]
    max_rouge: float
    call_seed: int | None
    drawn: dict[str, Drawn] = field(default_factory=dict)  # sampled context
    item: tuple[int, int] = (0, 0)  # (round, prompt): the key of the draws


def parse_instructions(text: str) -> list[str]:
    """Split a completion that continues a numbered list (it starts after ``N.``)."""
    items = []
    for raw in _SPLIT.split("\n" + text.lstrip(" ")):
        inst = re.sub(r"\s+", " ", raw).strip()
        if inst:
            items.append(inst)
    return items


def split_chat_reply(text: str) -> tuple[list[str], list[str]]:
    """A chat reply to the continue-the-list prompt: (items, preambles). Text before the
    first numbered line and after a blank line that ends the list is not a task; neither
    is an item that talks about the list ("Here are seven more tasks:")."""
    text = _BOLD_NUMBER.sub(r"\1\2", text.strip())
    m = _NUMBERED.search(text)
    if m is None:
        body, extra = ("", [text]) if _PREAMBLE.match(text) else (text, [])
    else:
        head, body = text[:m.start()].strip(), text[m.start():]
        extra = [head] if head else []
        last = list(_NUMBERED.finditer(body))[-1]
        tail = body[last.start():].split("\n\n", 1)
        if len(tail) == 2 and tail[1].strip():
            body, extra = body[:last.start()] + tail[0], extra + [tail[1].strip()]
    items = []
    for inst in parse_instructions(body):
        inst = inst.strip("*").strip()
        (extra if _PREAMBLE.match(inst) or inst.endswith((":", "：")) else items).append(inst)
    return items, [re.sub(r"\s+", " ", x) for x in extra]


def upstream_instances(text: str, clf: bool, cut: bool) -> tuple[list[tuple[str, str]],
                                                                  list[tuple[str, str, str]]]:
    """Instances from one reply to upstream's instance prompts, as upstream's
    ``prepare_for_finetuning.py`` parses and filters them: ([(input, output)], drops as
    (reason, input, output)). A reply cut by the token limit loses its last instance."""
    found: list[tuple[str, str]] = []
    if clf:
        for chunk in text.split("Class label:")[1:] if "Class label:" in text else []:
            label, _, given = chunk.strip().partition("\n")
            found.append((given.strip(), label.strip()))
    else:
        raw = text.strip()
        if re.search(r"Example\s?\d*\.?", raw):
            chunks = [c.strip() for c in re.split(r"Example\s?\d*\.?", raw) if c.strip()]
        elif re.search(r"Output\s*\d*\s*:", raw):
            chunks = [raw]
        else:
            chunks = []
        for chunk in chunks:
            if re.search(r"Output\s*\d*\s*:", chunk):
                given, out = re.split(r"Output\s*\d*\s*:", chunk)[:2]
            else:
                given, out = "", chunk
            out = re.split(r"Input\s*\d*\s*:", out.strip())[0]
            given = re.sub(r"^Input\s*\d*\s*:", "", given.strip())
            found.append((given.strip(), out.strip()))
    drops: list[tuple[str, str, str]] = []
    if cut and found:
        drops.append(("truncated_instance", *found.pop()))
    valid = []
    for given, out in found:
        if given == out:
            drops.append(("instance_input_is_output", given, out))
        elif not out:
            drops.append(("empty_output", given, out))
        elif given.endswith(":") or out.endswith(":"):
            drops.append(("instance_ends_with_colon", given, out))
        else:
            valid.append((given, out))
    if any(a[0] and a[0] == b[0] and a[1] != b[1] for i, a in enumerate(valid)
           for b in valid[:i]):
        # the same input with two outputs: upstream drops them all
        return [], drops + [("conflicting_instances", g, o) for g, o in valid]
    seen: list[tuple[str, str]] = []
    for pair in valid:
        if pair in seen:
            drops.append(("duplicate_instance", *pair))
        else:
            seen.append(pair)
    return seen, drops


def normalise_en(inst: str) -> str:
    # upstream calls str.capitalize(), which also lowercases the rest of the sentence
    # ("Python" -> "python"); we only upper-case the first letter.
    return inst[:1].upper() + inst[1:]


class SelfInstruct:
    # rounds may overlap (the config's lookahead_safe): novelty and the pool are updated
    # in round order

    def __init__(self, cfg: SelfInstructStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        lang, t = cfg.mode, cfg.templates
        chat = cfg.prompt_style == "chat"
        self.kind = KINDS[cfg.prompt_style]
        self.labels = LABELS[lang]
        gen_name = f"{lang}_generate{'_chat' if chat else ''}"
        clf_name = f"{lang}_classify" + ("_upstream" if cfg.classify == "upstream" else "")
        up = "_upstream" if cfg.instance_prompt == "upstream" else ""
        in_name, out_name = (f"{lang}_instance_input_first{up}",
                             f"{lang}_instance_output_first{up}")
        check_overrides(t, [gen_name, clf_name, in_name, out_name])
        self.tpl_generate = load_template("self_instruct", gen_name, t, ctx.base_dir)
        self.tpl_classify = load_template("self_instruct", clf_name, t, ctx.base_dir)
        self.tpl_in_first = load_template("self_instruct", in_name, t, ctx.base_dir)
        self.tpl_out_first = load_template("self_instruct", out_name, t, ctx.base_dir)
        self.sampler = Sampler(cfg.context, ctx, "context")
        self.stops = _CHAT_STOPS if chat else _STOPS
        self.human = [s for s in ctx.seeds if s.instruction.strip()]
        self.machine: list[tuple[str, str]] = []  # (instruction, record id)
        self.pool_len: dict[int, int] = {}  # round -> pool size after it
        # round -> records one prompt gave (to ask the last rounds for what is missing)
        self.per_prompt: dict[int, float] = {}
        self.index = NoveltyIndex(tokenizer=cfg.novelty.tokenizer, lang=lang,
                                  threshold=cfg.novelty.threshold, top_k=cfg.novelty.top_k,
                                  report_floor=0.0)  # exact top-k scores for provenance
        self.novelty = {"tokenizer": resolve_tokenizer_name(cfg.novelty.tokenizer, lang),
                        "threshold": cfg.novelty.threshold}
        for s in self.human:
            self.index.add(self._norm(s.instruction), key=f"seed:{s.id}")

    def _norm(self, text: str) -> str:
        return re.sub(r"\s+", " ", text).strip().rstrip(":：")

    # -- step 1: prompts ----------------------------------------------------------
    def pool_for(self, r: int) -> list[tuple[str, str]]:
        """The machine pool round ``r`` samples from: as it stood after round
        ``r - lookahead`` (the previous round with lookahead 1, as in the paper)."""
        before = r - max(self.ctx.lookahead, 1)
        if before < 0:
            return []
        # the runner starts round r only after round r - lookahead has ended, so its size
        # is known; a pool filled by hand (tests, tools) is used whole
        return self.machine[:self.pool_len.get(before, len(self.machine))]

    def build_prompt(self, r: int, i: int) -> tuple[str, list[str]]:
        rng = self.ctx.rng("generate", r, i)
        pool = self.pool_for(r)
        k = min(self.cfg.num_machine_instructions, len(pool))
        picked = [f"machine:{rid}|{inst}" for inst, rid in rng.sample(pool, k)]
        n_human = min(self.cfg.num_prompt_instructions - k, len(self.human))
        picked += [f"{s.id}|{self._norm(s.instruction)}" for s in rng.sample(self.human, n_human)]
        rng.shuffle(picked)
        ids = [p.split("|", 1)[0] for p in picked]
        insts = [p.split("|", 1)[1] for p in picked]
        drawn = self.sampler.draw(r, i)
        prompt = self.tpl_generate.render(
            instructions=insts, last=15, context=Sampler.for_template(drawn),
            context_lines=[d.requirement(self.cfg.context[a].label)["description"]
                           for a, d in drawn.items()])
        return prompt, ids

    def preview(self, record: Record | None, i: int) -> str | None:
        """The first round's ``i``-th prompt (:class:`tane.stage.Previews`)."""
        return self.build_prompt(0, i)[0] if i < self.cfg.request_batch_size else None

    # -- step 2/3: parse, filter, novelty -----------------------------------------
    def _candidates(self, r: int, res: Completion, seed_ids: list[str], seed: int | None,
                    batch: Batch) -> list[Candidate]:
        if self.cfg.prompt_style == "chat":
            items, extra = split_chat_reply(res.text)
            for text in extra:
                batch.drops.append(self.ctx.drop("preamble", text, round=r))
        else:
            items = parse_instructions(res.text)
        if res.finish_reason == "length" and items:
            cut = items if self.cfg.truncated == "response" else items[-1:]
            for inst in cut:
                batch.drops.append(self.ctx.drop("truncated", inst, round=r,
                                                 finish_reason=res.finish_reason))
            items = items[:len(items) - len(cut)]
        out = []
        for inst in items:
            if self.cfg.mode == "en":
                inst = normalise_en(inst)
            bad = check_instruction(inst, self.cfg.mode)
            if bad:
                batch.drops.append(self.ctx.drop(bad[0], inst, round=r, **bad[1]))
                continue
            out.append(Candidate(inst, seed_ids, r, [], 0.0, seed))
        return out

    def _novel(self, cands: list[Candidate], need: int, batch: Batch) -> list[Candidate]:
        kept = []
        for c in cands:
            if len(kept) >= need:
                batch.drops.append(self.ctx.drop("over_target", c.instruction, round=c.round))
                continue
            res = self.index.check(c.instruction)
            c.max_rouge = round(res.max_score, 4)
            c.similar = [{"text": str(k), "rouge_l": round(s, 4)} for k, s in res.top]
            if not res.keep:
                batch.drops.append(self.ctx.drop("near_duplicate", c.instruction, round=c.round,
                                                 max_rouge=c.max_rouge, similar=c.similar))
                continue
            self.index.add(c.instruction, key=c.instruction)
            kept.append(c)
        return kept

    # -- step 4/5: classification and instances -----------------------------------
    def _examples(self, rng, clf: bool | None, k: int = 4) -> list[Any]:
        pool = [s for s in self.human if clf is None or bool(s.is_classification) == clf]
        return rng.sample(pool, min(k, len(pool))) if pool else []

    def _classify_prompt(self, c: Candidate, rid: str) -> str:
        if self.cfg.classify == "upstream":
            return self.tpl_classify.render(instruction=c.instruction)
        rng = self.ctx.rng("classify", rid)
        exs = self._examples(rng, True, 6) + self._examples(rng, False, 6)
        rng.shuffle(exs)
        return self.tpl_classify.render(examples=exs, instruction=c.instruction)

    def _is_yes(self, text: str) -> bool | None:
        """The first word of the answer, compared whole ("yesterday" is not "yes")."""
        if self.cfg.classify == "upstream":  # upstream: the stripped reply is "Yes"
            return text.strip() in ("Yes", "yes", "YES")
        first = re.split(r"[\s、。,.!！?？:：]+", text.strip().lower(), maxsplit=1)[0]
        if first in self.labels["yes"]:
            return True
        if first in self.labels["no"]:
            return False
        return None

    def _instance_prompt(self, c: Candidate, rid: str, clf: bool) -> str:
        tpl = self.tpl_out_first if clf else self.tpl_in_first
        if self.cfg.instance_prompt == "upstream":
            return tpl.render(instruction=c.instruction)
        exs = self._examples(self.ctx.rng("instance", rid), clf, 3)
        return tpl.render(examples=exs, instruction=c.instruction)

    def _split_instance(self, text: str, clf: bool) -> list[str]:
        """A reply cut at its second field's label (with a half- or full-width colon):
        the input for a classification task, the output for another."""
        second = self.labels["input"] if clf else self.labels["output"]
        return re.split(rf"\n[^\S\n]*{re.escape(second[:-1])}[^\S\n]*[:：]", text, maxsplit=1)

    def _parse_instance(self, text: str, clf: bool) -> tuple[str, str | None] | None:
        parts = self._split_instance(text, clf)
        head, sep, tail = parts[0], len(parts) == 2, parts[1] if len(parts) == 2 else ""
        if not sep:
            if self.cfg.instances == "input_only" and not clf:
                tail, head = "", text
            else:
                return None
        a, b = head.strip(), tail.strip()
        if clf:  # label first, then input
            out, inp = a, b
        else:
            inp, out = a, b
        inp = "" if inp in (NOINPUT, "") else inp
        if self.cfg.instances == "input_only":
            # no output: the answer stage writes it (a label only steered the input)
            return (inp, None) if out or not clf else None
        return (inp, out) if out else None

    def _label(self, text: str) -> str | None:
        """The label a classification reply wrote before its input (input_only)."""
        return self._split_instance(text, True)[0].strip() or None

    def _wrap(self, prompt: str) -> Any:
        return prompt if self.kind == "completion" else as_messages(prompt)

    def _params(self, s, *parts: Any, stop: tuple[str, ...] = ()) -> GenParams:
        return to_params(s, stop, self.ctx.seed_for(*parts))

    def prompts_for(self, r: int, need: int) -> int:
        """Prompts round ``r`` sends: ``request_batch_size``, or fewer when the rounds that
        have ended (those before ``r - lookahead + 1``) say fewer give ``need`` records."""
        done = [v for k, v in self.per_prompt.items() if k <= r - max(self.ctx.lookahead, 1)]
        full = self.cfg.request_batch_size
        if not done or need <= 0:
            return full
        per = sum(done) / len(done)
        if per <= 0:
            return full
        return max(1, min(full, math.ceil(need / per)))

    async def round(self, r: int, need: int) -> Batch:
        ctx, cfg, batch = self.ctx, self.cfg, Batch()
        built = [self.build_prompt(r, i) for i in range(self.prompts_for(r, need))]
        prompts = [self._wrap(p) for p, _ in built]
        params = [self._params(cfg.sampling, "generate", r, i, stop=self.stops)
                  for i in range(len(built))]
        # a cut reply loses its last item or all of them (cfg.truncated): _candidates
        results = await ctx.ask_all([Request(self.kind, q, p, text=prompt,
                                             detail={"round": r})
                                     for q, (prompt, _), p in zip(prompts, built, params)])
        cands: list[Candidate] = []
        for i, ((prompt, ids), res, p) in enumerate(zip(built, results, params)):
            if isinstance(res, Drop):
                batch.drops.append(res)
                continue
            new = self._candidates(r, res, ids, p.seed, batch)
            if self.sampler:
                drawn = self.sampler.draw(r, i)
                for c in new:
                    c.drawn, c.item = drawn, (r, i)
            cands += new
        async with ctx.turns_for("novelty").turn(r):
            kept = self._novel(cands, need, batch)
        await self._instances(r, kept, batch)
        checked = sum(1 for d in batch.drops if d.reason == "near_duplicate") + len(kept)
        novel = len(kept) / checked if checked else 1.0
        made = len(batch.records) / len(kept) if kept else 1.0
        self.per_prompt[r] = len(cands) / len(built) * novel * made
        async with ctx.turns_for("pool").turn(r):
            # one pool entry per instruction, however many instances it got
            self.machine.extend((rec.instruction, rec.id) for rec in batch.records
                                if rec.provenance.origin(SelfInstructOrigin).instance_index == 0)
            self.pool_len[r] = len(self.machine)
        return batch

    def _instance_params(self, rids: list[str], clfs: list[bool | None]) -> list[GenParams]:
        cfg, lab, icfg = self.cfg, self.labels, self.cfg.instance_sampling
        out = []
        for k, (rid, clf) in enumerate(zip(rids, clfs)):
            mt = icfg.max_tokens
            if cfg.instance_prompt == "upstream":
                # upstream: "Example N+1" or the next task ends a reply; 300 tokens when
                # its batch of five holds a classification task, else 350
                stop: tuple[str, ...] = (f"Example {cfg.instances_per_task + 1}", "Task:")
                if mt is None:
                    group = clfs[k - k % 5:k - k % 5 + 5]
                    mt = 300 if any(group) else 350
            else:
                stop = ("\n\n" + lab["task"], "\n" + lab["task"])
                if cfg.instances == "input_only" and not clf:
                    # stop before the model writes an output; the answer stage does that
                    stop += ("\n" + lab["output"],)
                mt = 300 if mt is None else mt
            out.append(GenParams(**(icfg.model_dump() | {"max_tokens": mt}), stop=stop,
                                 seed=self.ctx.seed_for("instance", rid)))
        return out

    def _parsed(self, c: Candidate, rid: str, clf: bool, res: Completion,
                batch: Batch) -> list[tuple[str, str | None]]:
        """The instances one reply gives; what it loses goes to ``batch.drops``."""
        ctx, cut = self.ctx, res.finish_reason == "length"
        if self.cfg.instance_prompt == "upstream":
            found, lost = upstream_instances(res.text, clf, cut)
            for reason, given, out in lost:
                batch.drops.append(ctx.drop(reason, c.instruction, rid, input=given[:300],
                                            output=out[:300]))
            if not found and not lost:
                batch.drops.append(ctx.drop("bad_instance", c.instruction, rid,
                                            raw=res.text[:500]))
            n = self.cfg.instances_per_task
            if len(found) > n:  # upstream: a random sample of at most five
                keep = ctx.rng("instances", rid).sample(range(len(found)), n)
                for k in sorted(set(range(len(found))) - set(keep)):
                    batch.drops.append(ctx.drop("over_instances", c.instruction, rid,
                                                input=found[k][0][:300]))
                found = [found[k] for k in keep]
            return list(found)
        parsed = self._parse_instance(res.text, clf)
        # cut while writing the last field: the output, or a classification's input
        if parsed is None or (cut and (parsed[1] is not None or clf)):
            reason = "truncated_instance" if cut else "bad_instance"
            batch.drops.append(ctx.drop(reason, c.instruction, rid, raw=res.text[:500]))
            return []
        return [parsed]

    async def _instances(self, r: int, kept: list[Candidate], batch: Batch) -> None:
        ctx, cfg = self.ctx, self.cfg
        if not kept:
            return
        rids = [f"si-{stable_hash(c.instruction, 10)}" for c in kept]
        icfg = cfg.instance_sampling
        if cfg.classify != "off":
            up = cfg.classify == "upstream"
            clf_params = [GenParams(temperature=0.0, top_p=1.0, max_tokens=3 if up else 4,
                                    stop=_CLF_UPSTREAM["stop"] if up else ("\n",),
                                    seed=ctx.seed_for("classify", rid)) for rid in rids]
            # a failed classification is not a drop: the task is then taken as open-ended
            clf_res: list[Any] = await ctx.ask_all([
                Request(self.kind, self._wrap(self._classify_prompt(c, rid)), p)
                for c, rid, p in zip(kept, rids, clf_params)])
        else:  # every task is treated as open-ended: input first
            clf_res = [None] * len(kept)
        clfs = [self._is_yes(x.text) if isinstance(x, Completion) else None for x in clf_res]
        inst_params = self._instance_params(rids, clfs)
        inst_prompts = [self._wrap(self._instance_prompt(c, rid, bool(clf)))
                        for c, rid, clf in zip(kept, rids, clfs)]
        # a cut reply loses what it was writing when cut: _parsed
        inst_res = await ctx.ask_all([Request(self.kind, q, p, text=c.instruction, record_id=rid)
                                      for q, p, c, rid in zip(inst_prompts, inst_params, kept,
                                                              rids)])
        for c, rid, clf, cr, res, p in zip(kept, rids, clfs, clf_res, inst_res, inst_params):
            if isinstance(res, Drop):
                batch.drops.append(res)
                continue
            for k, (given, out) in enumerate(self._parsed(c, rid, bool(clf), res, batch)):
                prov = Provenance(
                    method="self_instruct", **ctx.model_provenance(self.kind),
                    seed_ids=[i for i in c.seed_ids if not i.startswith("machine:")],
                    template=self.tpl_generate.id,
                    sampling=cfg.sampling.model_dump() | {"seed": c.call_seed,
                                                          "stop": list(self.stops)},
                    instance_sampling=icfg.model_dump() | {"seed": p.seed,
                                                           "max_tokens": p.max_tokens,
                                                           "stop": list(p.stop)},
                    mode=cfg.mode, round=c.round, machine_examples=[
                        i.split(":", 1)[1] for i in c.seed_ids if i.startswith("machine:")],
                    is_classification=clf,
                    classification_raw=cr.text.strip() if isinstance(cr, Completion) else None,
                    classification_template=self.tpl_classify.id if cr is not None else None,
                    max_rouge_l=c.max_rouge, most_similar=c.similar, novelty=self.novelty,
                    instance_template=(self.tpl_out_first if clf else self.tpl_in_first).id,
                    instance_order="output_first" if clf else "input_first",
                    instance_index=k, **self.sampler.provenance(c.drawn, c.item),
                    # input_only: the label steered the input; it is not the output
                    **({"instance_label": self._label(res.text)} if clf and out is None
                       else {}))
                batch.records.append(Record(id=rid if k == 0 else f"{rid}-{k + 1}",
                                            instruction=c.instruction, input=given,
                                            output=out, provenance=prov))
