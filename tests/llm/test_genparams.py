"""GenParams.to_dict is part of every journal key: its keys, their order and values must
stay what dataclasses.asdict gave (old run directories replay through them)."""

from __future__ import annotations

import dataclasses
import json

from tane.llm.base import GenParams
from tane.schema import stable_hash


def _as_before(p: GenParams) -> dict:
    d = dataclasses.asdict(p)
    d["stop"] = list(p.stop)
    if p.json_schema is None:
        del d["json_schema"]
    else:
        d["json_schema"] = p.schema
    if not p.logprobs:  # asked only by some calls: absent from the others' keys
        del d["logprobs"]
    return d


def test_to_dict_matches_asdict_order_and_values():
    cases = [GenParams(), GenParams(temperature=0.3, top_p=0.9, max_tokens=512, seed=94137031),
             GenParams(stop=("\n###", "\n\n\n"), presence_penalty=0.5, frequency_penalty=-1.0),
             GenParams(json_schema={"title": "t", "type": "object",
                                    "properties": {"b": {"type": "string"}, "a": {}}}),
             GenParams(temperature=0.0, seed=3, logprobs=10)]
    for p in cases:
        d = p.to_dict()
        assert json.dumps(d) == json.dumps(_as_before(p))
        assert stable_hash(d, 32) == stable_hash(_as_before(p), 32)
    names = [f.name for f in dataclasses.fields(GenParams)]
    # a new field needs adding
    assert list(GenParams(json_schema={}, logprobs=1).to_dict()) == names
