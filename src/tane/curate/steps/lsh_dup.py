"""``lsh_dup``: near-duplicates of a whole batch from MinHash-LSH candidate pairs
(`tane.curate.lsh`), for batches too large for ``near_dup``'s exact pass.

``prepare`` signs the batch, buckets it together with the records kept before, and
confirms the candidate pairs (exact ROUGE-L F above ``threshold`` with ``exact: true``,
else the estimated Jaccard at least ``jaccard``); ``check`` then drops a record that has
a confirmed pair with a record already kept, so the decisions are greedy in the stage's
order on the LSH graph, exactly as `tane dedup --method minhash-lsh` decides.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from pydantic import Field

from tane.curate import components as comp
from tane.curate import lsh
from tane.curate.steps.base import Fields
from tane.curate.steps.dedup_steps import DedupField, DedupParams, IndexDup, Tokenizer
from tane.curate.tokenize import get_tokenizer


class LSHDup(IndexDup):
    """Near-duplicates on ``field`` from MinHash-LSH candidate pairs (``bands`` x
    ``rows``, shingles: the ROUGE-L tokenizer's tokens with their occurrence number),
    confirmed by exact ROUGE-L F above ``threshold`` (``exact: true``) or by the
    estimated Jaccard (at least ``jaccard``, default threshold / (2 - threshold));
    dropped when confirmed against a kept record. Recall against ``near_dup`` is below
    1 (docs/scale.md: 0.97-0.99 on 100,000 rows)."""

    name = "lsh_dup"

    class Params(DedupParams):
        field: DedupField = "instruction"
        threshold: float = Field(0.7, ge=0.0, lt=1.0, description="ROUGE-L F")
        exact: bool = Field(True, description="confirm pairs with exact ROUGE-L")
        jaccard: float | None = Field(None, gt=0.0, le=1.0,
                                         description="without exact (default T/(2-T))")
        bands: int = Field(32, ge=1, le=1024)
        rows: int = Field(4, ge=1, le=1024)
        tokenizer: Tokenizer = "auto"

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        tlang = None if lang == "any" else lang
        self.lsh = lsh.LSHParams(bands=params.bands, rows=params.rows,
                                 tokenizer=params.tokenizer, lang=tlang)
        self.tok = get_tokenizer(params.tokenizer, tlang)
        self.jaccard = (params.jaccard if params.jaccard is not None
                        else lsh.jaccard_floor(params.threshold))
        # records kept in earlier batches: tokens, signatures, keys
        self.old_tokens: list[list[str]] = []
        self.old_sigs = np.zeros((0, self.lsh.num_perm), dtype=np.uint32)
        self.old_keys: list[Hashable] = []
        self._batch: list[tuple[list[str], np.ndarray]] = []  # this batch's rows
        self._pos: dict[int, tuple[int, str]] = {}  # id(record) -> (batch row, text)
        self._nbrs: dict[int, list[tuple[int, float]]] = {}  # batch row -> earlier rows
        self._keys: dict[int, Hashable] = {}  # combined index of a kept row -> its key

    def _flush(self) -> None:
        """Rows of the last batch that were kept join the old rows."""
        base = len(self.old_keys)
        kept = sorted(i for i in self._keys if i >= base)
        if kept:
            self.old_tokens += [self._batch[i - base][0] for i in kept]
            self.old_sigs = np.vstack([self.old_sigs] +
                                      [self._batch[i - base][1][None, :] for i in kept])
            self.old_keys += [self._keys[i] for i in kept]
        self._keys = {i: k for i, k in enumerate(self.old_keys)}
        self._batch, self._pos, self._nbrs = [], {}, {}

    def prepare(self, batch: Sequence[Fields]) -> None:
        self._flush()
        texts = [(f, t) for f in batch if (t := self.text_of(f))]
        if not texts:
            return
        toks = [self.tok(t) for _, t in texts]
        sigs, ok = lsh.sign_tokens(toks, self.lsh)
        base = len(self.old_keys)
        self._batch = list(zip(toks, sigs))
        self._pos = {id(f): (i, t) for i, (f, t) in enumerate(texts)}
        all_sigs = np.vstack([self.old_sigs, sigs])
        all_ok = np.concatenate([np.ones(base, dtype=bool), ok])
        pairs = lsh.candidate_pairs(all_sigs, all_ok, self.lsh)
        pairs = pairs[pairs[:, 1] >= base]  # old-old pairs were decided before
        if self.p.exact:
            edges, scores = comp.confirm_exact(comp.encode(self.old_tokens + toks), pairs,
                                               self.p.threshold)
        else:
            edges, scores = comp.confirm_estimated(
                lsh.estimated_jaccard(all_sigs, pairs), pairs, self.jaccard)
        for (a, b), s in zip(edges.tolist(), scores.tolist()):
            self._nbrs.setdefault(b - base, []).append((a, s))

    def _row(self, f: Fields, text: str) -> int:
        hit = self._pos.get(id(f))
        if hit is None or hit[1] != text:  # a record the batch did not show: alone
            self.prepare([f])
            hit = self._pos[id(f)]
        return hit[0]

    def _find(self, f, text):
        row = self._row(f, text)
        best: tuple[float, int] | None = None
        for a, s in self._nbrs.get(row, ()):
            if a in self._keys and (best is None or s > best[0]
                                    or (s == best[0] and a < best[1])):
                best = (s, a)
        return None if best is None else (self._keys[best[1]], best[0])

    def _add(self, f, text, key):
        self._keys[len(self.old_keys) + self._row(f, text)] = key
        return True
