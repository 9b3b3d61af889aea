"""Exact ROUGE-L candidate pairs for a whole batch at once (a vectorised similarity join).

Greedy near-duplicate removal is order-dependent, but the set of *pairs* whose F reaches
the cutoff is not: `NoveltyIndex` (method ``join``) finds every such pair among a batch
(and between the batch and what is already indexed) with this module, scores them
exactly, and then walks the batch in order, keeping a text iff none of its pairs with an
earlier *kept* text scores above the threshold. Decisions equal brute force because no
pair that can reach the cutoff is ever skipped:

- Bound. ROUGE-L F = 2·LCS/(la+lb) (rouge_score's 2PR/(P+R) is the same number up to a
  few ulps, and ``cut`` sits 1e-6 below every F that matters), so a pair reaching the
  cutoff has ``LCS >= need(la, lb) = floor(cut·(la+lb)/2) + 1``. The LCS is a common
  sub-multiset of both token lists, so the multiset intersection is at least as large.
- Multisets as sets: the i-th occurrence of token t is the element (t, i). Elements are
  ordered globally by how many texts of the batch hold them, rarest first.
- Length order. Texts are ranked by (length, position). A pair is found once, from its
  later-ranked (longer or equal) side x probing the earlier-ranked side y, and only y
  with ``len(y) >= lo(len(x))`` (the shortest partner length that can reach the cutoff).
- Prefix filter. If |A ∩ B| >= k, the first |A|-k+1 elements of A and the first |B|-k+1
  elements of B share one. For y every partner is at least as long, so k >= need(ly, ly)
  and y is indexed under its first ``ly - need(ly, ly) + 1`` elements (about 30 % at
  0.7); x probes with its first ``lx - need(lx, lo(lx)) + 1`` (about 46 %). Longer
  prefixes than the pair's own k only add candidates.
- Positional filter (PPJoin). With c shared prefix elements, the last at position i in
  x and j in y, every common element earlier in the order lies in both prefixes (so it
  was counted), hence the overlap is at most ``c + min(lx-i-1, ly-j-1)``; pairs whose
  bound is below ``need(lx, ly)`` are dropped.

Candidate generation runs on numpy arrays (no Python loop per text or per pair); the
surviving pairs are scored by rapidfuzz (``LCSseq.similarity``: the integer LCS) in C++,
element-wise over chunks of pairs (``process.cpdist``, all cores).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

SLACK = 1 - 1e-12           # never let rounding in cut*(la+lb)/2 raise the bound
_MAX_CANDIDATES = 6_000_000   # candidate (x, y) rows expanded per block


def need(cut: float, la, lb):
    """Fewest common elements a pair of lengths can have and still reach ``cut``
    (numpy-vectorised; a lower bound by at most one near exact integers)."""
    return np.floor(cut * (np.asarray(la) + np.asarray(lb)) / 2 * SLACK).astype(np.int64) + 1


def _tokens(encs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated code points (one per token) and per-text lengths."""
    lens = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
    codes = np.frombuffer("".join(encs).encode("utf-32-le"), dtype=np.uint32)
    return codes, lens


