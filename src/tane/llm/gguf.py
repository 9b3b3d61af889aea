"""Read the metadata of a GGUF file (llama.cpp's model format) without loading weights.

Only the header is read: magic ``GGUF``, version (1–3), tensor and key/value counts, then
the key/value pairs. Large arrays (the tokenizer's vocabulary) are skipped unless asked
for, so reading ``tokenizer.chat_template`` from a 100 MB file touches about a megabyte.
Layout as llama.cpp's ``gguf`` spec describes it: little-endian; a string is a uint64
length and UTF-8 bytes (uint32 length in version 1); an array is an element type, a count
and the elements.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import TaneError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_KV = 1_000_000
_MAX_STRING = 64 * 1024 * 1024


class _Reader:
    def __init__(self, f: BinaryIO, path: str):
        self.f, self.path = f, path
        self.version = 3

    def _read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise TaneError("GGUF header ends early (truncated file?)", path=self.path)
        return b

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))[0]

    def count(self) -> int:
        return self.unpack("<I" if self.version == 1 else "<Q")

    def string(self, keep: bool = True) -> str | None:
        n = self.count()
        if n > _MAX_STRING:
            raise TaneError(f"GGUF string of {n} bytes: not a valid header", path=self.path)
        if not keep:
            self.f.seek(n, 1)
            return None
        return self._read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string(keep)
        if vtype == _ARRAY:
            etype, n = self.unpack("<I"), self.count()
            if not keep:
                if etype in _SCALARS:
                    self.f.seek(struct.calcsize(_SCALARS[etype]) * n, 1)
                else:
                    for _ in range(n):
                        self.value(etype, keep=False)
                return None
            return [self.value(etype) for _ in range(n)]
        raise TaneError(f"GGUF value type {vtype} is unknown: not a valid header",
                        path=self.path)


def read_metadata(path: str | Path, keys: set[str] | None = None,
                  keep_arrays: bool = False) -> dict[str, Any]:
    """Key/value metadata of a GGUF file. ``keys``: only these (others are skipped);
    arrays are skipped (value None) unless ``keep_arrays``. Raises TaneError naming the
    file if it is missing or not GGUF."""
    p = Path(path)
    if not p.is_file():
        raise TaneError("GGUF file not found", path=str(p))
    out: dict[str, Any] = {}
    with p.open("rb") as f:
        r = _Reader(f, str(p))
        if r._read(4) != MAGIC:
            raise TaneError("not a GGUF file (no 'GGUF' magic)", path=str(p))
        r.version = r.unpack("<I")
        if r.version not in (1, 2, 3):
            raise TaneError(f"GGUF version {r.version} is not supported", path=str(p))
        r.count()  # tensors
        n_kv = r.count()
        if n_kv > _MAX_KV:
            raise TaneError(f"GGUF header claims {n_kv} keys: not a valid header", path=str(p))
        for _ in range(n_kv):
            key = r.string() or ""
            vtype = r.unpack("<I")
            wanted = keys is None or key in keys
            keep = wanted and (keep_arrays or vtype != _ARRAY)
            val = r.value(vtype, keep=keep)
            if wanted:
                out[key] = val
            if keys is not None and all(k in out for k in keys):
                break
    return out


def chat_template(path: str | Path) -> str | None:
    """The model's own chat template (``tokenizer.chat_template``), or None if it has none."""
    meta = read_metadata(path, {"tokenizer.chat_template", "general.name"})
    tpl = meta.get("tokenizer.chat_template")
    return tpl if isinstance(tpl, str) and tpl.strip() else None


def token_strings(path: str | Path) -> dict[str, str]:
    """The special tokens a template is built from: bos/eos text (for ``bos_token`` /
    ``eos_token`` in a Jinja chat template), looked up in the vocabulary."""
    ids_keys = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}
    meta = read_metadata(path, ids_keys | {"tokenizer.ggml.tokens"}, keep_arrays=True)
    tokens = meta.get("tokenizer.ggml.tokens") or []
    out = {}
    for name, key in (("bos_token", "tokenizer.ggml.bos_token_id"),
                      ("eos_token", "tokenizer.ggml.eos_token_id")):
        i = meta.get(key)
        if isinstance(i, int) and 0 <= i < len(tokens):
            out[name] = tokens[i]
    return out
