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
4. Identify classification tasks with a few-shot yes/no prompt.
5. Generate an instance: output-first for classification, input-first otherwise
   (``instances: input_only`` leaves the output to the answer stage).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..curate.instruction_filters import check_instruction
from ..curate.rouge import NoveltyIndex
from ..curate.tokenize import resolve_tokenizer_name
from ..llm.base import Completion, GenParams, LLMError
from ..prompts import check_overrides, load_template
from ..config.self_instruct import SelfInstructStage
from ..schema import Provenance, Record, stable_hash
from .base import Batch, KINDS, StageContext, as_messages, to_params

NOINPUT = "<noinput>"
# "\n10. " starts a new item; "2.5" (a digit after the dot) does not
_SPLIT = re.compile(r"\n[^\S\n]*\d+[^\S\n]?[.．](?!\d)[^\S\n]?")
_STOPS = ("\n\n", "\n16", "16.", "16 .")
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


def parse_instructions(text: str) -> list[str]:
    """Split a completion that continues a numbered list (it starts after ``N.``)."""
    items = []
    for raw in _SPLIT.split("\n" + text.lstrip(" ")):
        inst = re.sub(r"\s+", " ", raw).strip()
        if inst:
            items.append(inst)
    return items


def normalise_en(inst: str) -> str:
    # upstream calls str.capitalize(), which also lowercases the rest of the sentence
    # ("Python" -> "python"); we only upper-case the first letter.
    return inst[:1].upper() + inst[1:]


