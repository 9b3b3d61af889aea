"""Requirement grid (task x theme): domain questions per cell, then answers to conventions.

The recipe declares axes (e.g. tasks {explain, fix, write code} x themes {mean/variance,
hypothesis tests, regression}); every combination of one value per axis is a cell with a
requested count. Each round:

1. Pick up to ``request_batch_size`` cells, the least filled first (kept / requested; the
   weights are in the requested counts), never more than a cell still needs, never a cell
   that is full or has used up its attempts.
2. Ask for one question per pick from the cell's requirements (descriptions and details
   of its values) with code-free example questions: no code snippet is in this prompt.
   With ``snippets`` (OSS-Instruct style) each question is inspired by one user-supplied
   snippet instead, taken in a seeded rotation so every snippet is used evenly.
3. Drop empty, cut, off-language questions and near-duplicates (ROUGE-L against the
   questions and few-shot questions of the cell, or of the whole run); beyond what the
   runner still needs, the least needed become ``over_target``.
4. Answer each question with the conventions (coding rules, answer format) and the
   cell's few-shot pairs (most specific pattern first); drop an answer that copies its
   question or a few-shot answer of its prompt (methods/grid_copies.py).

Every drop carries its cell in ``detail``; every record its cell and axes in provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config.grid import GridStage
from ..curate.langid import detect
from ..curate.rouge import NoveltyIndex
from ..curate.tokenize import resolve_tokenizer_name
from ..llm.base import Completion, GenParams
from ..prompts import check_overrides, load_template
from ..schema import Drop, Provenance, Record, stable_hash
from .base import Batch, KINDS, Request, StageContext, as_messages, to_params
from .grid_copies import CopyCheck
from .sampled import Drawn, Sampler
from .grid_spec import (
    Fill,
    Shot,
    Snippet,
    has_code,
    load_shots,
    load_snippets,
    pick_shots,
    prose,
    requirements,
    shots_for,
)

HEADS = {"ja": ("### 条件:", "### 質問:", "### 回答:", "### 参考のコード:"),
         "en": ("### Requirements:", "### Question:", "### Answer:", "### Reference code:")}
_LABEL = re.compile(r"^\s*(質問|問題|Question)\s*[:：]\s*", re.IGNORECASE)
OTHER_LANGS = {"ja": ("en", "zh", "ko"), "en": ("ja", "zh", "ko")}


@dataclass
class Candidate:
    cell: int
    question: str
    call_seed: int | None
    example_ids: list[str]
    snippet: Snippet | None
    max_rouge: float = 0.0
    similar: list[dict[str, Any]] | None = None
    drawn: dict[str, Drawn] = field(default_factory=dict)
    item: tuple[int, int] = (0, 0)  # (round, position): the key of the sampled draws


def clean_question(text: str) -> str:
    return _LABEL.sub("", text.strip(), count=1).strip()


class Grid:
    def __init__(self, cfg: GridStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        lang, style = cfg.mode, cfg.prompt_style
        self.kind = KINDS[style]
        q_name = f"{lang}_question{'_snippet' if cfg.snippets else ''}_{style}"
        a_name = f"{lang}_answer_{style}"
        check_overrides(cfg.templates, [q_name, a_name])
        self.tpl_question = load_template("grid", q_name, cfg.templates, ctx.base_dir)
        self.tpl_answer = load_template("grid", a_name, cfg.templates, ctx.base_dir)
        self.cells = cfg.cells()
        self.fill = Fill([cfg.quota(c) for c in self.cells], cfg.max_attempts)
        self.shots: list[Shot] = load_shots(cfg, ctx.base_dir)
        self.sampler = Sampler(cfg.sampled_axes, ctx, "axes")
        self.cell_shots = [shots_for(c, self.shots) for c in self.cells]
        self.snippets: list[Snippet] = []
        if cfg.snippets:
            self.snippets = load_snippets(cfg.snippets, ctx.base_dir)
            ctx.rng("snippets").shuffle(self.snippets)
        # a question that only repeats its snippet is no new task
        self.snippet_index = {}
        for sn in self.snippets:
            self.snippet_index[sn.id] = NoveltyIndex(
                tokenizer=cfg.novelty.tokenizer, lang=lang, threshold=cfg.novelty.threshold,
                top_k=1, report_floor=0.0)
            self.snippet_index[sn.id].add(sn.code, key=sn.id)
        self.sent = 0  # question prompts so far (the snippet rotation)
        heads = HEADS[lang]
        self.q_stop = (tuple("\n" + h for h in heads) + ("\n\n\n",)
                       if self.kind == "completion" else ())
        self.a_stop = tuple("\n" + h for h in heads) if self.kind == "completion" else ()
        nov = cfg.novelty
        self.novelty = {"tokenizer": resolve_tokenizer_name(nov.tokenizer, lang),
                        "threshold": nov.threshold, "scope": nov.scope}
        self.copies = CopyCheck(cfg.copies, lang)
        self.conventions_id = stable_hash(cfg.conventions.model_dump(), 10)
        n_idx = len(self.cells) if nov.scope == "cell" else 1
        self.indexes = [NoveltyIndex(tokenizer=nov.tokenizer, lang=lang,
                                     threshold=nov.threshold, top_k=nov.top_k,
                                     report_floor=0.0) for _ in range(n_idx)]
        # every few-shot question (any prompt may show it) and the cell's own requirement
        # text: a question repeating either is not a new one
        for i, index in enumerate(self.indexes):
            for s in self.shots:
                index.add(s.question, key=f"fewshot:{s.id}")
            for ci in ([i] if nov.scope == "cell" else range(len(self.cells))):
                index.add(self.requirement_text(ci), key=f"requirements:{self.cells[ci].key}")

    # -- prompts -------------------------------------------------------------------
    def _index(self, cell: int) -> NoveltyIndex:
        return self.indexes[cell if self.cfg.novelty.scope == "cell" else 0]

    def requirement_text(self, cell: int) -> str:
        return " ".join(" ".join([r["description"], *r["details"]])
                        for r in requirements(self.cfg, self.cells[cell].values))

    def _wrap(self, text: str) -> Any:
        # a completion prompt ends with the label the model continues ("### 質問:")
        return text if self.kind == "completion" else as_messages(text)

    def question_examples(self, cell: int, rng) -> list[Shot]:
        """Code-free example questions: the cell's own (most specific first) last, nearest
        the question asked; others' before them, so the format is shown either way."""
        k = self.cfg.num_question_examples
        own = [s for s in self.cell_shots[cell] if not has_code(s.question)]
        mine = pick_shots(own, k, rng)
        rest = [s for s in self.shots if s not in own and not has_code(s.question)]
        others = rng.sample(rest, min(k - len(mine), len(rest)))
        return others + mine[::-1]

    def draw(self, r: int, j: int) -> dict[str, Drawn]:
        """The sampled axes' values of the j-th question of round r."""
        return self.sampler.draw(r, j)

    def item_requirements(self, cell: int, drawn: dict[str, Drawn]) -> list[dict[str, Any]]:
        """The cell's requirement lines, then one per sampled value."""
        sampled = self.cfg.sampled_axes
        return (requirements(self.cfg, self.cells[cell].values)
                + [d.requirement(sampled[a].label) for a, d in drawn.items()])

    def question_prompt(self, r: int, j: int, cell: int,
                        drawn: dict[str, Drawn] | None = None) -> tuple[str, list[str],
                                                                         Snippet | None]:
        """(prompt text, example ids, snippet) for the j-th question of round r."""
        rng = self.ctx.rng("question", r, j)
        exs = self.question_examples(cell, rng)
        snippet = self.snippets[self.sent % len(self.snippets)] if self.snippets else None
        drawn = {} if drawn is None else drawn
        text = self.tpl_question.render(
            requirements=self.item_requirements(cell, drawn),
            examples=[{"requirements": requirements(self.cfg, s.pattern),
                       "question": s.question} for s in exs],
            snippet=snippet, context=Sampler.for_template(drawn))
        return text, [s.id for s in exs], snippet

    def answer_shots(self, c: Candidate, rid: str) -> list[Shot]:
        """The few-shot pairs the answer prompt of record ``rid`` shows, in order."""
        rng = self.ctx.rng("answer", rid)
        k = self.cfg.num_examples
        exs = pick_shots(self.cell_shots[c.cell], k, rng)
        if self.cfg.borrow_examples and len(exs) < k:
            rest = [s for s in self.shots if s not in self.cell_shots[c.cell]]
            exs = rng.sample(rest, min(k - len(exs), len(rest))) + exs
        return exs

    def answer_prompt(self, c: Candidate, rid: str) -> tuple[str, list[str]]:
        exs = self.answer_shots(c, rid)
        text = self.tpl_answer.render(
            conventions=self.cfg.conventions, question=c.question,
            requirements=self.item_requirements(c.cell, c.drawn),
            examples=[{"question": s.question, "answer": s.answer} for s in exs],
            context=Sampler.for_template(c.drawn))
        return text, [s.id for s in exs]

    # -- checks --------------------------------------------------------------------
    def _text_problem(self, what: str, res: Completion, text: str) -> tuple[str, dict] | None:
        if not text:
            return f"empty_{what}", {}
        if self.cfg.check_language:
            lang, conf = detect(prose(text))
            if lang in OTHER_LANGS[self.cfg.mode]:
                return "off_language", {"field": what, "detected": lang,
                                        "confidence": round(conf, 3)}
        return None

    def _detail(self, cell: int, snippet: Snippet | None, drawn: dict[str, Drawn] | None,
                **detail: Any) -> dict[str, Any]:
        """What a drop of a cell's question or answer names: the cell, its snippet and
        sampled values, then ``detail``."""
        extra: dict[str, Any] = {"cell": self.cells[cell].key}
        if snippet:
            extra["snippet"] = snippet.id
        if drawn:
            extra["sampled"] = Sampler.labels(drawn)
        return extra | detail

    def _drop(self, batch: Batch, reason: str, text: str, cell: int, rid: str | None = None,
              snippet: Snippet | None = None, drawn: dict[str, Drawn] | None = None,
              **detail: Any) -> None:
        batch.drops.append(self.ctx.drop(reason, text, rid,
                                         **self._detail(cell, snippet, drawn, **detail)))

    def _request(self, prompt: str, params: GenParams, what: str, text: str, rid: str | None,
                 detail: dict[str, Any], cut_text: Callable[[str], str] | None = None
                 ) -> Request:
        """One call: its drops name ``text``, ``rid`` and ``detail``, and a reply cut at
        max_tokens is dropped as ``truncated_<what>``."""
        return Request(self.kind, self._wrap(prompt), params, text=text, record_id=rid,
                       detail=detail, truncated=f"truncated_{what}", cut_text=cut_text)

    # -- one round -----------------------------------------------------------------
    async def round(self, r: int, need: int) -> Batch:
        ctx, cfg, batch, fill = self.ctx, self.cfg, Batch(), self.fill
        picks = fill.allocate(cfg.request_batch_size, ctx.rng("allocate", r)) if need > 0 else []
        if not picks:
            return batch
        built, draws = [], []
        for j, cell in enumerate(picks):
            draws.append(self.draw(r, j))
            built.append(self.question_prompt(r, j, cell, draws[-1]))
            fill.attempts[cell] += 1
            self.sent += 1
        params = [to_params(cfg.question_sampling, self.q_stop, ctx.seed_for("question", r, j))
                  for j in range(len(picks))]
        results = await ctx.ask_all([
            self._request(b[0], p, "question", "", None,
                          self._detail(cell, b[2], drawn, round=r),
                          cut_text=lambda t: clean_question(t) or t)
            for cell, b, p, drawn in zip(picks, built, params, draws)])
        cands: list[Candidate] = []
        for j, (cell, (_, ex_ids, snip), p, res, drawn) in enumerate(
                zip(picks, built, params, results, draws)):
            extra = {"round": r, "snippet": snip, "drawn": drawn}
            if isinstance(res, Drop):
                batch.drops.append(res)
                continue
            q = clean_question(res.text)
            bad = self._text_problem("question", res, q)
            if bad:
                self._drop(batch, bad[0], q or res.text, cell, **extra, **bad[1])
                continue
            if snip:
                copy = self.snippet_index[snip.id].check(q)
                if not copy.keep:
                    self._drop(batch, "copies_snippet", q, cell,
                               rouge_l=round(copy.max_score, 4), **extra)
                    continue
            c = Candidate(cell, q, p.seed, ex_ids, snip, drawn=drawn,
                          item=(r, j))
            nov = self._index(cell).check(q)
            c.max_rouge = round(nov.max_score, 4)
            c.similar = [{"text": str(k), "rouge_l": round(s, 4)} for k, s in nov.top]
            if not nov.keep:
                echo = str(nov.top[0][0]).startswith("requirements:") if nov.top else False
                self._drop(batch, "echoes_requirements" if echo else "near_duplicate", q, cell,
                           max_rouge=c.max_rouge, similar=c.similar, scope=cfg.novelty.scope,
                           **extra)
                continue
            self._index(cell).add(q, key=q)
            cands.append(c)
        chosen = fill.choose([c.cell for c in cands], need)
        for k, c in enumerate(cands):
            if k not in chosen:
                self._drop(batch, "over_target", c.question, c.cell, round=r,
                           snippet=c.snippet, drawn=c.drawn)
        cands = [c for k, c in enumerate(cands) if k in chosen]
        if cands:
            await self._answer(r, cands, batch)
        return batch

    async def _answer(self, r: int, cands: list[Candidate], batch: Batch) -> None:
        ctx, cfg = self.ctx, self.cfg
        rids = [f"grid-{stable_hash([self.cells[c.cell].key, c.question], 10)}" for c in cands]
        built = [self.answer_prompt(c, rid) for c, rid in zip(cands, rids)]
        params = [to_params(cfg.answer_sampling, self.a_stop, ctx.seed_for("answer", rid))
                  for rid in rids]
        results = await ctx.ask_all([
            self._request(b[0], p, "answer", c.question, rid,
                          self._detail(c.cell, c.snippet, c.drawn, round=r))
            for c, rid, b, p in zip(cands, rids, built, params)])
        for c, rid, (_, shot_ids), p, res in zip(cands, rids, built, params, results):
            if isinstance(res, Drop):
                batch.drops.append(res)
                continue
            text = res.text.strip()
            bad = (self._text_problem("answer", res, text)
                   or self.copies.check(text, c.question, self.answer_shots(c, rid)))
            if bad:
                self._drop(batch, bad[0], c.question, c.cell, rid, c.snippet, c.drawn,
                           round=r, **bad[1])
                continue
            self.fill.kept[c.cell] += 1
            cell = self.cells[c.cell]
            snip = c.snippet
            prov = Provenance(
                method="grid", **ctx.model_provenance(self.kind),
                template=self.tpl_question.id, answer_template=self.tpl_answer.id,
                sampling=cfg.question_sampling.model_dump() | {
                    "seed": c.call_seed, "stop": list(self.q_stop)},
                answer_sampling=cfg.answer_sampling.model_dump() | {
                    "seed": p.seed, "stop": list(p.stop)},
                mode=cfg.mode, prompt_style=cfg.prompt_style, round=r,
                cell=cell.key, axes=cell.axes(cfg.axis_names),
                question_example_ids=c.example_ids, fewshot_ids=shot_ids,
                conventions=self.conventions_id,
                snippet=({"id": snip.id, "path": snip.path, "sha256": snip.sha256,
                          "truncated": snip.truncated} if snip else None),
                max_rouge_l=c.max_rouge, most_similar=c.similar, novelty=self.novelty,
                finish_reason=res.finish_reason, **self.sampler.provenance(c.drawn, c.item))
            batch.records.append(Record(id=rid, instruction=c.question, output=text,
                                        provenance=prov))
