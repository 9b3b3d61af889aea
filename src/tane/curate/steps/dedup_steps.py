"""Dedup steps: exact (after normalisation), ROUGE-L near-duplicates, MinHash-LSH and
embedding cosine.

Each keeps one record of every group of duplicates and drops the others, naming the kept
one in the detail (``duplicate_of`` / ``similar_to``). Which one is kept:

- ``keep: first`` (default): the first record in input order.
- ``keep: best`` with ``score_field`` (a dotted path such as ``judge.quality`` or
  ``provenance.judge.quality``, or any numeric field of an input row): the records of a
  batch are ranked by that score, highest first; ties and records without a number there
  keep their input order, records without a score rank after all scored ones. Then the
  usual greedy pass runs in that order and the kept records are emitted in input order.
  For ``exact_dup`` this keeps exactly the best-scored record of each group; for the
  similarity steps a record is dropped when it is similar to a better-ranked kept one.

A batch is the whole file for ``tane curate`` and one round's records in a recipe's
curate stage: a record kept in an earlier round stays kept (it has gone downstream), so
a better-scored duplicate arriving later is dropped. All dedup steps of one stage must
keep the same way (same ``keep`` and ``score_field``), since one ranking orders the
batch.

What is compared: ``instruction`` (``exact_dup`` adds the input, ``with_input``),
``output``, or ``both``: the instruction, input and output joined by newlines for the
similarity steps; the tuple of both for ``exact_dup``. The similarity steps skip records
without the compared text (no output yet, for ``output`` and ``both``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Hashable, Literal, Optional, Sequence

from pydantic import Field

from tane.curate.novelty_join import JoinPlan
from tane.curate.rouge import NoveltyIndex
from tane.curate.steps.base import Fields, Params, Result, Step, normalize
from tane.errors import TaneError

DedupField = Literal["instruction", "output", "both"]
Tokenizer = Literal["auto", "char", "morph", "whitespace", "rouge"]


class DedupParams(Params):
    keep: Literal["first", "best"] = "first"
    score_field: Optional[str] = Field(None, min_length=1,
                                       description="with keep: best, e.g. judge.quality")


class DedupStep(Step):
    """Base of the dedup steps: ``keep`` / ``score_field`` and the ranking detail."""

    stateful = True
    Params = DedupParams

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        if params.keep == "best" and not params.score_field:
            raise TaneError("keep: best needs score_field (e.g. judge.quality)",
                            field="score_field")
        if params.keep == "first" and params.score_field:
            raise TaneError("score_field is used only with keep: best",
                            field="score_field")
        self.kept_scores: dict[Hashable, float | None] = {}

    @property
    def ranking(self) -> str | None:
        """The score field that orders a batch, or None for input order."""
        return self.p.score_field if self.p.keep == "best" else None

    def _remember_score(self, key: Hashable, f: Fields) -> None:
        if self.ranking:
            self.kept_scores[key] = f.score(self.ranking)

    def _rank_detail(self, f: Fields, key: Hashable) -> dict[str, Any]:
        if not self.ranking:
            return {}
        return {"keep": "best", "score_field": self.ranking,
                "own_score": f.score(self.ranking),
                "kept_score": self.kept_scores.get(key)}


def rank_order(steps: Sequence[Step], batch: Sequence[Fields]) -> list[int]:
    """Positions of `batch` in the order the stage checks them: input order, or by the
    score of the dedup steps' ``score_field`` (highest first, stable, unscored last)."""
    field = next((s.ranking for s in steps if isinstance(s, DedupStep) and s.ranking), None)
    if field is None:
        return list(range(len(batch)))
    scores = [f.score(field) for f in batch]
    return sorted(range(len(batch)),
                  key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))


def check_consistent(steps: Sequence[Step]) -> None:
    """All dedup steps of one stage keep the same way (raises TaneError with the index)."""
    first: tuple[int, DedupStep] | None = None
    for i, s in enumerate(steps):
        if not isinstance(s, DedupStep):
            continue
        if first is None:
            first = (i, s)
            continue
        j, f = first
        if (s.p.keep, s.ranking) != (f.p.keep, f.ranking):
            def how(x: DedupStep) -> str:
                return f"best by {x.ranking}" if x.ranking else "first"
            raise TaneError(f"dedup steps of one stage must keep the same way: step "
                            f"{j} ({f.name}) keeps {how(f)}, step {i} ({s.name}) keeps "
                            f"{how(s)}", field=f"steps.{i}.keep")


class ExactDup(DedupStep):
    """Exact duplicates after normalisation (NFKC, whitespace collapsed, stripped) of
    ``fields``: instruction (with its input, ``with_input``), output, or both. The first
    occurrence (or the best-scored, ``keep: best``) is kept."""

    name = "exact_dup"

    class Params(DedupParams):
        fields: DedupField = "instruction"
        with_input: bool = True

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.seen: dict[tuple, Any] = {}

    def _key(self, f: Fields) -> tuple:
        key: tuple = ()
        if self.p.fields in ("instruction", "both"):
            key += (normalize(f.instruction),) + ((normalize(f.input),) if self.p.with_input
                                                 else ())
        if self.p.fields in ("output", "both"):
            key += (normalize(f.output or ""),)
        return key

    def check(self, f: Fields) -> Result:
        key = self._key(f)
        if key not in self.seen:
            return None
        return self.fail(None, fields=self.p.fields, duplicate_of=self.seen[key],
                         **self._rank_detail(f, key))

    def commit(self, f: Fields) -> None:
        key = self._key(f)
        if key not in self.seen:
            self.seen[key] = f.id
            self._remember_score(key, f)


