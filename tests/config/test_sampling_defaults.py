"""Every sampling section of every stage has its defaults in a ``Sampling`` subclass (one
idiom), so a recipe that gives some keys keeps that section's defaults for the others, and
writes back only the keys it gave."""

from __future__ import annotations

import pytest

from tane.config.base import Sampling
from tane.config.registry import METHODS

REQUIRED = {"grid": {"axes": {"topic": ["料理", "旅行"]}},
            "agent_instruct": {"documents": "docs"},
            "curate": {"steps": [{"name": "length"}]},
            "prompt": {"template": "{{ instruction }}", "field": "output"}}


def _fields():
    for name, m in METHODS.items():
        for field, info in m.config.model_fields.items():
            if isinstance(info.annotation, type) and issubclass(info.annotation, Sampling):
                yield name, field


FIELDS = list(_fields())


def test_every_stage_with_a_model_call_has_a_sampling_section():
    assert {n for n, _ in FIELDS} == set(METHODS) - {"curate"}


@pytest.mark.parametrize(("name", "field"), FIELDS, ids=lambda x: x)
def test_a_partial_section_keeps_the_other_defaults(name, field):
    cfg = METHODS[name].config
    ann = cfg.model_fields[field].annotation
    base = cfg.model_validate({"method": name, **REQUIRED.get(name, {})})
    assert getattr(base, field) == ann()        # the defaults live in the class
    temperature = 0.11 if getattr(base, field).temperature != 0.11 else 0.12
    got = cfg.model_validate({"method": name, **REQUIRED.get(name, {}),
                              field: {"temperature": temperature}})
    assert getattr(got, field) == getattr(base, field).model_copy(
        update={"temperature": temperature})
    assert got.model_dump(exclude_unset=True)[field] == {"temperature": temperature}
