"""A whole batch of `NoveltyIndex` texts resolved by the similarity join.

`JoinPlan` holds every pair of the batch (and of the batch with what is already indexed)
whose ROUGE-L F reaches the index's cutoff, grouped by the later text. Walking the batch
in its order, `check(i)` looks only at the pairs of text i whose other side has been
added, so decisions, scores and top lists equal a scan's; `add(i, key)` indexes text i.
`tane dedup` (`NoveltyIndex.check_batch_and_add`) walks all of it at once; the
``near_dup`` curation step walks it record by record, interleaved with the other steps,
and adds only records every step kept.

Pairs come from the compiled join (`tane.curate.joinkernel`, with numba) or the numpy
join (`tane.curate.simjoin`).

The index is used only through the small surface `Index` (which `NoveltyIndex` offers):
this module does not import `tane.curate.rouge`, which imports it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple, Protocol

import importlib
import importlib.util

import numpy as np

from tane.curate.simjoin import TooCostly, candidate_blocks, need, pair_lcs, prefetch


class Index(Protocol):
    """What the join needs from the index it serves (`tane.curate.rouge.NoveltyIndex`;
    each member is documented there)."""

    @property
    def cut(self) -> float: ...

    @property
    def encoded(self) -> list[str]: ...

    @property
    def lengths(self) -> np.ndarray: ...

    def len_range(self, la: int) -> tuple[int, float]: ...

    def folded(self, encs: Sequence[str]) -> list[str] | None: ...

    def result_from_lcs(self, ids: np.ndarray, lcs: np.ndarray, lens: np.ndarray,
                        length: float) -> Any: ...

    def add_encoded(self, enc: str, key: Hashable) -> int: ...


class RowCosts(NamedTuple):
    """How many candidate rows of the join cost as much as one pair scored by a scan:
    `plan` gives up on a join that would expand more than (scan pairs) / cost rows."""
    kernel: int   # compiled join (`tane.curate.joinkernel`)
    numpy: int    # numpy join (`tane.curate.simjoin`)


_NO_IDS = np.zeros(0, dtype=np.int64)
_NO_LENS = np.zeros(0, dtype=np.float64)


class JoinPlan:
    """Pairs of one batch of encoded texts `encs` (empty: no tokens), for a walk in
    batch order. Nothing else may be added to the index while the plan is walked."""

    def __init__(self, index: Index, encs: Sequence[str], off: np.ndarray,
                 gu: np.ndarray, gl: np.ndarray, lens: np.ndarray, n_old: int):
        self.index = index
        self.encs = encs
        self.off, self.gu, self.gl = off, gu, gl
        self.flens = lens.astype(np.float64)
        nonempty = np.fromiter((bool(e) for e in encs), dtype=bool, count=len(encs))
        self.row = np.where(nonempty, n_old + np.cumsum(nonempty) - 1, -1)
        self.gid_of = np.full(len(lens), -1, dtype=np.int64)  # -1: not indexed
        self.gid_of[:n_old] = np.arange(n_old)

    def __len__(self) -> int:
        return len(self.encs)

    def check(self, i: int):
        """Text i against the indexed texts (those before the batch and those of the
        batch added so far): the index's `NoveltyResult`."""
        r = int(self.row[i])
        if r < 0 or self.off[r] == self.off[r + 1]:
            return self.index.result_from_lcs(_NO_IDS, _NO_IDS, _NO_LENS, 0.0)
        a, b = self.off[r], self.off[r + 1]
        us = self.gu[a:b]
        return self.index.result_from_lcs(self.gid_of[us], self.gl[a:b], self.flens[us],
                                          self.flens[r])

    def add(self, i: int, key: Hashable) -> None:
        """Index text i (kept) under `key`."""
        gid = self.index.add_encoded(self.encs[i], key)
        r = int(self.row[i])
        if r >= 0:
            self.gid_of[r] = gid


def scan_pairs(index: Index, new_lens: np.ndarray, add: bool) -> int:
    """Roughly how many pairs a scan of this batch would score (length filter)."""
    old = np.sort(index.lengths)
    new = np.sort(new_lens)
    total = 0.0
    for ln in np.unique(new).tolist():
        lo, hi = index.len_range(ln)
        hi = min(hi, 1 << 40)
        per = np.searchsorted(old, hi, "right") - np.searchsorted(old, lo, "left")
        if add:
            per += (np.searchsorted(new, hi, "right") - np.searchsorted(new, lo)) / 2
        total += float(per) * int(np.count_nonzero(new == ln))
    return int(total)


def _joinkernel() -> Any:
    """`tane.curate.joinkernel`, imported on first use: numba takes most of a second to
    import, which every command that merely may dedup would pay at start."""
    if importlib.util.find_spec("numba") is None:
        return None
    return importlib.import_module("tane.curate.joinkernel")


def plan(index: Index, encs: Sequence[str], add: bool, *, kernel: bool = True,
         only_if_cheaper: RowCosts | None = None) -> JoinPlan | None:
    """The join of `encs` (pairs among them too when `add`) with the index, compiled
    when `kernel` and numba is installed, else in numpy. With `only_if_cheaper` (method
    auto): None when the join would expand more candidate rows than a scan's pairs
    allow at those costs."""
    n_old = len(index.encoded)
    everything = index.encoded + [e for e in encs if e]
    lens = np.fromiter((len(e) for e in everything), dtype=np.int64, count=len(everything))
    joinkernel = _joinkernel() if kernel else None
    kernel = joinkernel is not None and joinkernel.available()
    max_rows = None
    if only_if_cheaper is not None:
        cost = only_if_cheaper.kernel if kernel else only_if_cheaper.numpy
        max_rows = scan_pairs(index, lens[n_old:], add) // cost
    try:
        if kernel and joinkernel is not None:
            off, gu, gl = joinkernel.group_by_v(joinkernel.pair_blocks(
                everything, index.cut, index.len_range, n_old=n_old, new_vs_new=add,
                max_rows=max_rows), len(everything))
        else:
            off, gu, gl = _numpy_pairs(index, everything, n_old, add, max_rows, lens)
    except TooCostly:
        return None
    return JoinPlan(index, encs, off, gu, gl, lens, n_old)


def _numpy_pairs(index: Index, everything: list[str], n_old: int, add: bool,
                 max_rows: int | None, lens: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`joinkernel.group_by_v`'s result from the numpy join: candidate blocks made on a
    second thread while the previous one is scored."""
    cut = index.cut
    folded = index.folded(everything)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for u, v in prefetch(candidate_blocks(everything, cut, index.len_range,
                                          n_old=n_old, new_vs_new=add,
                                          max_rows=max_rows)):
        u, v, lcs = pair_lcs(everything, u, v, cut, folded, lens)
        ok = lcs >= need(cut, lens[u], lens[v])
        found.append((u[ok], v[ok], lcs[ok]))
    u, v, lcs = (np.concatenate([f[i] for f in found]) if found else
                 np.zeros(0, np.int64) for i in range(3))
    order = np.argsort(v, kind="stable")
    off = np.searchsorted(v[order], np.arange(len(everything) + 1))
    return off, u[order], lcs[order]