class IndexDup(DedupStep):
    """Greedy similarity dedup over an index of kept texts (ROUGE-L, MinHash, embeddings).

    Subclasses implement ``_find(f, text) -> (key, similarity) | None`` and
    ``_add(f, text, key) -> bool`` (whether the text was indexed); this class picks the
    compared text, keys kept records, and words the drop."""

    score_name: ClassVar[str] = "score"

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.texts: dict[Hashable, str] = {}
        self._count = 0

    def text_of(self, f: Fields) -> str | None:
        if self.p.field != "both":
            return f.get(self.p.field)
        if f.output is None:
            return None
        return "\n".join(t for t in (f.instruction, f.input, f.output) if t)

    def _find(self, f: Fields, text: str) -> tuple[Hashable, float] | None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _add(self, f: Fields, text: str, key: Hashable) -> bool:
        raise NotImplementedError  # pragma: no cover - abstract

    def check(self, f: Fields) -> Result:
        text = self.text_of(f)
        if not text:
            return None
        hit = self._find(f, text)
        if hit is None:
            return None
        key, sim = hit
        return self.fail(None, field=self.p.field, **{self.score_name: round(sim, 4)},
                         threshold=self.p.threshold, similar_to=key[1],
                         similar_text=self.texts[key], **self._rank_detail(f, key))

    def commit(self, f: Fields) -> None:
        text = self.text_of(f)
        if text:
            key = (self._count, f.id)
            self._count += 1
            if self._add(f, text, key):
                self.texts[key] = text
                self._remember_score(key, f)


class NearDup(IndexDup):
    """Greedy ROUGE-L near-duplicates on ``field`` (NoveltyIndex): dropped when F against
    a kept record is above ``threshold``."""

    name = "near_dup"

    class Params(DedupParams):
        field: DedupField = "instruction"
        threshold: float = Field(0.7, ge=0.0, le=1.0)
        tokenizer: Tokenizer = "auto"

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.index = NoveltyIndex(tokenizer=params.tokenizer,
                                  lang=None if lang == "any" else lang,
                                  threshold=params.threshold, top_k=1)
        self._plan: JoinPlan | None = None
        self._plan_pos: dict[int, tuple[int, str]] = {}

    def prepare(self, batch: Sequence[Fields]) -> None:
        """A large batch (2,000+ texts, method auto) is joined at once (`JoinPlan`);
        the records are then checked and added through it in order."""
        texts = [(f, t) for f in batch if (t := self.text_of(f))]
        self._plan = self.index.plan_batch([t for _, t in texts])
        self._plan_pos = ({id(f): (i, t) for i, (f, t) in enumerate(texts)}
                          if self._plan is not None else {})

    def _planned(self, f: Fields, text: str) -> int | None:
        hit = self._plan_pos.get(id(f))
        return hit[0] if hit is not None and hit[1] == text else None

    def _find(self, f, text):
        i = self._planned(f, text)
        res = self.index.check(text) if i is None else self._plan.check(i)
        return None if res.keep else (res.top[0][0], res.max_score)

    def _add(self, f, text, key):
        i = self._planned(f, text)
        if i is None:
            # a text the plan does not know: from here on, scan
            self._plan, self._plan_pos = None, {}
            self.index.add(text, key=key)
        else:
            self._plan.add(i, key)
        return True


class MinHashDup(IndexDup):
    """Approximate greedy near-duplicates on ``field`` with MinHash-LSH (`MinHashIndex`,
    needs the ``dedup`` extra): dropped when the estimated Jaccard similarity of shingle
    sets (character n-grams for ja, word n-grams otherwise) with a kept record is at
    least ``threshold``. Recall against exact ROUGE-L (``near_dup``) is below 1."""

    name = "minhash_dup"
    score_name = "jaccard"

    class Params(DedupParams):
        field: DedupField = "instruction"
        threshold: float = Field(0.7, gt=0.0, le=1.0)
        num_perm: int = Field(128, ge=2, le=1024)
        ngram: Optional[int] = Field(None, ge=1)

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        from tane.curate.minhash import MinHashIndex

        self.index = MinHashIndex(num_perm=params.num_perm, threshold=params.threshold,
                                  ngram=params.ngram, lang=None if lang == "any" else lang)

    def _find(self, f, text):
        keep, key, score = self.index.check(text)
        return None if keep else (key, score)

    def _add(self, f, text, key):
        return self.index.check_and_add(text, key=key)[0]


class EmbeddingDup(IndexDup):
    """Semantic near-duplicates on ``field``: cosine of multilingual sentence embeddings
    (Universal Sentence Encoder multilingual v3, numpy only; needs the ``embed`` extra)
    with a kept record at least ``threshold``. Texts are encoded ``batch_size`` at a
    time; cosines are computed blockwise. Catches paraphrases and translations that
    share few characters."""

    name = "embedding_dup"
    score_name = "cosine"

    class Params(DedupParams):
        field: DedupField = "instruction"
        threshold: float = Field(0.85, gt=0.0, le=1.0)
        batch_size: int = Field(64, ge=1, le=4096)
        threads: int = Field(1, ge=1, le=256, description="BLAS threads of the encoder")

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        from tane.curate.embed import EmbeddingIndex, PIP, encoder_available

        if not encoder_available():
            raise TaneError(f"step {self.name!r} needs the embed extra: {PIP}",
                            field="name")
        self.index = EmbeddingIndex(threshold=params.threshold,
                                    batch_size=params.batch_size, threads=params.threads)

    def prepare(self, batch: Sequence[Fields]) -> None:
        self.index.prepare(batch, [self.text_of(f) for f in batch])

    def _find(self, f, text):
        return self.index.check(f, text)

    def _add(self, f, text, key):
        self.index.add(f, text, key)
        return True
