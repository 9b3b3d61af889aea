"""Which reviewers see which records, and in what order.

Record ``i`` (in dataset order) goes to ``overlap`` reviewers starting at reviewer
``i mod R``, so every reviewer gets the same share (within one record) and each pair of
neighbouring reviewers shares records. Each reviewer walks their records in their own
order (sorted by a hash of reviewer and record id): deterministic, and no two reviewers
walk the same sequence.
"""

from __future__ import annotations

import hashlib


def assign(record_ids: list[str], reviewers: list[str], overlap: int
           ) -> dict[str, list[str]]:
    """reviewer -> their queue of record ids, in their order."""
    r = len(reviewers)
    n = max(1, min(overlap, r))
    queues: dict[str, list[str]] = {name: [] for name in reviewers}
    for i, rid in enumerate(record_ids):
        for j in range(n):
            queues[reviewers[(i + j) % r]].append(rid)
    for name, q in queues.items():
        q.sort(key=lambda rid: hashlib.sha256(f"{name}\0{rid}".encode()).digest())
    return queues
