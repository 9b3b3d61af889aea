"""MinHash-LSH near-duplicate candidates for data too large for one greedy pass.

The work is split into plain functions over shards, so that a local loop (default) or
a distributed engine (`tane.curate.lsh_ray`: Ray Data ``map_batches`` + ``groupby``)
runs the same code and gets the same pairs:

1. ``sign_shard(texts, params)``: one MinHash signature per row (numpy, vectorised).
   Shingles are the row's tokens from the same tokenizer as ROUGE-L dedup
   (`tane.curate.tokenize`), each paired with its occurrence number (the 2nd "の" is a
   different shingle from the 1st), so the signatures estimate the *multiset* Jaccard
   similarity J of the two token lists.
2. ``band_keys(sigs, params)``: the signature cut into ``bands`` bands of ``rows`` values,
   each hashed to one 64-bit bucket key.
3. ``bucket_pairs(keys, row_ids)``: for one band, every pair of rows whose keys are
   equal (a candidate pair). The union over bands, deduplicated, is the candidate set.
4. `tane.curate.components`: candidate pairs are confirmed (estimated Jaccard, or exact
   ROUGE-L on the pair), then resolved greedily or by connected components (union-find).

Why multiset Jaccard: the LCS of two token lists is a common sub-multiset, so
``|A ∩ B| >= LCS`` and ``|A ∪ B| <= |A| + |B| - LCS``, hence ``J >= F / (2 - F)`` for
ROUGE-L F. A pair above F 0.7 has J >= 0.538; the banding is chosen so that such a pair
becomes a candidate with high probability (``candidate_probability``). The default,
32 bands of 4 rows, catches a pair at J 0.538 with probability 0.94 and at J 0.6 with
0.99; pairs of unrelated texts (J around 0.1-0.2) collide with probability < 0.05.

Rows without tokens get no signature (``ok`` False) and are never candidates, as greedy
ROUGE-L dedup never drops them. Everything is deterministic for a ``seed``: the token
hash is CRC-32 (not Python's salted ``hash``), so any process on any machine computes the
same signature for the same text.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tane.curate.tokenize import get_tokenizer, resolve_tokenizer_name
from tane.errors import TaneError

_MASK32 = np.uint64(0xFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_CHUNK_SHINGLES = 32_768  # shingles hashed at once: 32k x 128 perms x 8 bytes = 32 MiB
EMPTY = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True)
class LSHParams:
    """What decides signatures and buckets; every worker of a run needs the same one.

    num_perm = bands x rows. tokenizer/lang: as `tane dedup`'s ROUGE-L tokenizer."""

    bands: int = 32
    rows: int = 4
    seed: int = 1
    tokenizer: str = "auto"
    lang: str | None = None

    def __post_init__(self) -> None:
        for name in ("bands", "rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024:
                raise TaneError(f"{name} must be an integer from 1 to 1024, got {v!r}",
                                field=name)
        if self.bands * self.rows > 4096:
            raise TaneError("bands x rows (the signature length) must be at most 4096",
                            field="bands")
        get_tokenizer(self.tokenizer, self.lang)  # an unknown tokenizer fails here

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def tokenizer_name(self) -> str:
        return resolve_tokenizer_name(self.tokenizer, self.lang)

    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b): the multiply-add-shift hash functions, h(x) = (a*x + b) >> 32."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        a = rng.integers(1, 2 ** 63, size=self.num_perm, dtype=np.uint64) * np.uint64(2) \
            + np.uint64(1)
        b = rng.integers(0, 2 ** 63, size=self.num_perm, dtype=np.uint64)
        return a, b

    def band_multipliers(self) -> np.ndarray:
        rng = np.random.Generator(np.random.PCG64(self.seed + 0x5EED))
        return rng.integers(1, 2 ** 63, size=self.rows, dtype=np.uint64) * np.uint64(2) \
            + np.uint64(1)


def candidate_probability(j: float, bands: int, rows: int) -> float:
    """P(a pair of multiset Jaccard `j` shares at least one bucket) = 1 - (1 - j^r)^b."""
    return 1.0 - (1.0 - float(j) ** rows) ** bands


def jaccard_floor(rouge_threshold: float) -> float:
    """The least multiset Jaccard of two token lists whose ROUGE-L F reaches
    `rouge_threshold`: F / (2 - F)."""
    return rouge_threshold / (2.0 - rouge_threshold)


def shingle_ids(tokens: Sequence[str], cache: dict[str, int]) -> list[int]:
    """64-bit ids of (token, occurrence number) for one token list."""
    seen: dict[str, int] = {}
    out = []
    for t in tokens:
        h = cache.get(t)
        if h is None:
            h = cache[t] = zlib.crc32(t.encode("utf-8"))
        k = seen.get(t, 0)
        seen[t] = k + 1
        out.append(h | (k << 32))
    return out