def _ordered_elements(codes: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text, its elements (token, occurrence) as dense ids ranked rarest first
    (ties by id), sorted ascending; returns (rank per token slot, position in text)."""
    n = len(lens)
    item = np.repeat(np.arange(n, dtype=np.int64), lens)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1])) if n else np.zeros(0, np.int64)
    # occurrence numbers: group equal tokens inside a text
    order = np.argsort((item << 21) | codes.astype(np.int64))
    sc = codes[order].astype(np.int64)
    si = item[order]
    brk = np.ones(len(sc), dtype=bool)
    brk[1:] = (sc[1:] != sc[:-1]) | (si[1:] != si[:-1])
    run_start = np.maximum.accumulate(np.where(brk, np.arange(len(sc)), 0))
    occ = np.arange(len(sc)) - run_start
    del brk, run_start
    # dense element id = offset[code] + occurrence
    vmax = int(sc.max()) + 1 if len(sc) else 1
    maxocc = np.zeros(vmax, dtype=np.int64)
    np.maximum.at(maxocc, sc, occ)
    offset = np.concatenate(([0], np.cumsum(maxocc + 1)[:-1]))
    dense = offset[sc] + occ
    del sc, occ, maxocc, offset
    freq = np.bincount(dense)  # each element occurs at most once per text
    erank = np.empty(len(freq), dtype=np.int64)
    erank[np.argsort(freq, kind="stable")] = np.arange(len(freq))
    rank = erank[dense]
    del dense, erank, freq
    # sort each text's elements by rank
    order2 = np.argsort((si << 32) | rank)
    rank = rank[order2]
    pos = np.arange(len(rank)) - starts[si[order2]]
    return rank, pos


class Layout(NamedTuple):
    """What both joins need of a batch: tokens, elements in prefix order, texts ranked by
    (length, index), and per text its prefix lengths and shortest partner's rank."""
    codes: np.ndarray      # concatenated token codes
    lens: np.ndarray       # tokens per text
    rank: np.ndarray       # per token slot: element id, rarest first, sorted per text
    pos: np.ndarray        # per token slot: position in the text's element order
    item: np.ndarray       # per token slot: its text
    by_len: np.ndarray     # text of each rank
    r_of: np.ndarray       # rank of each text
    sorted_lens: np.ndarray  # lens[by_len]
    p_probe: np.ndarray    # per text: elements it probes with
    p_index: np.ndarray    # per text: elements it is indexed under
    lo_rank: np.ndarray    # per text: first rank long enough to reach the cutoff with it
    max_len: int


def layout(encs: list[str], cut: float,
           len_range: Callable[[int], tuple[int, float]]) -> Layout:
    """The `Layout` of non-empty `encs` (ValueError for an empty one)."""
    n = len(encs)
    codes, lens = _tokens(encs)
    if (lens == 0).any():
        raise ValueError("the similarity join needs non-empty texts")
    rank, pos = _ordered_elements(codes, lens)
    item = np.repeat(np.arange(n, dtype=np.int64), lens)
    by_len = np.lexsort((np.arange(n), lens))
    r_of = np.empty(n, dtype=np.int64)
    r_of[by_len] = np.arange(n)
    sorted_lens = lens[by_len]
    ulens = np.unique(lens)
    lo_u = np.fromiter((int(len_range(int(l))[0]) for l in ulens), np.int64, len(ulens))
    li = np.searchsorted(ulens, lens)
    p_probe = np.clip(ulens - need(cut, ulens, lo_u) + 1, 1, ulens)[li]
    p_index = np.clip(ulens - need(cut, ulens, ulens) + 1, 1, ulens)[li]
    lo_rank = np.searchsorted(sorted_lens, lo_u[li], side="left").astype(np.int64)
    return Layout(codes, lens, rank, pos, item, by_len, r_of, sorted_lens, p_probe,
                  p_index, lo_rank, int(ulens[-1]))


class TooCostly(Exception):
    """The join would expand more candidate rows than the caller's budget."""


def candidate_pairs(encs: list[str], cut: float,
                    len_range: Callable[[int], tuple[int, float]],
                    n_old: int = 0, new_vs_new: bool = True,
                    max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All of `candidate_blocks` at once (sorted by (u, v))."""
    blocks = list(candidate_blocks(encs, cut, len_range, n_old, new_vs_new, max_rows))
    if not blocks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u = np.concatenate([b[0] for b in blocks])
    v = np.concatenate([b[1] for b in blocks])
    order = np.lexsort((v, u))
    return u[order], v[order]


def candidate_blocks(encs: list[str], cut: float,
                     len_range: Callable[[int], tuple[int, float]],
                     n_old: int = 0, new_vs_new: bool = True,
                     max_rows: int | None = None
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs (u, v), u < v, of non-empty `encs` that may reach ``cut`` (> 0), in
    blocks (each pair once; memory stays bounded by the block size).

    The first `n_old` texts are "old": pairs of two old texts are not produced; with
    ``new_vs_new=False`` only old-new pairs are. `len_range(l)` gives (lo, hi), the
    partner lengths that can reach the cutoff (NoveltyIndex.len_range). Raises
    `TooCostly` before the expensive part when the candidate rows (one per shared
    prefix element and pair, the main cost) would exceed `max_rows`."""
    if not cut > 0:
        raise ValueError("candidate_pairs needs a cutoff above 0")
    n = len(encs)
    if n < 2:
        return
    lay = layout(encs, cut, len_range)
    lens, rank, pos, item = lay.lens, lay.rank, lay.pos, lay.item
    by_len, r_of, sorted_lens = lay.by_len, lay.r_of, lay.sorted_lens
    lo_rank_of_text = lay.lo_rank
    is_old = item < n_old
    in_index = pos < lay.p_index[item]
    in_probe = pos < lay.p_probe[item]
    del lay

    n_ranks = n + 1

    def longest_partner(lx: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Largest ly with need(lx, ly) <= m (need is nondecreasing in ly)."""
        ly = np.ceil(2 * m / (cut * SLACK) - lx).astype(np.int64)
        for _ in range(4):  # fix float rounding either way
            up = need(cut, lx, ly + 1) <= m
            ly = ly + up
        for _ in range(4):
            down = need(cut, lx, ly) > m
            ly = ly - down
        assert not (need(cut, lx, ly + 1) <= m).any() and not (need(cut, lx, ly) > m).any()
        return ly
    rows = [0]

    def join(probe_sel: np.ndarray, index_sel: np.ndarray
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if not probe_sel.any() or not index_sel.any():
            return
        # index postings sorted by (element, text rank)
        ikey = rank[index_sel] * n_ranks + r_of[item[index_sel]]
        ipos = pos[index_sel]
        o = np.argsort(ikey)
        ikey, ipos = ikey[o], ipos[o]
        # probe postings sorted by (text rank, position)
        px = item[probe_sel]
        pr = r_of[px]
        pe = rank[probe_sel]
        pp = pos[probe_sel]
        o = np.lexsort((pp, pr))
        px, pr, pe, pp = px[o], pr[o], pe[o], pp[o]
        # position i of x lies in x's prefix for a partner y iff need(lx, ly) <= lx - i:
        # only partners up to the longest such ly (need grows with ly)
        lx = lens[px]
        hi_rank = np.searchsorted(sorted_lens, longest_partner(lx, lx - pp), side="right")
        start = np.searchsorted(ikey, pe * n_ranks + lo_rank_of_text[px], side="left")
        stop = np.searchsorted(ikey, pe * n_ranks + np.minimum(pr, hi_rank), side="left")
        cnt = np.maximum(stop - start, 0)
        rows[0] += int(cnt.sum())
        if max_rows is not None and rows[0] > max_rows:
            raise TooCostly(rows[0])
        # blocks of whole probe texts, about _MAX_CANDIDATES rows each
        csum = np.cumsum(cnt)
        ends = np.flatnonzero(np.concatenate((pr[1:] != pr[:-1], [True]))) + 1
        b0 = 0
        while b0 < len(pr):
            base = int(csum[b0 - 1]) if b0 else 0
            fit = int(np.searchsorted(csum, base + _MAX_CANDIDATES, side="right"))
            k = int(np.searchsorted(ends, fit, side="right")) - 1
            if k < 0 or ends[k] <= b0:  # one text alone exceeds the budget
                k = int(np.searchsorted(ends, b0, side="right"))
            b1 = int(ends[k])
            if csum[b1 - 1] > base:
                yield _expand(px[b0:b1], pp[b0:b1], start[b0:b1], cnt[b0:b1], ikey, ipos)
            b0 = b1

    def _expand(px, pp, start, cnt, ikey, ipos) -> tuple[np.ndarray, np.ndarray]:
        tot = int(cnt.sum())
        row = np.repeat(np.arange(len(cnt)), cnt)
        first = np.concatenate(([0], np.cumsum(cnt)[:-1]))
        idx = start[row] + (np.arange(tot) - first[row])
        y_rank = ikey[idx] % n_ranks
        x = px[row]
        qi = pp[row]
        pj = ipos[idx]
        del idx, row
        key = x * n_ranks + y_rank
        o = np.argsort(key, kind="stable")  # stable: positions ascend within a pair
        key = key[o]
        brk = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        last = np.concatenate((brk[1:], [len(key)])) - 1
        c = last - brk + 1
        qi_last = qi[o[last]]
        pj_last = pj[o[last]]
        ukey = key[brk]
        xs = ukey // n_ranks
        ys = by_len[ukey % n_ranks]
        lx, ly = lens[xs], lens[ys]
        bound = c + np.minimum(lx - qi_last - 1, ly - pj_last - 1)
        k = need(cut, lx, ly)
        # the first shared element must lie in y's prefix for this very pair
        ok = (bound >= k) & (pj[o[brk]] <= ly - k)
        xs, ys = xs[ok], ys[ok]
        return np.minimum(xs, ys), np.maximum(xs, ys)

    if new_vs_new:
        yield from join(in_probe & ~is_old, in_index)  # new x against old and new y
    else:
        yield from join(in_probe & ~is_old, in_index & is_old)
    if n_old:
        yield from join(in_probe & is_old, in_index & ~is_old)  # old x, shorter new y


_PAIR_CHUNK = 1 << 20  # pairs scored per rapidfuzz call


def prefetch(blocks: Iterator[tuple[np.ndarray, np.ndarray]]
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Make the next candidate block on a second thread while the caller scores this one
    (numpy and rapidfuzz release the GIL for most of their work). Errors of the producer
    (`TooCostly`) come out of this iterator; stopping early stops the producer."""
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        """Hand one item over; False once the consumer has stopped."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put(block):
                    return
            item: object = done
        except BaseException as e:  # handed to the consumer, raised there
            item = e
        put(item)

    t = threading.Thread(target=produce, name="tane-simjoin", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join()


def _grouped_lcs(strs: list[str], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Integer LCS of each pair (strs[u[i]], strs[v[i]]): rapidfuzz's element-wise
    ``cpdist`` in C++ on all cores, a chunk of pairs per call (one Python call per text
    cost more than the scoring itself)."""
    out = np.zeros(len(u), dtype=np.int64)
    if not len(u):
        return out
    arr = np.empty(len(strs), dtype=object)
    arr[:] = strs
    for a in range(0, len(u), _PAIR_CHUNK):
        uu, vv = u[a:a + _PAIR_CHUNK], v[a:a + _PAIR_CHUNK]
        out[a:a + len(uu)] = process.cpdist(arr[vv].tolist(), arr[uu].tolist(),
                                            scorer=LCSseq.similarity, dtype=np.int32,
                                            workers=-1)
    return out


def pair_lcs(encs: list[str], u: np.ndarray, v: np.ndarray, cut: float,
             folded: list[str] | None = None, lens: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs sorted by (v, u) and the integer LCS of each (encs[u], encs[v]), exact
    wherever the pair can reach ``cut`` (elsewhere it may be any value below need()).

    rapidfuzz's cpdist over chunks of pairs. With `folded` (the same texts
    with their codes mapped below 256, which rapidfuzz compares several times faster)
    the folded LCS, an upper bound, is computed first and only pairs whose bound
    reaches need() are scored again on the real codes. `lens`: len of each text."""
    order = np.lexsort((u, v))
    u, v = u[order], v[order]
    lcs = _grouped_lcs(encs if folded is None else folded, u, v)
    if folded is not None and len(u):
        if lens is None:
            lens = np.fromiter((len(e) for e in encs), np.int64, len(encs))
        again = np.flatnonzero(lcs >= need(cut, lens[u], lens[v]))
        if len(again):
            lcs[again] = _grouped_lcs(encs, u[again], v[again])
    return u, v, lcs
