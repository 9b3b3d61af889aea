"""ROUGE-L F-measure and a greedy near-duplicate ("novelty") index.

Scores are those of ``rouge_score`` (no stemming), ``score(target, prediction)``:
precision = LCS/len(prediction), recall = LCS/len(target),
F = 2*precision*recall/(precision+recall); the index computes F with exactly these float
operations from an integer LCS, so keep/drop decisions match a rouge_score loop bit for
bit. The LCS itself comes from rapidfuzz: each distinct token is mapped to one code point,
a token list becomes a str and ``process.cdist`` with ``Indel`` (2*LCS/(len_a+len_b))
scores a chunk of candidates against the index in C++ (on folded codes, an exact upper
bound, with the survivors re-scored). Large batches instead go through an exact
similarity join (`tane.curate.joinkernel` / `tane.curate.simjoin`) when it is cheaper;
see `NoveltyIndex`.

Decision rule (Self-Instruct's ``if max(rouge_scores) > 0.7``): a text is dropped iff its
F against some indexed text is strictly greater than the threshold. A text with no
tokens never matches anything (score 0) and is always kept.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel, LCSseq

from tane.curate import novelty_join
from tane.curate.novelty_join import JoinPlan
from tane.curate.prefilter import PrefixFilter
from tane.curate.tokenize import get_tokenizer, resolve_tokenizer_name
from tane.errors import TaneError

_MAX_CELLS = 16_000_000  # float32 cells per cdist matrix (64 MiB)
_CUT_MARGIN = 1e-6       # rapidfuzz cutoff slack; survivors are re-scored exactly
# method="auto": prefix-filter once this many texts are indexed; None: never. Measured on
# bench/dedup.py's synthetic data (2 cores), the prefilter did not beat the C++ scan up to
# 100k texts (English: 76 s vs 49 s wall, equal CPU time), so auto scans for now.
_AUTO_PREFILTER: int | None = None
_MAX_PAIRS = 2_000_000    # candidate pairs scored per rapidfuzz cpdist call
# Scan on folded codes: rapidfuzz compares characters below 256 through a flat table and
# the others through a hash map (about 3x slower on Japanese). The scan therefore runs on
# a copy of each text whose codes >= _FOLD_AT are folded onto _FOLD_SLOTS codes from
# _FOLD_AT on (below 256); merging tokens can only add matches, so the folded LCS is an
# upper bound of the true one, and the few pairs it lets through are re-scored on the
# real codes. _FOLD = False: plain scan.
_FOLD = True
_FOLD_AT = 192
_FOLD_SLOTS = 64
# method="auto": a batch of at least this many texts (and at least 1/_AUTO_JOIN_RATIO of
# the indexed ones) is resolved with the batch join (`tane.curate.simjoin`).
# It also estimates the pairs a scan would score and gives up on the join (and scans)
# when it would expand more than 1/_JOIN_ROW_COST candidate rows per such pair: measured
# on bench/dedup.py's data, a join row costs about 200 ns on one core, a scanned pair
# (folded codes, both cores) about 11 ns of wall time.
_AUTO_JOIN = 2000
_AUTO_JOIN_RATIO = 8
_JOIN_ROW_COST = 16
# With numba installed (extra ``dedup``) the join runs compiled (`tane.curate.joinkernel`):
# a posting entry visited costs about 20 ns on one core, so on two cores about as much
# wall time as a scanned pair. _KERNEL = False: the numpy join.
_KERNEL = True
_KERNEL_ROW_COST = 1
METHODS = ("auto", "scan", "prefilter", "join")


def _fmeasure(lcs: int, n_pred: int, n_target: int) -> float:
    """rouge_score's F from an integer LCS, same float operations in the same order."""
    if n_pred == 0 or n_target == 0:
        return 0.0
    precision = lcs / n_pred
    recall = lcs / n_target
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _fmeasure_np(lcs: np.ndarray, n_pred: np.ndarray, n_target) -> np.ndarray:
    """Vectorised `_fmeasure` (IEEE float64, identical rounding); lengths are > 0."""
    lcs = lcs.astype(np.float64)
    precision = lcs / n_pred
    recall = lcs / n_target
    total = precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * precision * recall / total
    return np.where(total > 0, f, 0.0)


