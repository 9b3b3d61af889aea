"""The exact ROUGE-L similarity join compiled with numba (extra ``dedup``).

Same pairs and the same proof as `tane.curate.simjoin` (read its docstring first): texts
ranked by (length, position), multiset elements ordered rarest first, each text indexed
under its first ``ly - need(ly, ly) + 1`` elements and probing with its first
``lx - need(lx, lo(lx)) + 1``. What differs is how the work is done. Instead of
expanding every (probe element, posting) row into numpy arrays, one compiled loop per
probe text x walks the posting lists of its prefix and keeps a running count of shared
elements per partner y (PPJoin's accumulator). Each posting is one row of three 64-bit
words (y's rank and length, then y's 128-bit signature), so the hot loop reads one
sequential stream, and three checks need no other memory:

- signature: every element sets one of 128 bits (a hash of the element); a bit set for
  x but not for y stands for at least one element of x that y lacks, and distinct bits
  for distinct elements, so ``popcount(sx & ~sy) <= lx - need(lx, ly)`` and the same
  the other way round, else the pair cannot reach the cutoff (a pair-level bound that
  removes most of the candidates the prefix filter lets through on templated text);
- the first hit of y is the rarest element the pair shares; the prefix principle needs it
  within y's prefix for this very pair (``j <= ly - need(lx, ly)``), else y is dropped;
- positional bound: with ``c`` elements counted before this one (all the earlier shared
  elements lie in both prefixes, so ``c`` is exact), the overlap is at most
  ``c + 1 + min(lx - i - 1, ly - j - 1)``; below ``need(lx, ly)`` y is dropped for good.

Surviving partners are scored in the same loop with a bit-parallel LCS (x's token
positions as bit masks, one 64-bit word per 64 tokens), so no candidate pair is ever
materialised. Probe texts are split into chunks that run on all cores (the kernels
release the GIL). Output: pairs (u < v) with their integer LCS, for every pair whose
LCS reaches ``need`` (the caller computes F and applies the cutoff). The kernels are
compiled on first use (about 6.5 s on 2 cores) and cached beside this file (0.3 s after).

Measured on bench/dedup.py's Japanese data (100k texts, morphemes, 2 cores): both joins
visit 157M posting entries; the numpy join scores 49.6M candidate pairs (about 33 s
wall), here the signature check drops 123M of the entries, 7.9M pairs are scored (3.5M
reach the cutoff) and the join takes about 3 s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:  # optional: without numba, NoveltyIndex uses the numpy join in simjoin
    import numba
    from numba import njit, types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised where the extra is missing
    numba = None

from tane.curate.simjoin import SLACK, TooCostly, layout

_CHUNK = 2048  # probe texts per kernel call


def available() -> bool:
    return numba is not None


if numba is not None:
    @njit(cache=True, nogil=True, inline="always")
    def _need(cut, la, lb):
        return np.int64(np.floor(cut * (la + lb) / 2 * SLACK)) + 1

    @njit(cache=True, nogil=True)
    def _longest_partner(cut, lx, m):
        """Largest ly with need(lx, ly) <= m (need grows with ly)."""
        ly = np.int64(np.ceil(2 * m / (cut * SLACK) - lx))
        while _need(cut, lx, ly + 1) <= m:
            ly += 1
        while ly > 0 and _need(cut, lx, ly) > m:
            ly -= 1
        return ly

    @intrinsic
    def _ctpop(typingctx, w):
        """LLVM's population count (one instruction where the CPU has it)."""
        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])
        return types.uint64(types.uint64), codegen

    @njit(cache=True, nogil=True, inline="always")
    def _popc(w):
        return np.int64(_ctpop(w))

    @njit(cache=True, nogil=True)
    def _lcs(masks, slot_of, toks, y0, ly, lx, nw, vbuf):
        """LCS of x and the text at toks[y0:y0 + ly], bit-parallel: row
        ``slot_of[token]`` of `masks` has x's positions of that token (-1: none), nw
        64-bit words per row. Each token of y updates V to (V + U) | (V & ~M) with
        U = V & M; the LCS is the number of zero bits of V within x's length."""
        if nw == 1:
            v1 = ~np.uint64(0)
            for k in range(ly):
                s = slot_of[toks[y0 + k]]
                if s >= 0:
                    u1 = v1 & masks[s, 0]
                    v1 = (v1 + u1) | (v1 - u1)
            vbuf[0] = v1
        else:
            for w in range(nw):
                vbuf[w] = ~np.uint64(0)
            for k in range(ly):
                s = slot_of[toks[y0 + k]]
                if s < 0:
                    continue
                carry = np.uint64(0)
                for w in range(nw):  # multi-word add with carry
                    v = vbuf[w]
                    u = v & masks[s, w]
                    t = v + carry
                    c1 = np.uint64(1) if t < carry else np.uint64(0)
                    r = t + u
                    c2 = np.uint64(1) if r < t else np.uint64(0)
                    carry = c1 | c2
                    vbuf[w] = r | (v & ~masks[s, w])
        total = 0
        for w in range(nw):
            bits = ~vbuf[w]
            if w == nw - 1 and lx - 64 * w < 64:
                bits &= (np.uint64(1) << np.uint64(lx - 64 * w)) - np.uint64(1)
            total += _popc(bits)
        return total

    @njit(cache=True, nogil=True)
    def _scatter(u, v, lcs, fill, gu, gl):
        for i in range(len(v)):
            p = fill[v[i]]
            gu[p] = u[i]
            gl[p] = lcs[i]
            fill[v[i]] = p + 1

    @njit(cache=True, nogil=True)
    def _grow(a, cap):
        b = np.empty(cap, dtype=a.dtype)
        b[:len(a)] = a
        return b

    @njit(cache=True, nogil=True, inline="always")
    def _slot(cut, x, rx, lx, i, tstart, erank, lo_rank, rank_end, post_start, post_r):
        """Where the i-th prefix element of x (rank rx, length lx) probes: postings
        k..b of that element, partners of rank below end_r (shorter or equal texts
        long enough for the cutoff, and short enough for position i to count)."""
        e = erank[tstart[x] + i]  # a text's elements start where its tokens do
        hi_len = _longest_partner(cut, lx, lx - i)
        end_r = min(rx, rank_end[min(hi_len, len(rank_end) - 1)])
        a = post_start[e]
        b = post_start[e + 1]
        return a + np.searchsorted(post_r[a:b], lo_rank[x]), b, end_r

    @njit(cache=True, nogil=True)
    def _count_rows(cut, r0, r1, by_len, lens, tstart, erank, p_probe, lo_rank,
                    rank_end, post_start, post_r):
        """Posting entries the probes of ranks r0..r1 would visit (the cost estimate)."""
        total = 0
        for rx in range(r0, r1):
            x = by_len[rx]
            for i in range(p_probe[x]):
                k, b, end_r = _slot(cut, x, rx, lens[x], i, tstart, erank, lo_rank,
                                    rank_end, post_start, post_r)
                total += np.searchsorted(post_r[k:b], end_r)
        return total

    @njit(cache=True, nogil=True)
    def _probe(cut, r0, r1, by_len, lens, tstart, erank, p_probe, lo_rank, rank_end,
               post_start, post_r, post, post_y, post_j, sig, toks, maxlen,
               n_old, new_vs_new, max_code):
        """All pairs (x, y) with x of rank r0..r1, y of lower rank, LCS >= need."""
        n = len(lens)
        acc = np.zeros(n, dtype=np.int32)  # 0 untouched, -1 dropped, else shared count
        touched = np.empty(n, dtype=np.int64)
        slot_of = np.full(max_code + 1, -1, dtype=np.int32)
        cap = 1024
        out_u = np.empty(cap, dtype=np.int32)
        out_v = np.empty(cap, dtype=np.int32)
        out_l = np.empty(cap, dtype=np.int32)
        n_out = 0
        max_nw = (maxlen + 63) // 64
        masks = np.zeros((maxlen, max_nw), dtype=np.uint64)
        vbuf = np.empty(max_nw, dtype=np.uint64)
        # per partner length ly (for the current x): need(lx, ly), and how many elements
        # of x / of y may be missing from the other
        need_of = np.zeros(maxlen + 1, dtype=np.int64)
        spare_x = np.zeros(maxlen + 1, dtype=np.int64)
        spare_y = np.zeros(maxlen + 1, dtype=np.int64)
        for rx in range(r0, r1):
            x = by_len[rx]
            lx = lens[x]
            x_old = x < n_old
            sx0 = sig[x, 0]
            sx1 = sig[x, 1]
            n_t = 0
            for ly in range(lens[by_len[lo_rank[x]]] if lo_rank[x] < n else 0, lx + 1):
                kk = _need(cut, lx, ly)
                need_of[ly] = kk
                spare_x[ly] = lx - kk
                spare_y[ly] = ly - kk
            for i in range(p_probe[x]):
                k, b, end_r = _slot(cut, x, rx, lx, i, tstart, erank, lo_rank, rank_end,
                                    post_start, post_r)
                end_key = np.uint64(end_r) << np.uint64(32)
                while k < b:
                    head = post[k, 0]  # rank << 32 | length
                    if head >= end_key:
                        break
                    kp = k
                    k += 1
                    ly = np.int64(head & np.uint64(0xFFFFFFFF))
                    # signature: bits of x missing in y are distinct elements of x
                    # missing in y (and the other way round)
                    sy0 = post[kp, 1]
                    sy1 = post[kp, 2]
                    if _popc(sx0 & ~sy0) + _popc(sx1 & ~sy1) > spare_x[ly]:
                        continue
                    if _popc(sy0 & ~sx0) + _popc(sy1 & ~sx1) > spare_y[ly]:
                        continue
                    y = post_y[kp]
                    y_old = y < n_old
                    if x_old and y_old:
                        continue
                    if not new_vs_new and not x_old and not y_old:
                        continue
                    c = acc[y]
                    if c < 0:
                        continue
                    kk = need_of[ly]
                    j = post_j[kp]
                    if c == 0:
                        touched[n_t] = y
                        n_t += 1
                        if j > ly - kk:
                            acc[y] = -1
                            continue
                    if c + 1 + min(lx - i - 1, ly - j - 1) < kk:
                        acc[y] = -1
                    else:
                        acc[y] = c + 1
            if n_t == 0:
                continue
            # x's token positions as bit masks: one row per distinct token
            nw = (lx + 63) // 64
            n_slots = 0
            s0 = tstart[x]
            for p in range(lx):
                tok = toks[s0 + p]
                s = slot_of[tok]
                if s < 0:
                    s = n_slots
                    n_slots += 1
                    slot_of[tok] = s
                    for w in range(nw):
                        masks[s, w] = 0
                masks[s, p // 64] |= np.uint64(1) << np.uint64(p % 64)
            for q in range(n_t):
                y = touched[q]
                if acc[y] > 0:
                    ly = lens[y]
                    lcs = _lcs(masks, slot_of, toks, tstart[y], ly, lx, nw, vbuf)
                    if lcs >= need_of[ly]:
                        if n_out == cap:
                            cap *= 2
                            out_u = _grow(out_u, cap)
                            out_v = _grow(out_v, cap)
                            out_l = _grow(out_l, cap)
                        out_u[n_out] = min(x, y)
                        out_v[n_out] = max(x, y)
                        out_l[n_out] = lcs
                        n_out += 1
                acc[y] = 0
            for p in range(lx):
                slot_of[toks[s0 + p]] = -1
        return out_u[:n_out], out_v[:n_out], out_l[:n_out]


def group_by_v(blocks: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collect pair blocks (u, v, lcs) into CSR form by v: pairs of text v are
    ``u[off[v]:off[v + 1]]`` with their LCS (order within a text unspecified). Pairs are
    held as int32 texts and uint16 LCS (int32 past 65,535 tokens) while they are
    collected: 10 bytes each."""
    kept = [(u.astype(np.int32, copy=False), v.astype(np.int32, copy=False),
             lcs.astype(np.uint16 if len(lcs) and lcs.max() < 65536 else np.int32,
                        copy=False))
            for u, v, lcs in blocks]
    counts = np.zeros(n, dtype=np.int64)
    for _, v, _ in kept:
        counts += np.bincount(v, minlength=n)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    gu = np.empty(int(off[-1]), dtype=np.int32)
    wide = any(lcs.dtype == np.int32 for _, _, lcs in kept)
    gl = np.empty(int(off[-1]), dtype=np.int32 if wide else np.uint16)
    fill = off[:-1].copy()
    while kept:
        u, v, lcs = kept.pop()
        _scatter(u, v, lcs, fill, gu, gl)
    return off, gu, gl


def pair_blocks(encs: list[str], cut: float,
                len_range: Callable[[int], tuple[int, float]],
                n_old: int = 0, new_vs_new: bool = True,
                max_rows: int | None = None, workers: int | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Blocks (u, v, lcs) of every pair u < v of non-empty `encs` whose LCS reaches
    ``need(cut, len u, len v)``, each pair once, with its exact LCS. Arguments as
    `simjoin.candidate_blocks` (old texts, `len_range`, `TooCostly` past `max_rows`
    posting entries visited)."""
    if numba is None:
        raise RuntimeError("joinkernel needs numba (pip install 'tane[dedup]')")
    if not cut > 0:
        raise ValueError("pair_blocks needs a cutoff above 0")
    n = len(encs)
    if n < 2:
        return
    lay = layout(encs, cut, len_range)
    lens, erank, epos, item = lay.lens, lay.rank, lay.pos, lay.item
    by_len, r_of, p_probe, p_index, lo_rank = (lay.by_len, lay.r_of, lay.p_probe,
                                                lay.p_index, lay.lo_rank)
    tstart = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    toks = lay.codes.astype(np.int32)
    max_code = int(lay.codes.max())
    # rank_end[L]: first rank whose text is longer than L
    max_len = lay.max_len
    rank_end = np.searchsorted(lay.sorted_lens, np.arange(max_len + 2),
                               side="right").astype(np.int64)
    del lay

    # signatures: each element sets one of 128 bits (a multiplicative hash of its id)
    h = (erank.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(57)
    bit = np.left_shift(np.uint64(1), h & np.uint64(63))
    hi = (h >> np.uint64(6)).astype(bool)
    sig = np.empty((n, 2), dtype=np.uint64)
    sig[:, 0] = np.bitwise_or.reduceat(np.where(hi, np.uint64(0), bit), tstart)
    sig[:, 1] = np.bitwise_or.reduceat(np.where(hi, bit, np.uint64(0)), tstart)
    del h, bit, hi

    # postings of each element, by text rank: text, position in its element order,
    # length and signature of the text
    sel = epos < p_index[item]
    pe, py, pj = erank[sel], item[sel], epos[sel]
    del sel, item
    pr = r_of[py]
    o = np.lexsort((pr, pe))
    pe, pr, py, pj = pe[o], pr[o].astype(np.int32), py[o], pj[o].astype(np.int32)
    del o
    # one row per posting for the hot loop: rank << 32 | length, then the signature
    post = np.empty((len(py), 3), dtype=np.uint64)
    post[:, 0] = (pr.astype(np.uint64) << np.uint64(32)) | lens[py].astype(np.uint64)
    post[:, 1:] = sig[py]
    py = py.astype(np.int32)
    n_elem = int(erank.max()) + 1
    post_start = np.searchsorted(pe, np.arange(n_elem + 1)).astype(np.int64)
    del pe, epos

    chunks = [(r0, min(r0 + _CHUNK, n)) for r0 in range(0, n, _CHUNK)]
    if max_rows is not None:
        rows = sum(_count_rows(cut, r0, r1, by_len, lens, tstart, erank, p_probe,
                               lo_rank, rank_end, post_start, pr) for r0, r1 in chunks)
        if rows > max_rows:
            raise TooCostly(rows)

    def run(chunk: tuple[int, int]):
        r0, r1 = chunk
        return _probe(cut, r0, r1, by_len, lens, tstart, erank, p_probe, lo_rank,
                      rank_end, post_start, pr, post, py, pj, sig, toks, max_len,
                      n_old, new_vs_new, max_code)

    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for ch in chunks:
            yield run(ch)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tane-join") as pool:
        # a bounded window of chunks in flight keeps memory flat
        pending = [pool.submit(run, ch) for ch in chunks[:2 * workers]]
        nxt = len(pending)
        while pending:
            res = pending.pop(0).result()
            if nxt < len(chunks):
                pending.append(pool.submit(run, chunks[nxt]))
                nxt += 1
            yield res
