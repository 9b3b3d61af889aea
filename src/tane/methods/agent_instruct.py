"""AgentInstruct flows (Mitra et al., 2024, arXiv 2407.03502): grow reading tasks from
the user's own documents.

A generator stage. Documents in a folder are cut into chunks (methods/agent_documents.py).
Draw ``i`` picks a chunk (a seeded order per pass, so every chunk is used before any is used
twice) and, for that chunk, the next pair from a seeded shuffle of agents × question types,
so a chunk never gets the same pair twice. For each draw:

1. **Content transformation**: the drawn agent rewrites the chunk into another form
   (argument, debate, conversation, meeting transcript, poem, satire, instructional text,
   long text; ``identity`` keeps it as is). One transformation per (chunk, agent) serves
   every question drawn for that pair.
2. **Seed instruction**: a question of the drawn type (taxonomy: methods/agent_taxonomy.py)
   about the transformed text.
3. **Refinement**: ``refinement_rounds`` times, a Suggester proposes a way to make the
   question harder under a seeded strategy (``unanswerable``, ``change_answer``, and for
   multiple choice ``harder_options``) and an Editor rewrites the question. A failed
   round is recorded and the question stays as it was.

Then, in draw order, the near-duplicate check (ROUGE-L, ``novelty``) and the answer, written
from the transformed text, for as many questions as the run still ``need``s; a failed answer
lets the next question in, and what is left is dropped as ``over_target``. A record is
``instruction`` = question, ``input`` = transformed text, ``output`` = answer. Every failure
is a recorded drop.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.agent_instruct import AgentInstructStage
from ..curate.rouge import NoveltyIndex
from ..curate.tokenize import resolve_tokenizer_name
from ..llm.base import GenParams
from ..prompts import Template, check_overrides, load_template
from ..schema import Drop, Provenance, Record, stable_hash
from .agent_documents import Chunk, load_corpus
from .agent_outputs import check, clean
from .agent_taxonomy import QuestionType, load_taxonomy, select_types, text_for
from .base import Batch, KINDS, Request, StageContext, as_messages, to_params

STRATEGIES = ("unanswerable", "change_answer", "harder_options")
STEPS = ("question", "suggest", "edit", "answer")


@dataclass(frozen=True)
class Draw:
    index: int
    chunk: Chunk
    agent: str
    qtype: QuestionType

    @property
    def id(self) -> str:
        return "ai-" + stable_hash([self.chunk.id, self.chunk.digest, self.agent,
                                    self.qtype.key], 10)


@dataclass
class Passage:
    """The transformed text of one (chunk, agent), or why there is none."""

    text: str
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    template: str = ""


@dataclass
class Task:
    draw: Draw
    passage: Passage
    question: str = ""
    question_seed: int | None = None
    refinements: list[dict[str, Any]] = field(default_factory=list)
    similar: list[dict[str, Any]] = field(default_factory=list)
    max_rouge: float = 0.0


class AgentInstruct:
    def __init__(self, cfg: AgentInstructStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.lang = cfg.mode
        self.kind = KINDS[cfg.prompt_style]
        base = ctx.base_dir or Path.cwd()
        agents = list(dict.fromkeys(cfg.agents))
        names = [f"{self.lang}_transform_{a}" for a in agents if a != "identity"]
        check_overrides(cfg.templates, names + [f"{self.lang}_{s}" for s in STEPS])
        self.transforms: dict[str, Template] = {
            a: load_template("agent_instruct", f"{self.lang}_transform_{a}", cfg.templates,
                             ctx.base_dir) for a in agents if a != "identity"}
        self.tpl = {s: load_template("agent_instruct", f"{self.lang}_{s}", cfg.templates,
                                     ctx.base_dir) for s in STEPS}
        user_tax = None
        if cfg.taxonomy:
            user_tax = Path(cfg.taxonomy)
            user_tax = user_tax if user_tax.is_absolute() else base / user_tax
        self.skills = load_taxonomy(user_tax)
        self.types = select_types(self.skills, cfg.skill, cfg.question_types, self.lang)
        self.combos = list(itertools.product(agents, self.types))
        folder = Path(cfg.documents)
        self.folder = folder if folder.is_absolute() else base / folder
        self.corpus = load_corpus(self.folder, cfg.file_types, cfg.chunk_chars,
                                  cfg.min_chunk_chars, cfg.on_bad_file == "skip")
        self.chunks = self.corpus.chunks
        self._order: tuple[int, list[int]] = (-1, [])
        self.passages: dict[tuple[str, str], Passage] = {}
        self.indexes: dict[str, NoveltyIndex] = {}
        self.novelty = {"tokenizer": resolve_tokenizer_name(cfg.novelty.tokenizer, self.lang),
                        "threshold": cfg.novelty.threshold, "scope": cfg.novelty.scope}
        completion = self.kind == "completion"
        self.stop_long = ("\n###", "\n\n\n") if completion else ("\n###",)
        self.stop_short = ("\n###", "\n\n") if completion else ("\n###",)

    # -- draws (no LLM) -----------------------------------------------------------------
    @property
    def total_draws(self) -> int:
        return len(self.chunks) * len(self.combos)

    def draw(self, i: int) -> Draw | None:
        """Draw ``i``: pass ``i // n`` over the chunks in a seeded order; the chunk's pairs
        of (agent, question type) in a seeded order, one per pass."""
        n = len(self.chunks)
        p, j = divmod(i, n)
        if p >= len(self.combos):
            return None
        if self._order[0] != p:  # one shuffle per pass, not per draw
            order = list(range(n))
            self.ctx.rng("chunks", p).shuffle(order)
            self._order = (p, order)
        chunk = self.chunks[self._order[1][j]]
        pairs = list(self.combos)
        self.ctx.rng("pairs", chunk.id, chunk.digest).shuffle(pairs)
        agent, qtype = pairs[p]
        return Draw(i, chunk, agent, qtype)

    def strategy(self, d: Draw, k: int) -> str:
        ok = STRATEGIES if d.qtype.format == "multiple_choice" else STRATEGIES[:2]
        return self.ctx.rng("strategy", d.id, k).choice(ok)

    # -- prompts (no LLM) ---------------------------------------------------------------
    def _wrap(self, text: str) -> Any:
        if self.kind == "completion":
            return text if text.endswith("\n") else text + "\n"
        return as_messages(text)

    def type_vars(self, t: QuestionType) -> dict[str, str]:
        return {"type_name": text_for(t.name, self.lang) or t.key,
                "type_description": text_for(t.description, self.lang) or "",
                "format": t.format}

    def render(self, step: str, draw: Draw, **kw: Any) -> tuple[str, str]:
        """(prompt text, the same prompt with the varying parts left empty)."""
        if step == "transform":
            tpl, kw = self.transforms[draw.agent], {"text": draw.chunk.text}
        else:
            tpl = self.tpl[step]
            kw = {"text": "", "question": "", "suggestion": "", "strategy": ""} | \
                self.type_vars(draw.qtype) | kw
        empty = {k: ("" if k not in ("format", "strategy") else v) for k, v in kw.items()}
        return tpl.render(**kw), tpl.render(**empty)

    def _params(self, s, stop: tuple[str, ...], *parts: Any) -> GenParams:
        return to_params(s, stop, self.ctx.seed_for(*parts))

    # -- the flow ------------------------------------------------------------------------
    async def _transform(self, draws: list[Draw]) -> None:
        todo: dict[tuple[str, str], Draw] = {}
        for d in draws:
            key = (d.chunk.id, d.agent)
            if key in self.passages or key in todo:
                continue
            if d.agent == "identity":
                self.passages[key] = Passage(d.chunk.text)
            else:
                todo[key] = d
        built = [self.render("transform", d) for d in todo.values()]
        params = [self._params(self.cfg.transform_sampling, self.stop_long, "transform",
                               d.chunk.id, d.chunk.digest, d.agent) for d in todo.values()]
        # a failed or cut passage is dropped with each task that draws it (round)
        results = await self.ctx.ask_all([
            Request(self.kind, self._wrap(b[0]), p, truncated="truncated_transformation")
            for b, p in zip(built, params)])
        for (key, d), (_, fixed), p, res in zip(todo.items(), built, params, results,
                                                strict=True):
            tpl_id = self.transforms[d.agent].id
            if isinstance(res, Drop):
                self.passages[key] = Passage("", res.reason, res.detail, p.seed, tpl_id)
                continue
            text, reason, detail = check(res, "transformation", fixed, d.chunk.text)
            self.passages[key] = Passage(text if not reason else "", reason, detail, p.seed,
                                         tpl_id)

    async def _step(self, step: str, tasks: list[Task], batch: Batch, out: str,
                    k: int = 0, **vars_of: Any) -> list[tuple[Task, str]]:
        """One LLM call per task; (task, cleaned text) for each that passed ``check``."""
        s = {"question": self.cfg.question_sampling, "answer": self.cfg.answer_sampling}.get(
            step, self.cfg.refine_sampling)
        stop = self.stop_long if step == "answer" else self.stop_short
        built, params, kws = [], [], []
        for t in tasks:
            kws.append({name: fn(t) for name, fn in vars_of.items()})
            built.append(self.render(step, t.draw, text=t.passage.text, **kws[-1]))
            params.append(self._params(s, stop, step, t.draw.id, k))
        label = out in ("question", "edit", "suggestion", "answer")
        results = await self.ctx.ask_all([
            Request(self.kind, self._wrap(b[0]), p, text=t.question, record_id=t.draw.id,
                    detail=self._detail(t, step=step, round=k), truncated=f"truncated_{out}",
                    cut_text=lambda x: clean(x, label=label))
            for t, b, p in zip(tasks, built, params)])
        passed = []
        for t, (_, fixed), p, res, kw in zip(tasks, built, params, results, kws, strict=True):
            if isinstance(res, Drop):
                if step in ("suggest", "edit"):  # after raw, before the server's message
                    err = res.detail.pop("error", None)
                    res.detail["question_kept"] = True
                    res.detail |= {"error": err} if err is not None else {}
                batch.drops.append(res)
                continue
            # what the output must not merely repeat
            echoes = (kw.get("suggestion", ""),) if step == "edit" else (
                t.passage.text,) if step == "question" else (t.question,)
            text, reason, detail = check(res, out, fixed, t.passage.text, t.draw.qtype.format,
                                         t.question if step == "edit" else None, echoes)
            if reason:
                if step in ("suggest", "edit"):
                    # the question stays as it was; the failed attempt is an item of its own
                    detail = detail | {"question_kept": True}
                self._drop(batch, t, reason, text or t.question, step=step, round=k, **detail)
                continue
            if step == "question":
                t.question_seed = p.seed
            passed.append((t, text))
        return passed

    async def _refine(self, tasks: list[Task], batch: Batch) -> None:
        for k in range(1, self.cfg.refinement_rounds + 1):
            strat = {t.draw.id: self.strategy(t.draw, k) for t in tasks}
            suggested = await self._step("suggest", tasks, batch, "suggestion", k,
                                         question=lambda t: t.question,
                                         strategy=lambda t, st=strat: st[t.draw.id])
            sugg = {t.draw.id: s for t, s in suggested}
            edited = await self._step("edit", [t for t, _ in suggested], batch, "edit", k,
                                      question=lambda t: t.question,
                                      strategy=lambda t, st=strat: st[t.draw.id],
                                      suggestion=lambda t, sg=sugg: sg[t.draw.id])
            for t, text in edited:
                t.refinements.append({"round": k, "strategy": strat[t.draw.id],
                                      "suggestion": sugg[t.draw.id], "before": t.question})
                t.question = text

    def _index(self, chunk_id: str) -> NoveltyIndex:
        key = chunk_id if self.cfg.novelty.scope == "chunk" else ""
        if key not in self.indexes:
            n = self.cfg.novelty
            self.indexes[key] = NoveltyIndex(tokenizer=n.tokenizer, lang=self.lang,
                                             threshold=n.threshold, top_k=n.top_k,
                                             report_floor=0.0)
        return self.indexes[key]

    def _take(self, pending: list[Task], want: int, batch: Batch) -> list[Task]:
        """Up to ``want`` novel questions from the front of ``pending`` (consumed);
        near-duplicates are dropped on the way."""
        taken: list[Task] = []
        while pending and len(taken) < want:
            t = pending.pop(0)
            idx = self._index(t.draw.chunk.id)
            res = idx.check(t.question)
            t.max_rouge = round(res.max_score, 4)
            t.similar = [{"text": str(key), "rouge_l": round(s, 4)} for key, s in res.top]
            if not res.keep:
                self._drop(batch, t, "near_duplicate", t.question, max_rouge=t.max_rouge,
                           similar=t.similar)
                continue
            idx.add(t.question, key=t.question)
            taken.append(t)
        return taken

    async def round(self, r: int, need: int) -> Batch:
        ctx, cfg, batch = self.ctx, self.cfg, Batch()
        if r == 0:
            for s in self.corpus.skipped:
                batch.drops.append(ctx.drop(s.reason, s.text or s.document, None,
                                            document=s.document, message=s.message))
        bs = cfg.request_batch_size
        draws = [d for d in (self.draw(i) for i in range(r * bs, (r + 1) * bs)) if d]
        await self._transform(draws)
        tasks = []
        for d in draws:
            t = Task(d, self.passages[(d.chunk.id, d.agent)])
            if t.passage.reason:
                self._drop(batch, t, t.passage.reason, d.chunk.text, step="transform",
                           **t.passage.detail)
            else:
                tasks.append(t)
        asked = await self._step("question", tasks, batch, "question")
        for t, text in asked:
            t.question = text
        tasks = [t for t, _ in asked]
        await self._refine(tasks, batch)
        # answer only what the run still needs; a failed answer lets the next one in
        pending = list(tasks)
        while pending and len(batch.records) < need:
            take = self._take(pending, need - len(batch.records), batch)
            answered = await self._step("answer", take, batch, "answer", 0,
                                        question=lambda t: t.question)
            batch.records.extend(self._record(t, answer, r) for t, answer in answered)
        for t in pending:
            self._drop(batch, t, "over_target", t.question)
        return batch

    def _detail(self, t: Task, **detail: Any) -> dict[str, Any]:
        d = t.draw
        return {"document": d.chunk.document, "chunk_id": d.chunk.id, "agent": d.agent,
                "skill": self.cfg.skill, "question_type": d.qtype.key, **detail}

    def _drop(self, batch: Batch, t: Task, reason: str, text: str, **detail: Any) -> None:
        batch.drops.append(self.ctx.drop(reason, text, t.draw.id, **self._detail(t, **detail)))

    def _record(self, t: Task, answer: str, r: int) -> Record:
        d, cfg = t.draw, self.cfg
        seed_of = self.ctx.seed_for
        prov = Provenance(
            method="agent_instruct", **self.ctx.model_provenance(self.kind),
            template=self.tpl["question"].id,
            sampling=cfg.question_sampling.model_dump() | {"seed": t.question_seed},
            mode=self.lang, prompt_style=cfg.prompt_style, round=r, draw=d.index,
            documents=cfg.documents, document=d.chunk.document, chunk_id=d.chunk.id,
            chunk_index=d.chunk.index, chunk_sha=d.chunk.digest,
            agent=d.agent, transform_template=t.passage.template,
            transform_sampling=(cfg.transform_sampling.model_dump() | {"seed": t.passage.seed}
                                if d.agent != "identity" else None),
            skill=cfg.skill, question_type=d.qtype.key, question_format=d.qtype.format,
            refinement_rounds=len(t.refinements),
            refinement_rounds_asked=cfg.refinement_rounds, refinements=t.refinements,
            refine_templates=[self.tpl["suggest"].id, self.tpl["edit"].id],
            answer_template=self.tpl["answer"].id,
            answer_sampling=cfg.answer_sampling.model_dump() | {
                "seed": seed_of("answer", d.id, 0)},
            max_rouge_l=t.max_rouge, most_similar=t.similar, novelty=self.novelty)
        return Record(id=d.id, instruction=t.question, input=t.passage.text, output=answer,
                      provenance=prov)