def _unit_interval(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= value <= 1.0:
        raise TaneError(f"{name} must be a number between 0 and 1, got {value!r}",
                        field=name)
    return float(value)


def rouge_l_f(target_tokens: Sequence[str], prediction_tokens: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists, bit-identical to rouge_score's ``fmeasure``
    for ``RougeScorer(['rougeL']).score(target, prediction)`` on the same tokens."""
    if not target_tokens or not prediction_tokens:
        return 0.0
    codes: dict[str, str] = {}  # exact token identity (no hashing): one code point each
    for tok in (*target_tokens, *prediction_tokens):
        if tok not in codes:
            n = len(codes)
            codes[tok] = chr(n if n < 0xD800 else n + 0x800)
    lcs = int(LCSseq.similarity("".join(codes[t] for t in target_tokens),
                                "".join(codes[t] for t in prediction_tokens)))
    return _fmeasure(lcs, len(prediction_tokens), len(target_tokens))


@dataclass
class NoveltyResult:
    """keep: False iff some indexed text scores F > threshold. max_score/top cover the
    indexed texts scoring at least the index's ``report_floor`` (0.0 / [] if none);
    top is best-first (ties: earlier indexed first), at most top_k (key, F) pairs."""
    keep: bool
    max_score: float
    top: list[tuple[Hashable, float]] = field(default_factory=list)


class NoveltyIndex:
    """Greedy ROUGE-L near-duplicate index (see module doc).

    tokenizer: a name for `get_tokenizer` or a ``text -> list[str]`` callable.
    report_floor: lowest F reported in `NoveltyResult.top`/`max_score`; defaults to the
    threshold. Lower values report more context for kept texts but prune less work.
    method: how a query finds the indexed texts to score. ``scan`` scores every indexed
    text of a feasible length (C++ cdist); ``prefilter`` generates candidates from an
    inverted index of rare-token prefixes (`tane.curate.prefilter`) and scores only
    those; ``join`` finds every pair of a whole batch (and of the batch with the index)
    that can reach the cutoff at once (a prefix and positional filter over texts in
    length order: compiled in `tane.curate.joinkernel` with numba, else numpy in
    `tane.curate.simjoin`), scores those pairs, then walks the batch in order
    (`tane.curate.novelty_join.JoinPlan`; `plan_batch` hands such a plan to callers that
    interleave other checks). All three are exact: they never skip a pair that can reach the
    cutoff, so decisions, scores and top lists are identical. ``auto`` (default) joins
    batches of at least ``_AUTO_JOIN`` texts (and not much smaller than the index) and
    scans otherwise. With ``report_floor=0`` every method scans.

    The join uses only this public surface (`tane.curate.novelty_join.Index`): it reads
    `cut`, `encoded`, `lengths`, `len_range` and `folded`, turns pairs into results with
    `result_from_lcs` and indexes texts with `add_encoded`; it never imports this module.
    """

    def __init__(self, tokenizer: str | Callable[[str], list[str]] = "auto",
                 lang: str | None = None, threshold: float = 0.7, top_k: int = 3,
                 report_floor: float | None = None, chunk_size: int = 1024,
                 workers: int = -1, method: str = "auto"):
        if callable(tokenizer):
            self._tokenize = tokenizer
            self.tokenizer_name = getattr(tokenizer, "__name__", "custom")
        else:
            self._tokenize = get_tokenizer(tokenizer, lang)
            self.tokenizer_name = resolve_tokenizer_name(tokenizer, lang)
        self.threshold = _unit_interval("threshold", threshold)
        self.top_k = max(0, int(top_k))
        self.report_floor = (self.threshold if report_floor is None
                             else _unit_interval("report_floor", report_floor))
        self._cut = max(0.0, min(self.report_floor, self.threshold) - _CUT_MARGIN)
        self.chunk_size = max(1, int(chunk_size))
        self.workers = workers
        if method not in METHODS:
            raise TaneError(f"method must be one of {', '.join(METHODS)}, got {method!r}",
                            field="method")
        self.method = method
        self._encs: list[str] = []  # global id -> encoded text
        self._fold_table: dict[int, int] = {}
        self._pf: PrefixFilter | None = None
        self._vocab: dict[str, str] = {}
        self._keys: list[Hashable] = []
        self._lens = np.zeros(1024, dtype=np.int64)  # token count per global id
        self._by_len: dict[int, tuple[list[str], list[int]]] = {}  # folded texts, ids
        self._sorted_lens: list[int] = []
        self._range_cache: dict[int, tuple[int, float]] = {}
        self._n_items = 0

    def __len__(self) -> int:
        return self._n_items

    # -- what the batch join reads and calls (`tane.curate.novelty_join.Index`) -------
    @property
    def cut(self) -> float:
        """The lowest F a pair must reach to count: min(report_floor, threshold) less a
        1e-6 margin, so that rounding never loses a pair that matters."""
        return self._cut

    @property
    def encoded(self) -> list[str]:
        """The indexed texts that have tokens, in index order (a text's position is its
        id), each encoded as one code point per token. The index's own list: read it,
        never change it."""
        return self._encs

    @property
    def lengths(self) -> np.ndarray:
        """Token counts of `encoded` (a view: read only)."""
        return self._lens[:len(self._encs)]

    def folded(self, encs: Sequence[str]) -> list[str] | None:
        """`encs` with their codes folded as the scan compares them (the folded LCS is an
        upper bound of the true one), or None when this index compares the real codes."""
        if not self._folding():
            return None
        return [e.translate(self._fold_table) for e in encs]

    def result_from_lcs(self, ids: np.ndarray, lcs: np.ndarray, lens: np.ndarray,
                        length: float) -> NoveltyResult:
        """The result for a text of `length` tokens from its pairs with indexed texts:
        `ids` their ids (-1: not indexed, ignored), `lcs` the integer LCS of each pair and
        `lens` the other texts' lengths (float64). Pairs below `cut` are ignored; F is
        computed as `rouge_l_f` does."""
        if len(lcs) == 0:
            return NoveltyResult(True, 0.0, [])
        fs = _fmeasure_np(lcs, lens, length)
        sel = (ids >= 0) & (fs >= self._cut)
        return self._result(ids[sel], fs[sel])

    def add_encoded(self, enc: str, key: Hashable) -> int:
        """Index a text already encoded by this index (what `add` does after tokenizing):
        its id, or -1 for a text without tokens (counted in len(), never matched)."""
        self._n_items += 1
        return self._append(enc, key) if enc else -1

    # -- token codes -------------------------------------------------------------
    def _new_code(self) -> str:
        n = len(self._vocab)
        cp = n if n < 0xD800 else n + 0x800  # skip the surrogate range
        if cp > 0x10FFFF:
            raise RuntimeError("NoveltyIndex: more than 1,112,064 distinct tokens")
        if cp >= _FOLD_AT:
            self._fold_table[cp] = _FOLD_AT + (cp - _FOLD_AT) % _FOLD_SLOTS
        return chr(cp)

    def _folding(self) -> bool:
        return _FOLD and self._cut > 0

    def _learn(self, token_lists: Iterable[list[str]]) -> None:
        # Most frequent tokens get the lowest code points: rapidfuzz looks up characters
        # below 256 in a flat table (several times faster than its hash map).
        counts = Counter(t for toks in token_lists for t in toks if t not in self._vocab)
        for tok, _ in counts.most_common():
            self._vocab[tok] = self._new_code()

    def _encode(self, tokens: list[str]) -> str:
        vocab = self._vocab
        for t in tokens:
            if t not in vocab:
                vocab[t] = self._new_code()
        return "".join([vocab[t] for t in tokens])

    # -- length prefilter ----------------------------------------------------------
    def len_range(self, la: int) -> tuple[int, float]:
        """(lo, hi): the lengths lb (in tokens) an indexed text may have and still reach
        the cutoff against a text of `la` tokens; the best possible F (LCS = min(la, lb))
        is evaluated with the exact formula. hi is inf when the cutoff is 0."""
        if la in self._range_cache:
            return self._range_cache[la]
        cut = self._cut
        if cut <= 0:
            rng: tuple[int, float] = (1, float("inf"))
        else:
            def ok(lb: int) -> bool:
                return _fmeasure(min(la, lb), lb, la) >= cut
            lo = max(1, min(la, int(cut * la / (2 - cut))))
            while lo > 1 and ok(lo - 1):
                lo -= 1
            while not ok(lo):
                lo += 1
            hi = max(la, int(la * (2 - cut) / cut) + 1)
            while hi > la and not ok(hi):
                hi -= 1
            while ok(hi + 1):
                hi += 1
            rng = (lo, hi)
        self._range_cache[la] = rng
        return rng

    # -- storage ------------------------------------------------------------------
    def _append(self, enc: str, key: Hashable) -> int:
        gid = len(self._keys)
        self._keys.append(key)
        if gid == len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros_like(self._lens)])
        self._lens[gid] = len(enc)
        self._encs.append(enc)
        if self._pf is not None:
            self._pf.add(gid, enc)
        bucket = self._by_len.get(len(enc))
        if bucket is None:
            bucket = self._by_len[len(enc)] = ([], [])
            bisect.insort(self._sorted_lens, len(enc))
        bucket[0].append(enc.translate(self._fold_table) if self._folding() else enc)
        bucket[1].append(gid)
        return gid

    def add(self, text: str, key: Hashable | None = None) -> None:
        """Index `text` unconditionally (`key` defaults to the text)."""
        enc = self._encode(self._tokenize(text))
        self._n_items += 1
        if enc:
            self._append(enc, text if key is None else key)

    # -- scoring ------------------------------------------------------------------
    def _cdist(self, queries: list[str], choices: list[str]) -> np.ndarray:
        return process.cdist(queries, choices, scorer=Indel.normalized_similarity,
                             score_cutoff=self._cut, dtype=np.float32,
                             workers=self.workers)

    def _exact_hits(self, enc: str, sims: np.ndarray, gids: np.ndarray,
                    others: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(gids, F) of the candidates `others` (scored `sims` by the scan) that reach
        the cutoff. Folded scores are upper bounds: re-score on the real codes."""
        lbs = np.fromiter((len(o) for o in others), dtype=np.int64, count=len(others))
        if not self._folding():
            return gids, self._sparse_f(sims, len(enc), lbs)
        lcs = process.cdist([enc], others, scorer=LCSseq.similarity, dtype=np.int32)[0]
        fs = _fmeasure_np(lcs, lbs.astype(np.float64), float(len(enc)))
        ok = fs >= self._cut
        return gids[ok], fs[ok]

    def _sparse_f(self, sims: np.ndarray, la: int, lbs: np.ndarray) -> np.ndarray:
        # sims = 2*LCS/(la+lb) rounded to float32: the integer LCS is recovered exactly
        lcs = np.rint(sims.astype(np.float64) * (la + lbs) / 2).astype(np.int64)
        return _fmeasure_np(lcs, lbs.astype(np.float64), float(la))

    def _use_prefilter(self) -> bool:
        if self._cut <= 0 or self.method == "scan":
            return False
        if self.method == "auto" and (_AUTO_PREFILTER is None
                                      or len(self._keys) < _AUTO_PREFILTER):
            return False
        if self._pf is None:  # built lazily from what is indexed so far
            self._pf = PrefixFilter(self._cut, self.len_range)
            for gid, enc in enumerate(self._encs):
                self._pf.add(gid, enc)
        return True

    def _vs_index_prefilter(self, encs: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        empty = (np.zeros(0, np.int64), np.zeros(0))
        hits = [empty] * len(encs)
        pf, lens, stored = self._pf, self._lens, self._encs
        pend_q: list[int] = []
        pend_ids: list[np.ndarray] = []
        n_pairs = 0

        def flush() -> None:
            if not pend_q:
                return
            qs: list[str] = []
            cs: list[str] = []
            for qi, ids in zip(pend_q, pend_ids):
                qs.extend([encs[qi]] * len(ids))
                cs.extend([stored[g] for g in ids.tolist()])
            sims = process.cpdist(qs, cs, scorer=Indel.normalized_similarity,
                                  score_cutoff=self._cut, dtype=np.float32,
                                  workers=self.workers)
            pos = 0
            for qi, ids in zip(pend_q, pend_ids):
                seg = sims[pos:pos + len(ids)]
                pos += len(ids)
                nz = np.flatnonzero(seg)
                if len(nz):
                    gids = ids[nz]
                    hits[qi] = (gids, self._sparse_f(seg[nz], len(encs[qi]), lens[gids]))
            pend_q.clear()
            pend_ids.clear()

        for qi, enc in enumerate(encs):
            if not enc:
                continue
            ids = pf.candidates(enc, lens)
            if not len(ids):
                continue
            pend_q.append(qi)
            pend_ids.append(ids)
            n_pairs += len(ids)
            if n_pairs >= _MAX_PAIRS:
                flush()
                n_pairs = 0
        flush()
        return hits

    def _vs_index(self, encs: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(global ids, F) of indexed items reaching the cutoff, per query."""
        if self._keys and self._use_prefilter():
            return self._vs_index_prefilter(encs)
        empty = (np.zeros(0, np.int64), np.zeros(0))
        hits = [empty] * len(encs)
        rows = sorted((i for i, e in enumerate(encs) if e), key=lambda i: len(encs[i]))
        if not rows or not self._keys:
            return hits
        group = max(16, min(len(rows), _MAX_CELLS // max(1, len(self._keys))))
        for g0 in range(0, len(rows), group):
            grp = rows[g0:g0 + group]
            lo = self.len_range(len(encs[grp[0]]))[0]
            hi = self.len_range(len(encs[grp[-1]]))[1]
            a = bisect.bisect_left(self._sorted_lens, lo)
            b = bisect.bisect_right(self._sorted_lens, hi)
            choices: list[str] = []
            ids: list[int] = []
            for ln in self._sorted_lens[a:b]:
                choices.extend(self._by_len[ln][0])
                ids.extend(self._by_len[ln][1])
            if not choices:
                continue
            ids_arr = np.asarray(ids, dtype=np.int64)
            queries = [encs[i] for i in grp]
            if self._folding():
                queries = [q.translate(self._fold_table) for q in queries]
            mat = self._cdist(queries, choices)
            rowmax = mat.max(axis=1)
            for r in np.flatnonzero(rowmax > 0):
                cols = np.flatnonzero(mat[r])
                gids = ids_arr[cols]
                hits[grp[r]] = self._exact_hits(encs[grp[r]], mat[r, cols], gids,
                                                [self._encs[g] for g in gids.tolist()])
        return hits

    def _result(self, gids: np.ndarray, fs: np.ndarray) -> NoveltyResult:
        if len(fs) == 0:
            return NoveltyResult(True, 0.0, [])
        keep = not bool((fs > self.threshold).any())
        mask = fs >= self.report_floor
        gids, fs = gids[mask], fs[mask]
        if len(fs) == 0:
            return NoveltyResult(keep, 0.0, [])
        order = np.lexsort((gids, -fs))[: self.top_k]
        top = [(self._keys[int(gids[o])], float(fs[o])) for o in order]
        return NoveltyResult(keep, float(fs.max()), top)

    def _use_join(self, n_batch: int) -> bool:
        if self._cut <= 0:
            return False
        if self.method == "join":
            return True
        return (self.method == "auto" and n_batch >= _AUTO_JOIN
                and n_batch * _AUTO_JOIN_RATIO >= len(self._encs))

    def _plan(self, encs: Sequence[str], add: bool) -> JoinPlan | None:
        costs = None
        if self.method == "auto":
            costs = novelty_join.RowCosts(_KERNEL_ROW_COST, _JOIN_ROW_COST)
        return novelty_join.plan(self, encs, add, kernel=_KERNEL, only_if_cheaper=costs)

    def plan_batch(self, texts: Sequence[str]) -> JoinPlan | None:
        """The similarity join of a whole batch that will be walked in order (checked
        and added text by text, `JoinPlan`), or None when this index would not join a
        batch of this size (method, size, or a join costlier than a scan). While a plan
        is walked, texts are added only through it."""
        if not self._use_join(len(texts)):
            return None
        token_lists = [self._tokenize(t) for t in texts]
        self._learn(token_lists)
        return self._plan([self._encode(toks) for toks in token_lists], add=True)

    def _run_join(self, texts: Sequence[str], keys: Sequence[Hashable] | None, add: bool,
                  encs: list[str], on_progress: Callable[[int, int], None] | None
                  ) -> list[NoveltyResult] | None:
        """All pairs reaching the cutoff at once (`JoinPlan`), then the greedy walk in
        order over those pairs: same decisions, scores and top lists as a scan. None
        (method auto) when the join would cost more than a scan."""
        plan = self._plan(encs, add)
        if plan is None:
            return None
        results: list[NoveltyResult] = []
        n = len(encs)
        for i in range(n):
            res = plan.check(i)
            results.append(res)
            if add and res.keep:
                plan.add(i, texts[i] if keys is None else keys[i])
            if on_progress is not None and ((i + 1) % self.chunk_size == 0 or i + 1 == n):
                on_progress(i + 1, n)
        return results

    def _run(self, texts: Sequence[str], keys: Sequence[Hashable] | None, add: bool,
             on_progress: Callable[[int, int], None] | None = None) -> list[NoveltyResult]:
        token_lists = [self._tokenize(t) for t in texts]
        self._learn(token_lists)
        encs = [self._encode(toks) for toks in token_lists]
        n = len(encs)
        if self._use_join(n):
            joined = self._run_join(texts, keys, add, encs, on_progress)
            if joined is not None:
                return joined
        results: list[NoveltyResult] = []
        for c0 in range(0, n, self.chunk_size):
            chunk = encs[c0:c0 + self.chunk_size]
            hits = self._vs_index(chunk)
            intra = None
            if add and len(chunk) > 1:
                folded = ([e.translate(self._fold_table) for e in chunk]
                          if self._folding() else chunk)
                intra = self._cdist(folded, folded)
            local_gid = np.full(len(chunk), -1, dtype=np.int64)  # -1: not indexed
            for i, enc in enumerate(chunk):
                gids, fs = hits[i]
                if intra is not None and enc and i > 0:
                    js = np.flatnonzero(intra[i, :i])
                    js = js[local_gid[js] >= 0]
                    if len(js):
                        g2, f2 = self._exact_hits(enc, intra[i, js], local_gid[js],
                                                  [chunk[j] for j in js.tolist()])
                        gids = np.concatenate([gids, g2])
                        fs = np.concatenate([fs, f2])
                res = self._result(gids, fs)
                results.append(res)
                if add and res.keep:
                    self._n_items += 1
                    if enc:
                        key = texts[c0 + i] if keys is None else keys[c0 + i]
                        local_gid[i] = self._append(enc, key)
            if on_progress is not None:
                on_progress(min(c0 + len(chunk), n), n)
        return results

    def check(self, text: str) -> NoveltyResult:
        """Score `text` against the index without adding it."""
        return self._run([text], None, add=False)[0]

    def check_and_add(self, text: str, key: Hashable | None = None) -> NoveltyResult:
        """`check`, then index the text if it is kept."""
        return self._run([text], None if key is None else [key], add=True)[0]

    def check_batch_and_add(self, texts: Sequence[str],
                            keys: Sequence[Hashable] | None = None,
                            on_progress: Callable[[int, int], None] | None = None
                            ) -> list[NoveltyResult]:
        """Greedy in order: each text is compared with everything indexed before and with
        the texts kept earlier in this batch; kept texts are added."""
        if keys is not None and len(keys) != len(texts):
            raise ValueError("keys and texts differ in length")
        return self._run(texts, keys, add=True, on_progress=on_progress)