class SelfInstruct:
    # rounds may overlap (lookahead): novelty and the pool are updated in round order
    lookahead_safe = True

    def __init__(self, cfg: SelfInstructStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        lang, t = cfg.mode, cfg.templates
        chat = cfg.prompt_style == "chat"
        self.kind = KINDS[cfg.prompt_style]
        self.labels = LABELS[lang]
        gen_name = f"{lang}_generate{'_chat' if chat else ''}"
        check_overrides(t, [gen_name] + [f"{lang}_{n}" for n in
                                         ("classify", "instance_input_first",
                                          "instance_output_first")])
        self.tpl_generate = load_template("self_instruct", gen_name, t, ctx.base_dir)
        self.tpl_classify = load_template("self_instruct", f"{lang}_classify", t, ctx.base_dir)
        self.tpl_in_first = load_template("self_instruct", f"{lang}_instance_input_first", t,
                                          ctx.base_dir)
        self.tpl_out_first = load_template("self_instruct", f"{lang}_instance_output_first", t,
                                           ctx.base_dir)
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
        prompt = self.tpl_generate.render(instructions=insts, last=15)
        return prompt, ids

    # -- step 2/3: parse, filter, novelty -----------------------------------------
    def _candidates(self, r: int, res: Completion, seed_ids: list[str], seed: int | None,
                    batch: Batch) -> list[Candidate]:
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
        rng = self.ctx.rng("classify", rid)
        exs = self._examples(rng, True, 6) + self._examples(rng, False, 6)
        rng.shuffle(exs)
        return self.tpl_classify.render(examples=exs, instruction=c.instruction)

    def _is_yes(self, text: str) -> bool | None:
        """The first word of the answer, compared whole ("yesterday" is not "yes")."""
        first = re.split(r"[\s、。,.!！?？:：]+", text.strip().lower(), maxsplit=1)[0]
        if first in self.labels["yes"]:
            return True
        if first in self.labels["no"]:
            return False
        return None

    def _instance_prompt(self, c: Candidate, rid: str, clf: bool) -> str:
        exs = self._examples(self.ctx.rng("instance", rid), clf, 3)
        tpl = self.tpl_out_first if clf else self.tpl_in_first
        return tpl.render(examples=exs, instruction=c.instruction)

    def _parse_instance(self, text: str, clf: bool) -> tuple[str, str | None] | None:
        lab = self.labels
        second = lab["input"] if clf else lab["output"]
        # the second field's label, with a half- or full-width colon
        parts = re.split(rf"\n[^\S\n]*{re.escape(second[:-1])}[^\S\n]*[:：]", text, maxsplit=1)
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
        if self.cfg.instances == "input_only" and not clf:
            return inp, None
        return (inp, out) if out else None

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
        params = [self._params(cfg.sampling, "generate", r, i, stop=_STOPS)
                  for i in range(len(built))]
        results = await ctx.call_all(self.kind, prompts, params)
        cands: list[Candidate] = []
        for (prompt, ids), res, p in zip(built, results, params):
            if isinstance(res, LLMError):
                batch.drops.append(ctx.drop(f"llm_error:{res.reason}", prompt, round=r))
                continue
            cands += self._candidates(r, res, ids, p.seed, batch)
        async with ctx.turns_for("novelty").turn(r):
            kept = self._novel(cands, need, batch)
        await self._instances(r, kept, batch)
        checked = sum(1 for d in batch.drops if d.reason == "near_duplicate") + len(kept)
        novel = len(kept) / checked if checked else 1.0
        made = len(batch.records) / len(kept) if kept else 1.0
        self.per_prompt[r] = len(cands) / len(built) * novel * made
        async with ctx.turns_for("pool").turn(r):
            self.machine.extend((rec.instruction, rec.id) for rec in batch.records)
            self.pool_len[r] = len(self.machine)
        return batch

    async def _instances(self, r: int, kept: list[Candidate], batch: Batch) -> None:
        ctx, cfg = self.ctx, self.cfg
        if not kept:
            return
        rids = [f"si-{stable_hash(c.instruction, 10)}" for c in kept]
        lab, icfg = self.labels, cfg.instance_sampling
        if cfg.classify:
            clf_params = [GenParams(temperature=0.0, top_p=1.0, max_tokens=4, stop=("\n",),
                                    seed=ctx.seed_for("classify", rid)) for rid in rids]
            clf_res: list[Any] = await ctx.call_all(
                self.kind, [self._wrap(self._classify_prompt(c, rid))
                            for c, rid in zip(kept, rids)], clf_params)
        else:  # every task is treated as open-ended: input first
            clf_res = [None] * len(kept)
        clfs = [self._is_yes(x.text) if isinstance(x, Completion) else None for x in clf_res]
        stop = ("\n\n" + lab["task"], "\n" + lab["task"])
        # input_only: stop before the model writes an output; the answer stage does that
        stop_in = stop + (("\n" + lab["output"],) if cfg.instances == "input_only" else ())
        inst_params = [self._params(icfg, "instance", rid, stop=stop if clf else stop_in)
                       for rid, clf in zip(rids, clfs)]
        inst_prompts = [self._wrap(self._instance_prompt(c, rid, bool(clf)))
                        for c, rid, clf in zip(kept, rids, clfs)]
        inst_res = await ctx.call_all(self.kind, inst_prompts, inst_params)
        for c, rid, clf, cr, res, p in zip(kept, rids, clfs, clf_res, inst_res, inst_params):
            if isinstance(res, LLMError):
                batch.drops.append(ctx.drop(f"llm_error:{res.reason}", c.instruction, rid))
                continue
            parsed = self._parse_instance(res.text, bool(clf))
            if parsed is None or (res.finish_reason == "length" and parsed[1] is not None):
                reason = "truncated_instance" if res.finish_reason == "length" else "bad_instance"
                batch.drops.append(ctx.drop(reason, c.instruction, rid, raw=res.text[:500]))
                continue
            prov = Provenance(
                method="self_instruct", **ctx.model_provenance(self.kind),
                seed_ids=[i for i in c.seed_ids if not i.startswith("machine:")],
                template=self.tpl_generate.id,
                sampling=cfg.sampling.model_dump() | {"seed": c.call_seed, "stop": list(_STOPS)},
                instance_sampling=icfg.model_dump() | {"seed": p.seed},
                mode=cfg.mode, round=c.round, machine_examples=[
                    i.split(":", 1)[1] for i in c.seed_ids if i.startswith("machine:")],
                is_classification=clf,
                classification_raw=cr.text.strip() if isinstance(cr, Completion) else None,
                max_rouge_l=c.max_rouge, most_similar=c.similar, novelty=self.novelty,
                instance_template=(self.tpl_out_first if clf else self.tpl_in_first).id,
                instance_order="output_first" if clf else "input_first")
            batch.records.append(Record(id=rid, instruction=c.instruction, input=parsed[0],
                                        output=parsed[1], provenance=prov))