def sign_tokens(token_lists: Sequence[Sequence[str]], params: LSHParams
                ) -> tuple[np.ndarray, np.ndarray]:
    """(signatures uint32 (n, num_perm), ok bool (n,)) of token lists; a list without
    tokens gets ok False and a signature of EMPTY values."""
    n = len(token_lists)
    sigs = np.full((n, params.num_perm), EMPTY, dtype=np.uint32)
    ok = np.fromiter((len(t) > 0 for t in token_lists), dtype=bool, count=n)
    if not ok.any():
        return sigs, ok
    a, b = params.permutations()
    cache: dict[str, int] = {}
    rows = np.flatnonzero(ok)
    start = 0
    while start < len(rows):
        ids: list[int] = []
        counts: list[int] = []
        stop = start
        while stop < len(rows) and (not ids or len(ids) < _CHUNK_SHINGLES):
            sh = shingle_ids(token_lists[rows[stop]], cache)
            ids.extend(sh)
            counts.append(len(sh))
            stop += 1
        x = np.asarray(ids, dtype=np.uint64)
        # fold the 64-bit id to 32 bits, then h = (a*x + b) >> 32 with wrap-around
        with np.errstate(over="ignore"):
            x = (((x ^ (x >> np.uint64(32))) * _GOLDEN) >> np.uint64(32)) & _MASK32
            h = (x[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)
        offsets = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(np.int64)
        sigs[rows[start:stop]] = np.minimum.reduceat(h, offsets, axis=0).astype(np.uint32)
        start = stop
    return sigs, ok


def sign_shard(texts: Sequence[str], params: LSHParams,
               tokenize: Callable[[str], list[str]] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Step 1 over one shard of texts: (signatures, ok); see `sign_tokens`."""
    tok = tokenize or get_tokenizer(params.tokenizer, params.lang)
    return sign_tokens([tok(t) for t in texts], params)


def band_keys(sigs: np.ndarray, params: LSHParams) -> np.ndarray:
    """Step 2: uint64 bucket keys (n, bands), one per band of each signature."""
    if sigs.shape[1] != params.num_perm:
        raise ValueError(f"signatures have {sigs.shape[1]} values, params want "
                         f"{params.num_perm}")
    m = params.band_multipliers()
    banded = sigs.reshape(len(sigs), params.bands, params.rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = (banded * m[None, None, :]).sum(axis=2, dtype=np.uint64)
        keys = (keys ^ (keys >> np.uint64(29))) * _GOLDEN
    return keys


def bucket_pairs(keys: np.ndarray, row_ids: np.ndarray,
                 max_bucket: int | None = None) -> np.ndarray:
    """Step 3, one band: int64 pairs (m, 2), i < j, of rows (global ids) whose keys are
    equal. A bucket larger than `max_bucket` contributes only the pairs of each row with
    the bucket's first row (a star: enough to connect it, not to confirm every pair)."""
    keys = np.asarray(keys, dtype=np.uint64)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    order = np.lexsort((row_ids, keys))
    k, r = keys[order], row_ids[order]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    sizes = np.diff(np.concatenate([starts, [len(k)]]))
    out = []
    big = sizes > (max_bucket if max_bucket is not None else len(k))
    for s, z in zip(starts[big].tolist(), sizes[big].tolist()):
        members = r[s:s + z]
        out.append(np.stack([np.full(z - 1, members[0]), members[1:]], axis=1))
    # the other buckets of each size z at once: a (buckets, z) matrix of members
    small = (sizes >= 2) & ~big
    for z in np.unique(sizes[small]).tolist():
        st = starts[small & (sizes == z)]
        members = r[st[:, None] + np.arange(z)[None, :]]
        i, j = np.triu_indices(z, k=1)
        out.append(np.stack([members[:, i].ravel(), members[:, j].ravel()], axis=1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(out).astype(np.int64)


def unique_pairs(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The union of pair arrays, each pair once, sorted by (i, j)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    p = np.concatenate(parts).astype(np.int64)
    # sort + neighbour mask: np.unique (hash based in numpy 2.4) was 160x slower here
    code = np.sort(p[:, 0] << 32 | p[:, 1])
    code = code[np.concatenate([[True], code[1:] != code[:-1]])]
    return np.stack([code >> 32, code & 0xFFFFFFFF], axis=1)


def candidate_pairs(sigs: np.ndarray, ok: np.ndarray, params: LSHParams,
                    max_bucket: int | None = None) -> np.ndarray:
    """Steps 2-3 on one machine: all candidate pairs (i < j) of rows with a signature."""
    rows = np.flatnonzero(ok)
    keys = band_keys(sigs[rows], params)
    return unique_pairs([bucket_pairs(keys[:, band], rows, max_bucket)
                         for band in range(params.bands)])


def estimated_jaccard(sigs: np.ndarray, pairs: np.ndarray, chunk: int = 65_536
                      ) -> np.ndarray:
    """Share of equal signature values of each pair (the MinHash Jaccard estimate)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for c in range(0, len(pairs), chunk):
        p = pairs[c:c + chunk]
        out[c:c + chunk] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
    return out
