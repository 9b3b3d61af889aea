"""MinHash-LSH candidate pairs on Ray Data (extra ``ray``): the functions of
`tane.curate.lsh`, unchanged, as ``map_batches`` (signatures and band keys per block of
rows) and ``groupby("band").map_groups`` (the buckets of one band). Row ids are global,
so the pairs are exactly those of the local path, whatever the blocks.

Uses the running Ray instance, or starts one (``ray.init(address=...)``; ``None`` starts
a local one, ``"auto"`` joins the cluster this machine belongs to).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tane.curate import lsh
from tane.errors import TaneError


def _require_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise TaneError("the ray executor needs Ray Data: pip install 'tane[ray]'",
                        field="executor") from None
    return ray


def sign_batch(batch: dict[str, np.ndarray], params: lsh.LSHParams) -> dict[str, Any]:
    """map_batches: rows {row, text} -> rows with a signature {row, sig, keys}."""
    sigs, ok = lsh.sign_shard([str(t) for t in batch["text"]], params)
    return {"row": np.asarray(batch["row"], dtype=np.int64)[ok], "sig": sigs[ok],
            "keys": lsh.band_keys(sigs[ok], params)}


def explode_bands(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """map_batches: one row per (row, band) with its bucket key."""
    keys = np.asarray(batch["keys"], dtype=np.uint64)
    n, bands = keys.shape if keys.ndim == 2 else (0, 0)
    return {"band": np.tile(np.arange(bands, dtype=np.int64), n),
            "key": keys.reshape(-1),
            "row": np.repeat(np.asarray(batch["row"], dtype=np.int64), bands)}


def band_pairs(group: dict[str, np.ndarray], max_bucket: int | None) -> dict[str, np.ndarray]:
    """map_groups over one band: its candidate pairs {i, j}."""
    pairs = lsh.bucket_pairs(group["key"], group["row"], max_bucket)
    return {"i": pairs[:, 0], "j": pairs[:, 1]}


def ray_candidates(texts: Sequence[str], opts, address: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(signatures of all rows, candidate pairs) computed on Ray; `opts` an LSHOptions
    (its ``shards`` sets the number of blocks)."""
    ray = _require_ray()
    import pyarrow as pa

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    p = opts.params
    table = pa.table({"row": np.arange(len(texts), dtype=np.int64),
                      "text": pa.array(list(texts), type=pa.string())})
    ds = ray.data.from_arrow(table).repartition(max(1, int(opts.shards)))
    signed = ds.map_batches(sign_batch, fn_kwargs={"params": p},
                            batch_format="numpy", batch_size=None).materialize()
    sigs = np.full((len(texts), p.num_perm), lsh.EMPTY, dtype=np.uint32)
    for b in signed.iter_batches(batch_format="numpy", batch_size=None):
        if len(b["row"]):
            sigs[b["row"]] = b["sig"]
    pairs_ds = (signed.map_batches(explode_bands, batch_format="numpy", batch_size=None)
                .groupby("band")
                .map_groups(band_pairs, fn_kwargs={"max_bucket": opts.max_bucket},
                            batch_format="numpy"))
    parts = [np.stack([np.asarray(b["i"], np.int64), np.asarray(b["j"], np.int64)], axis=1)
             for b in pairs_ds.iter_batches(batch_format="numpy", batch_size=None)
             if len(b["i"])]
    return sigs, lsh.unique_pairs(parts)
