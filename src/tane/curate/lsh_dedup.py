"""Near-duplicate removal for rows beyond one greedy pass: MinHash-LSH candidates,
confirmed pairs, then greedy or connected-component decisions (`tane dedup --method
minhash-lsh`).

Steps (each a plain function over shards, see `tane.curate.lsh`):

1. signatures per shard (``shards`` contiguous slices of the rows; the result does not
   depend on how many);
2. band keys, buckets per band, candidate pairs (the union over bands);
3. confirmation: ``exact=True`` scores every candidate pair with ROUGE-L F (drop above
   ``threshold``, as greedy dedup); otherwise the MinHash estimate of the multiset
   Jaccard similarity decides (at least ``jaccard``, default ``F / (2 - F)`` of the
   ROUGE-L threshold: 0.538 for 0.7, the least Jaccard such a pair can have);
4. decisions: ``greedy`` or ``component`` (`tane.curate.components`).

With ``executor="ray"`` steps 1-2 run as Ray Data ``map_batches`` / ``groupby`` over the
same functions (`tane.curate.lsh_ray`); confirmation and decisions stay on the driver.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tane.curate import components as comp
from tane.curate import lsh
from tane.curate.dedup import (
    DedupReport,
    row_ref,
    check_keep,
    check_output,
    read_rows,
    score_rows,
    screen_rows,
    write_result,
)
from tane.curate.tokenize import get_tokenizer
from tane.errors import TaneError

EXECUTORS = ("local", "ray")


@dataclass
class LSHOptions:
    threshold: float = 0.7  # ROUGE-L F: with exact, drop above it
    exact: bool = False
    jaccard: float | None = None  # estimated Jaccard threshold without exact
    resolve: str = "greedy"
    shards: int = 1
    max_bucket: int | None = 200
    params: lsh.LSHParams = field(default_factory=lsh.LSHParams)

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not 0.0 <= float(self.threshold) < 1.0:
            raise TaneError(f"threshold must be in [0, 1), got {self.threshold!r}",
                            field="threshold")
        if self.jaccard is not None and not 0.0 < float(self.jaccard) <= 1.0:
            raise TaneError(f"jaccard must be in (0, 1], got {self.jaccard!r}",
                            field="jaccard")
        if self.resolve not in comp.RESOLVE:
            raise TaneError(f"resolve must be one of {', '.join(comp.RESOLVE)}, got "
                            f"{self.resolve!r}", field="resolve")
        if int(self.shards) < 1:
            raise TaneError("shards must be at least 1", field="shards")
        if self.max_bucket is not None and int(self.max_bucket) < 2:
            raise TaneError("max_bucket must be at least 2", field="max_bucket")

    @property
    def jaccard_threshold(self) -> float:
        return lsh.jaccard_floor(self.threshold) if self.jaccard is None else self.jaccard


@dataclass
class LSHResult:
    decisions: comp.Decisions
    candidate_pairs: int
    edges: int
    measure: str  # "rouge_l" or "jaccard_estimate"
    seconds: dict[str, float]


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) slices of n rows, as even as possible."""
    shards = max(1, min(int(shards), max(1, n)))
    cuts = [n * k // shards for k in range(shards + 1)]
    return [(cuts[k], cuts[k + 1]) for k in range(shards)]


def local_candidates(token_lists: Sequence[Sequence[str]], opts: LSHOptions
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signatures, ok, candidate pairs) with one loop per shard, then per band."""
    p = opts.params
    sig_parts, ok_parts, key_parts, row_parts = [], [], [], []
    for a, b in shard_bounds(len(token_lists), opts.shards):
        sigs, ok = lsh.sign_tokens(token_lists[a:b], p)  # step 1, one shard
        rows = np.flatnonzero(ok)
        sig_parts.append(sigs)
        ok_parts.append(ok)
        key_parts.append(lsh.band_keys(sigs[rows], p))  # step 2, one shard
        row_parts.append(rows + a)
    sigs = np.concatenate(sig_parts) if sig_parts else np.zeros((0, p.num_perm), np.uint32)
    ok = np.concatenate(ok_parts) if ok_parts else np.zeros(0, bool)
    keys = np.concatenate(key_parts) if key_parts else np.zeros((0, p.bands), np.uint64)
    rows = np.concatenate(row_parts) if row_parts else np.zeros(0, np.int64)
    pairs = lsh.unique_pairs([lsh.bucket_pairs(keys[:, band], rows, opts.max_bucket)
                              for band in range(p.bands)])  # step 3, one band at a time
    return sigs, ok, pairs


def lsh_decisions(texts: Sequence[str], opts: LSHOptions | None = None,
                  executor: str = "local", order: Sequence[int] | None = None,
                  address: str | None = None) -> LSHResult:
    """Keep/drop decisions for `texts` (see module doc). order: the positions in the
    order they are decided (keep best); default input order. address: the Ray cluster
    for executor ray (None: the running one, or a local one)."""
    opts = opts or LSHOptions()
    if executor not in EXECUTORS:
        raise TaneError(f"executor must be one of {', '.join(EXECUTORS)}, got "
                        f"{executor!r}", field="executor")
    p = opts.params
    secs: dict[str, float] = {}
    tok = get_tokenizer(p.tokenizer, p.lang)
    token_lists: list[list[str]] | None = None
    t0 = time.perf_counter()
    if executor == "ray":
        from tane.curate.lsh_ray import ray_candidates

        sigs, pairs = ray_candidates(texts, opts, address=address)  # workers tokenize
    else:
        token_lists = [tok(t) for t in texts]
        secs["tokenize"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sigs, _ok, pairs = local_candidates(token_lists, opts)
    secs["candidates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if opts.exact:
        if token_lists is None:  # only the rows of candidate pairs, on the driver
            token_lists = [[] for _ in texts]
            rows = np.sort(pairs.ravel())
            if len(rows):
                rows = rows[np.concatenate([[True], rows[1:] != rows[:-1]])]
            for r in rows.tolist():
                token_lists[r] = tok(texts[r])
        edges, scores = comp.confirm_exact(comp.encode(token_lists), pairs, opts.threshold)
        measure = "rouge_l"
    else:
        est = lsh.estimated_jaccard(sigs, pairs)
        edges, scores = comp.confirm_estimated(est, pairs, opts.jaccard_threshold)
        measure = "jaccard_estimate"
    secs["confirm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = comp.resolve(len(texts), edges, scores, opts.resolve, order=order)
    secs["resolve"] = time.perf_counter() - t0
    return LSHResult(dec, len(pairs), len(edges), measure,
                     {k: round(v, 3) for k, v in secs.items()})


def dedup_file_lsh(in_path: str | os.PathLike, out_path: str | os.PathLike,
                   field: str = "instruction", opts: LSHOptions | None = None,
                   executor: str = "local", keep: str = "first",
                   score_field: str | None = None, address: str | None = None
                   ) -> DedupReport:
    """`tane dedup --method minhash-lsh`: the same files, reasons and atomic writes as
    `tane.curate.dedup.dedup_file`; a near_duplicate's detail also names the method,
    the measure (``rouge_l`` with exact, else ``jaccard_estimate``) and, for component
    decisions, the row it is linked through."""
    opts = opts or LSHOptions()
    check_keep(keep, score_field)
    started = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    check_output(out_path)
    rows = read_rows(in_path, field)
    drops, candidates = screen_rows(rows, field)
    order = None
    scores = score_rows(rows, candidates, score_field)
    if score_field:
        order = sorted(range(len(candidates)),
                       key=lambda i: (scores[candidates[i]] is None,
                                      -(scores[candidates[i]] or 0.0), i))
    texts = [rows[pos][2][field] for pos in candidates]
    res = lsh_decisions(texts, opts, executor=executor, order=order, address=address)
    dec = res.decisions
    for i in np.flatnonzero(~dec.keep).tolist():
        pos, other = candidates[i], candidates[int(dec.similar_to[i])]
        other_line, _, other_obj = rows[other]
        s = float(dec.score[i])
        detail: dict[str, Any] = {
            "score": None if np.isnan(s) else round(s, 6),
            "similar_to": row_ref(other_line, other_obj), "similar_line": other_line,
            "similar_text": other_obj[field], "method": "minhash-lsh",
            "measure": res.measure, "resolve": opts.resolve}
        if opts.resolve == "component" and dec.via[i] != dec.similar_to[i]:
            via_line, _, via_obj = rows[candidates[int(dec.via[i])]]
            detail["via"] = row_ref(via_line, via_obj)
        if score_field:
            detail.update(keep="best", score_field=score_field, own_score=scores[pos],
                          kept_score=scores[other])
        drops[pos] = {"reason": "near_duplicate", "detail": detail}
    return write_result(rows, drops, out_path, opts.params.tokenizer_name, started)
