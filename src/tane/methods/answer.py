"""The answer step: write ``output`` for instructions that lack one.

It is its own stage with its own prompt, so questions and answers come from separate
prompts (and may come from different models). Completion style shows a few seed
instruction/response pairs as demonstrations; chat style sends the task as the user turn.
"""

from __future__ import annotations

from ..llm.base import Completion, LLMError
from ..prompts import check_overrides, load_template
from ..config.answer import AnswerStage
from ..schema import Record
from .base import Batch, KINDS, StageContext, as_messages, to_params


class Answer:
    def __init__(self, cfg: AnswerStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.kind = KINDS[cfg.prompt_style]
        name = f"{cfg.mode}_{cfg.prompt_style}"
        check_overrides(cfg.templates, [name])
        self.tpl = load_template("answer", name, cfg.templates, ctx.base_dir)
        self.examples = [s for s in ctx.seeds if s.output.strip()]
        # any "###" header ends the answer: the next example, or a repeated "### 回答:"
        self.stop = ("\n###", "\n\n\n") if self.kind == "completion" else ()

    def _prompt(self, rec: Record):
        rng = self.ctx.rng("answer", rec.id)
        k = min(self.cfg.num_examples, len(self.examples))
        exs = rng.sample(self.examples, k) if self.kind == "completion" else []
        text = self.tpl.render(examples=exs, instruction=rec.instruction, input=rec.input)
        return (text if self.kind == "completion" else as_messages(text)), [e.id for e in exs]

    async def process(self, records: list[Record]) -> Batch:
        ctx, batch = self.ctx, Batch()
        todo = [r for r in records if self.cfg.overwrite or not r.output]
        todo_ids = {r.id for r in todo}
        built = [self._prompt(r) for r in todo]
        s = self.cfg.sampling
        params = [to_params(s, self.stop, ctx.seed_for("answer", r.id)) for r in todo]
        results = await ctx.call_all(self.kind, [b[0] for b in built], params)
        answered = {}
        for rec, (_, ex_ids), p, res in zip(todo, built, params, results):
            if isinstance(res, LLMError):
                batch.drops.append(ctx.drop(f"llm_error:{res.reason}", rec.instruction, rec.id))
                continue
            assert isinstance(res, Completion)
            text = res.text.strip()
            if res.finish_reason == "length":
                batch.drops.append(ctx.drop("truncated_answer", rec.instruction, rec.id,
                                            raw=res.text[:500]))
                continue
            if not text:
                batch.drops.append(ctx.drop("empty_answer", rec.instruction, rec.id))
                continue
            step = {"stage": ctx.name, "method": "answer", **ctx.model_provenance(self.kind),
                    "template": self.tpl.id, "example_ids": ex_ids,
                    "sampling": s.model_dump() | {"seed": p.seed, "stop": list(p.stop)},
                    "finish_reason": res.finish_reason}
            prov = rec.provenance.model_copy(deep=True)
            prov.steps.append(step)
            answered[rec.id] = rec.model_copy(update={"output": text, "provenance": prov})
        # keep the input order: records already answered stay where they were
        batch.records = [answered.get(r.id, r) for r in records
                         if r.id in answered or r.id not in todo_ids]
        return batch
