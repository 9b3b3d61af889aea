"""Alpaca's variant of Self-Instruct (Taori et al., 2023).

One request shows ``num_prompt_instructions`` (3) seed tasks with input and output and asks
for ``tasks_per_request`` (20) tasks in the same format, instruction, input (``<noinput>``
when none) and output together, so there is no separate classification or instance step.
The last item of a completion cut by the token limit is dropped as ``truncated``. Filters
and the ROUGE-L novelty check are Self-Instruct's, with Alpaca's longer blacklist in ``en``.
``en`` is upstream's prompt (``prompts/alpaca/en.j2``), stops and parser; what still differs
is listed in docs/faithful.md.
"""

from __future__ import annotations

import re

from ..config.alpaca import AlpacaStage
from ..curate.instruction_filters import check_instruction
from ..curate.rouge import NoveltyIndex
from ..prompts import check_overrides, load_template
from ..schema import Drop, Provenance, Record, stable_hash
from .base import Batch, Request, StageContext, to_params

EXTRA_BLACKLIST = ("video", "audio", "music", "flowchart", "diagram")
FIELDS = {"en": ("Instruction", "Input", "Output"), "ja": ("指示", "入力", "出力")}
NOINPUT = "<noinput>"


def normalise_example(instruction: str) -> str:
    """A seed instruction as upstream's ``encode_prompt`` writes it into the prompt."""
    return re.sub(r"\s+", " ", instruction).strip().rstrip(":")


def parse_tasks(text: str, first_idx: int, mode: str) -> list[tuple[int, str, str, str] | None]:
    """Items of one completion; ``None`` marks an item that does not parse.

    ``en`` parses as upstream's ``post_process_gpt3_response``: ``N. Field:`` with at least
    one space after the dot, the instruction only stripped. ``ja`` also takes a full-width
    colon and no space, and collapses whitespace inside the instruction."""
    ins, inp, out = FIELDS[mode]
    raw = f"{first_idx}. {ins}:" + text
    items: list[tuple[int, str, str, str] | None] = []
    for k, chunk in enumerate(raw.split("###")):
        idx = first_idx + k
        if mode == "en":
            parts = re.split(rf"{idx}\.\s+({ins}|{inp}|{out}):", chunk)
        else:
            parts = re.split(rf"{idx}\.\s*({ins}|{inp}|{out})\s*[:：]", chunk)
        if len(parts) != 7 or [parts[1], parts[3], parts[5]] != [ins, inp, out]:
            if chunk.strip():
                items.append(None)
            continue
        instruction = parts[2].strip() if mode == "en" else re.sub(r"\s+", " ", parts[2]).strip()
        given = parts[4].strip()
        items.append((idx, instruction, "" if given.lower() == NOINPUT else given,
                      parts[6].strip()))
    return items


class Alpaca:
    def __init__(self, cfg: AlpacaStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        check_overrides(cfg.templates, [cfg.mode])
        self.tpl = load_template("alpaca", cfg.mode, cfg.templates, ctx.base_dir)
        self.human = [s for s in ctx.seeds if s.instruction.strip()]
        self.index = NoveltyIndex(tokenizer=cfg.novelty.tokenizer, lang=cfg.mode,
                                  threshold=cfg.novelty.threshold, top_k=cfg.novelty.top_k,
                                  report_floor=0.0)  # exact top-k scores for provenance
        for s in self.human:
            self.index.add(s.instruction, key=f"seed:{s.id}")
        n = cfg.tasks_per_request
        # upstream: ["\n20", "20.", "20."]; ja also stops at "20 ."
        self.stops = (f"\n{n}", f"{n}.") if cfg.mode == "en" else (f"\n{n}", f"{n}.", f"{n} .")
        self.blacklist = re.compile(r"\b(" + "|".join(EXTRA_BLACKLIST) + r")\b", re.IGNORECASE)

    def _filter(self, inst: str) -> tuple[str, dict] | None:
        bad = check_instruction(inst, self.cfg.mode)
        if bad is None and self.cfg.mode == "en":
            m = self.blacklist.search(inst)
            if m:
                return "blacklist", {"word": m.group(1).lower()}
        return bad

    async def round(self, r: int, need: int) -> Batch:
        ctx, cfg, batch = self.ctx, self.cfg, Batch()
        n_ex = cfg.num_prompt_instructions
        prompts, seed_ids, params = [], [], []
        for i in range(cfg.request_batch_size):
            exs = ctx.rng("alpaca", r, i).sample(self.human, min(n_ex, len(self.human)))
            shown = [{"instruction": normalise_example(e.instruction), "input": e.input,
                      "output": e.output} for e in exs]
            prompts.append(self.tpl.render(examples=shown, n=cfg.tasks_per_request))
            seed_ids.append([e.id for e in exs])
            params.append(to_params(cfg.sampling, self.stops, ctx.seed_for("alpaca", r, i)))
        # a cut reply loses its last task only (below)
        results = await ctx.ask_all([Request("completion", q, p, detail={"round": r})
                                     for q, p in zip(prompts, params)])
        kept = 0
        for ids, p, res in zip(seed_ids, params, results):
            if isinstance(res, Drop):
                batch.drops.append(res)
                continue
            items = parse_tasks(res.text, n_ex + 1, cfg.mode)
            # a cut completion loses its last chunk, as upstream (nothing when that is empty)
            cut = res.finish_reason == "length" and bool(res.text.split("###")[-1].strip())
            for j, item in enumerate(items):
                if cut and j == len(items) - 1:
                    batch.drops.append(ctx.drop("truncated", item[1] if item else "", round=r))
                    continue
                if item is None:
                    batch.drops.append(ctx.drop("unparseable", round=r))
                    continue
                _, inst, given, out = item
                bad = self._filter(inst) or (
                    ("empty_output", {}) if cfg.drop_empty_output and not out else None)
                if bad:
                    batch.drops.append(ctx.drop(bad[0], inst, round=r, **bad[1]))
                    continue
                if kept >= need:
                    batch.drops.append(ctx.drop("over_target", inst, round=r))
                    continue
                nov = self.index.check(inst)
                similar = [{"text": str(k), "rouge_l": round(v, 4)} for k, v in nov.top]
                if not nov.keep:
                    batch.drops.append(ctx.drop("near_duplicate", inst, round=r,
                                                max_rouge=round(nov.max_score, 4),
                                                similar=similar))
                    continue
                self.index.add(inst, key=inst)
                kept += 1
                prov = Provenance(method="alpaca", **ctx.model_provenance("completion"),
                                  seed_ids=ids, template=self.tpl.id,
                                  sampling=cfg.sampling.model_dump() | {"seed": p.seed},
                                  mode=cfg.mode, round=r, max_rouge_l=round(nov.max_score, 4),
                                  most_similar=similar)
                batch.records.append(Record(id=f"al-{stable_hash(inst, 10)}", instruction=inst,
                                            input=given, output=out, provenance=prov))
        return batch
