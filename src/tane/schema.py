"""Records and their provenance: the data every layer passes around."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class Provenance(BaseModel):
    """Where a record came from. What makes a dataset card honest."""

    model_config = ConfigDict(extra="allow")

    method: str
    model: str = ""
    model_revision: str = ""
    license: str = ""
    backend: str = ""
    seed_ids: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    template: str = ""
    sampling: dict[str, Any] = Field(default_factory=dict)
    steps: list[dict[str, Any]] = Field(default_factory=list)  # later stages: answer, ...


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
