"""From candidate pairs to keep/drop decisions: confirm the pairs, then resolve them.

Confirming (`confirm_exact`, or `lsh.estimated_jaccard` with a threshold) keeps the
pairs that count as near-duplicates: ROUGE-L F above the threshold computed exactly on
the pair (the same tokens and the same float operations as `NoveltyIndex`), or an
estimated Jaccard similarity at or above a Jaccard threshold.

Resolving the confirmed pairs (edges) into decisions, keeping the earliest row:

- ``greedy`` (default): rows in input order; a row is dropped iff it has an edge to an
  earlier row that was kept. On the same edges this is exactly what greedy ROUGE-L
  dedup decides, so with exact confirmation the only difference from `tane dedup`'s
  default comes from pairs LSH did not propose (recall < 1).
- ``component``: connected components of the edges (`UnionFind`); each component keeps
  its earliest row and drops the rest. Components chain: if B is like A and C like B
  but C not like A, greedy drops B and keeps C (C is compared only with kept rows),
  while ``component`` drops both B and C. It therefore drops at least as much as
  greedy on the same edges, and every component is decided independently, which is
  what lets each component go to a different worker.

Both walk one component at a time in effect: no decision depends on another component.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

RESOLVE = ("greedy", "component")


class UnionFind:
    """Disjoint sets over 0..n-1; the root of a set is its smallest member (the earliest
    row), found with path halving."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        lo, hi = (ra, rb) if ra < rb else (rb, ra)
        self.parent[hi] = lo
        return lo

    def roots(self) -> np.ndarray:
        return np.fromiter((self.find(i) for i in range(len(self.parent))),
                           dtype=np.int64, count=len(self.parent))


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """The root (smallest member) of each row's connected component, shape (n,)."""
    uf = UnionFind(n)
    for a, b in np.asarray(edges, dtype=np.int64).reshape(-1, 2).tolist():
        uf.union(a, b)
    return uf.roots()


def groups(roots: np.ndarray) -> list[list[int]]:
    """Components of more than one row, each in row order, ordered by first row."""
    order = np.argsort(roots, kind="stable")
    r = roots[order]
    cuts = np.flatnonzero(np.diff(r)) + 1
    return [g.tolist() for g in np.split(order, cuts) if len(g) > 1]


@dataclass
class Decisions:
    """keep[i]; for a dropped row: the kept row it is a duplicate of (`similar_to`, -1
    for a kept row) and the similarity of that pair (`score`; for ``component`` drops
    whose pair with the kept row was not scored, NaN), `via`: the row it is linked
    through (its own edge)."""

    keep: np.ndarray
    similar_to: np.ndarray
    score: np.ndarray
    via: np.ndarray

    @property
    def dropped(self) -> int:
        return int((~self.keep).sum())


def resolve(n: int, edges: np.ndarray, scores: np.ndarray, how: str = "greedy",
            order: Sequence[int] | None = None) -> Decisions:
    """Decisions for `n` rows from confirmed `edges` (pairs of rows) with `scores`.

    order: the positions in the order they are decided (default 0..n-1, i.e. the earliest
    row wins; `keep best` passes the ranking). Greedy ties (equal scores) pick the kept
    row that comes first in that order, as `NoveltyIndex` does."""
    if how not in RESOLVE:
        raise ValueError(f"how must be one of {RESOLVE}, got {how!r}")
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64)
    rank = np.arange(n, dtype=np.int64)
    if order is not None:
        rank[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    similar_to = np.full(n, -1, dtype=np.int64)
    via = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan)
    if not len(edges):
        return Decisions(keep, similar_to, score, via)
    # orient each edge from the row decided first (a) to the one decided later (b)
    first = rank[edges[:, 0]] <= rank[edges[:, 1]]
    a = np.where(first, edges[:, 0], edges[:, 1])
    b = np.where(first, edges[:, 1], edges[:, 0])
    if how == "component":
        # rows joined by edges; the component's earliest row (in `order`) is kept
        root_rank = components(n, np.stack([rank[a], rank[b]], axis=1))
        by_rank = np.argsort(rank)  # rank -> row
        member = root_rank[rank] != rank  # not its component's first row
        keep[member] = False
        similar_to[member] = by_rank[root_rank[rank[member]]]
        # the best-scored edge of each dropped row to an earlier row, as `via`
        srt = np.lexsort((rank[a], -scores, rank[b]))
        seen = np.zeros(n, dtype=bool)
        for k in srt.tolist():
            row = int(b[k])
            if not seen[row]:
                seen[row] = True
                via[row] = a[k]
                if a[k] == similar_to[row]:
                    score[row] = scores[k]
        return Decisions(keep, similar_to, score, via)
    # greedy: by the later row's rank; among its edges the best score, then earliest
    srt = np.lexsort((rank[a], -scores, rank[b]))
    a_s, b_s, sc = a[srt].tolist(), b[srt].tolist(), scores[srt].tolist()
    for x, y, s in zip(a_s, b_s, sc):
        if keep[y] and keep[x]:
            keep[y] = False
            similar_to[y] = via[y] = x
            score[y] = s
    return Decisions(keep, similar_to, score, via)


def encode(token_lists: Sequence[Sequence[str]]) -> list[str]:
    """Each distinct token one code point (as `NoveltyIndex` does), for rapidfuzz."""
    vocab: dict[str, str] = {}
    out = []
    for toks in token_lists:
        codes = []
        for t in toks:
            c = vocab.get(t)
            if c is None:
                k = len(vocab)
                c = vocab[t] = chr(k if k < 0xD800 else k + 0x800)
            codes.append(c)
        out.append("".join(codes))
    return out


def rouge_f_pairs(encoded: Sequence[str], pairs: np.ndarray, chunk: int = 1_000_000
                  ) -> np.ndarray:
    """ROUGE-L F of each pair of encoded texts: integer LCS from rapidfuzz, then F with
    rouge_score's float operations (`tane.curate.rouge._fmeasure`)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.zeros(len(pairs), dtype=np.float64)
    for c in range(0, len(pairs), chunk):
        p = pairs[c:c + chunk]
        qa = [encoded[i] for i in p[:, 0].tolist()]
        qb = [encoded[j] for j in p[:, 1].tolist()]
        lcs = process.cpdist(qa, qb, scorer=LCSseq.similarity, dtype=np.int32,
                             workers=1).astype(np.float64)
        la = np.fromiter(map(len, qa), dtype=np.float64, count=len(qa))
        lb = np.fromiter(map(len, qb), dtype=np.float64, count=len(qb))
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = lcs / lb
            recall = lcs / la
            total = precision + recall
            f = 2 * precision * recall / total
        out[c:c + chunk] = np.where((total > 0) & (la > 0) & (lb > 0), f, 0.0)
    return out


def confirm_exact(encoded: Sequence[str], pairs: np.ndarray, threshold: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(edges, F) of the pairs whose ROUGE-L F is above `threshold` (strictly, as
    greedy dedup drops)."""
    f = rouge_f_pairs(encoded, pairs)
    sel = f > threshold
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)[sel], f[sel]


def confirm_estimated(estimates: np.ndarray, pairs: np.ndarray, jaccard: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(edges, estimate) of the pairs whose estimated Jaccard is at least `jaccard`."""
    sel = np.asarray(estimates) >= jaccard
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)[sel], np.asarray(estimates)[sel]


Confirm = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
