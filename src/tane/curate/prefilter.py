"""Exact candidate prefilter for greedy ROUGE-L near-duplicate search (prefix filtering).

Why it is exact. ROUGE-L F = 2·LCS/(la+lb) (rouge_score's 2PR/(P+R) is the same number up
to a few ulps). `NoveltyIndex` only needs the pairs whose F reaches its cutoff ``cut``
(``min(report_floor, threshold) - 1e-6``, below every F it must see by far more than
float rounding). Such a pair has ``LCS > cut·(la+lb)/2``, so, LCS being an integer,
``LCS >= floor(cut·(la+lb)/2) + 1``. The LCS is a common sub-multiset of both token
lists, so the multiset intersection has at least that many elements.

Multisets become sets by numbering repeats: the i-th occurrence of token t is the element
(t, i); multiset intersection size = set intersection size. Fix one total order on
elements (here: the token's code point in the index, higher first, which puts the rare
tokens first because the index gives frequent tokens the low code points; then the
occurrence number, higher first). Prefix-filter principle: if |A ∩ B| >= k, then the
first |A|-k+1 elements of A and the first |B|-k+1 elements of B (in that order) share an
element (otherwise at least k of the common elements would have to sit in A's last k-1
places). The required k for a pair is at least ``kmin(l) = floor(cut·(l + lo(l))/2) + 1``
for either side's length l, where ``lo(l)`` is the shortest partner length that can reach
the cutoff at all (the index's length prefilter), because the requirement grows with the
partner's length. So indexing every text under its first ``l - kmin(l) + 1`` elements and
probing with the query's first ``l - kmin(l) + 1`` elements finds every pair that can
reach the cutoff. Positional filter (as in PPJoin): postings also store the element's
position in the indexed text; if a candidate shares c prefix elements with the query and
the last of them sits at positions i (query) and j (indexed), every common element
earlier in the order was among those c (it lies in both prefixes), so the overlap is at
most ``c + min(la-i-1, lb-j-1)``; candidates whose bound is below ``min_overlap`` are
dropped without scoring. The remaining candidates are scored exactly (rapidfuzz Indel -> integer LCS
-> rouge_score's float formula), so keep/drop decisions equal brute force bit for bit.

With ``cut <= 0`` (``report_floor=0``) every pair counts and there is nothing to filter.
"""

from __future__ import annotations

from array import array
from typing import Callable

import numpy as np

_OCC = 1 << 32  # element = code point * _OCC + occurrence number (Python ints: no overflow)
_JBITS = 24    # posting = id << _JBITS | position of the element in the indexed text
_JMAX = (1 << _JBITS) - 1


def elements(enc: str) -> list[int]:
    """The multiset of an encoded token string as distinct ints, in the global order
    (rarest first: higher code point first, then higher occurrence number)."""
    seen: dict[str, int] = {}
    out = []
    for ch in enc:
        i = seen.get(ch, 0)
        seen[ch] = i + 1
        out.append(ord(ch) * _OCC + i)
    out.sort(reverse=True)
    return out


class PrefixFilter:
    """Inverted index over prefix elements (see module doc).

    cut: the score cutoff (> 0); len_range: ``la -> (lo, hi)``, the partner lengths that
    can reach the cutoff (NoveltyIndex.len_range). Ids are int32 (< 2**31 texts).
    """

    def __init__(self, cut: float, len_range: Callable[[int], tuple[int, float]]):
        if not cut > 0:
            raise ValueError("PrefixFilter needs a cutoff above 0")
        self.cut = cut
        self._len_range = len_range
        self._post: dict[int, array] = {}
        self._plen: dict[int, int] = {}
        self.n_postings = 0

    def min_overlap(self, la: int, lb: int) -> int:
        """Fewest common multiset elements a pair of lengths (la, lb) needs to reach the
        cutoff: LCS > cut*(la+lb)/2."""
        return int(self.cut * (la + lb) / 2) + 1  # floor for positives, + 1: strict

    def prefix_len(self, n: int) -> int:
        p = self._plen.get(n)
        if p is None:
            lo = int(self._len_range(n)[0])
            # floating slack: never let rounding in cut*(n+lo)/2 shorten the prefix
            k = int(self.cut * (n + lo) / 2 * (1 - 1e-12)) + 1
            p = self._plen[n] = max(1, min(n, n - k + 1))
        return p

    def add(self, gid: int, enc: str) -> None:
        post = self._post
        els = elements(enc)
        p = self.prefix_len(len(enc))
        for j, e in enumerate(els[:p]):
            arr = post.get(e)
            if arr is None:
                arr = post[e] = array("q")
            # a capped position only loosens the positional bound (still exact)
            arr.append((gid << _JBITS) | min(j, _JMAX))
        self.n_postings += p

    def candidates(self, enc: str, lens: np.ndarray) -> np.ndarray:
        """Sorted unique ids of indexed texts that can reach the cutoff against `enc`:
        they share a prefix element, have a feasible length (``lens``: id -> length),
        and pass the positional bound: with c shared prefix elements, the last one at
        position i in the query and j in the indexed text (0-based, in the global
        order), every common element before it was seen, so the multiset overlap is at
        most ``c + min(la-i-1, lb-j-1)``, which must reach `min_overlap`."""
        post = self._post
        els = elements(enc)
        la = len(enc)
        arrs, pos, sizes = [], [], []
        for i, e in enumerate(els[:self.prefix_len(la)]):
            arr = post.get(e)
            if arr is not None:
                arrs.append(arr)
                pos.append(i)
                sizes.append(len(arr))
        if not arrs:
            return np.zeros(0, dtype=np.int64)
        # np.array copies: no buffer view outlives this call, so the arrays can grow
        packed = np.concatenate([np.array(a, dtype=np.int64) for a in arrs])
        del arrs
        qpos = np.repeat(np.asarray(pos, dtype=np.int64), sizes)
        gid = packed >> _JBITS
        lo, hi = self._len_range(la)
        lb = lens[gid]
        ok = (lb >= lo) & (lb <= hi)
        if not ok.all():
            gid, packed, qpos, lb = gid[ok], packed[ok], qpos[ok], lb[ok]
        if not len(gid):
            return gid
        order = np.argsort(gid, kind="stable")  # stable: query positions ascending
        gs = gid[order]
        first = np.flatnonzero(np.concatenate(([True], gs[1:] != gs[:-1])))
        last_sorted = np.concatenate((first[1:], [len(gs)])) - 1
        count = last_sorted - first + 1
        last = order[last_sorted]
        ids = gs[first]
        lbu = lb[last]
        bound = count + np.minimum(la - qpos[last] - 1, lbu - (packed[last] & _JMAX) - 1)
        need = np.floor(self.cut * (la + lbu) / 2 * (1 - 1e-12)).astype(np.int64) + 1
        return ids[bound >= need]
