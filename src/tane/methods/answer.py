"""The answer step: write ``output`` for instructions that lack one.

It is its own stage with its own prompt, so questions and answers come from separate
prompts (and may come from different models). Completion style shows a few seed
instruction/response pairs as demonstrations; chat style sends the task as the user turn.
A per-record LLM transform: it says what to ask and how to read the reply; the engine
(:class:`~tane.methods.base.RecordTransform`) makes the call and records it.
"""

from __future__ import annotations

from ..config.answer import AnswerStage
from ..llm.base import Completion, GenParams
from ..prompts import check_overrides, load_template
from ..schema import Drop, Record
from ..stage import Request
from .base import KINDS, RecordTransform, StageContext, as_messages
from .sampled import Sampler


class Answer(RecordTransform):
    method = "answer"
    truncated = "truncated_answer"  # a cut answer is dropped whole (the engine's drop)

    def __init__(self, cfg: AnswerStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.kind = KINDS[cfg.prompt_style]
        name = f"{cfg.mode}_{cfg.prompt_style}"
        check_overrides(cfg.templates, [name])
        self.tpl = load_template("answer", name, cfg.templates, ctx.base_dir)
        self.examples = [s for s in ctx.seeds if s.output.strip()]
        self.sampler = Sampler(cfg.context, ctx, "context")
        self.sampling = cfg.sampling.model_dump()  # scalars only: shared safely
        # any "###" header ends the answer: the next example, or a repeated "### 回答:"
        self.stop = ("\n###", "\n\n\n") if self.kind == "completion" else ()

    def prompt(self, rec: Record) -> Request | None:
        if rec.output and not self.cfg.overwrite:
            return None  # already answered: passed on as it is
        rng = self.ctx.rng("answer", rec.id)
        k = min(self.cfg.num_examples, len(self.examples))
        exs = rng.sample(self.examples, k) if self.kind == "completion" else []
        drawn = self.sampler.draw(rec.id)
        text = self.tpl.render(examples=exs, instruction=rec.instruction, input=rec.input,
                               context=Sampler.for_template(drawn),
                               context_lines=[d.requirement(self.cfg.context[a].label)
                                              ["description"] for a, d in drawn.items()])
        sampling = self.sampling
        params = GenParams(**sampling, stop=self.stop, seed=self.ctx.seed_for("answer", rec.id))
        return Request(self.kind, text if self.kind == "completion" else as_messages(text),
                       params, {"template": self.tpl.id, "example_ids": [e.id for e in exs],
                                "sampling": sampling | {"seed": params.seed,
                                                        "stop": list(params.stop)},
                                **self.sampler.provenance(drawn, rec.id)})

    def parse(self, rec: Record, req: Request, res: Completion) -> Record | Drop:
        text = res.text.strip()
        if not text:
            return self.ctx.drop("empty_answer", rec.instruction, rec.id)
        return rec.model_copy(update={"output": text})
