"""Records and their provenance (:mod:`tane.provenance`): the data every layer passes
around."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .provenance import Provenance as Provenance  # re-exported: records carry it


# made once: json.dumps with keyword arguments builds a new encoder on every call
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=False).encode
_canonical = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_sha256 = hashlib.sha256


def dumps(obj: Any) -> str:
    """JSON for files we write: UTF-8 text, never ``\\uXXXX`` escapes."""
    return _dumps(obj)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hex digest of a JSON-serialisable object with sorted keys (cache keys, ids)."""
    return _sha256(_canonical(obj).encode("utf-8")).hexdigest()[:n]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    instruction: str
    input: str = ""
    output: str | None = None
    provenance: Provenance

    def to_json(self) -> str:
        return dumps(self.model_dump(mode="json"))


class Drop(BaseModel):
    """A decision not to keep something. Written to the ledger, counted in stats."""

    stage: str
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)
    text: str = ""  # the dropped instruction (or raw text) so review can show it
    record_id: str | None = None
