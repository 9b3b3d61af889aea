"""docs/curation.md's step reference is generated from the registry and up to date."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from tane.curate.steps import STEPS, Step
from tane.curate.steps.doc import BEGIN, END, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "curation.md"


def test_generated_step_reference_is_current():
    text = DOC.read_text(encoding="utf-8")
    part = text[text.index(BEGIN):text.index(END) + len(END)]
    assert part == render(), "run: python -m tane.curate.steps.doc docs/curation.md"
    for name, cls in STEPS.items():
        assert f"### {name}" in part
        for p in cls.Params.model_fields:
            assert f"| `{p}` |" in part


def _sources(cls) -> str:
    return "".join(inspect.getsource(c) for c in cls.__mro__
                   if isinstance(c, type) and issubclass(c, Step) and c is not Step)


def test_declared_sub_reasons_match_the_code():
    for name, cls in STEPS.items():
        src = _sources(cls)
        literal = set(re.findall(r'self\.fail\("([a-z_]+)"', src))
        templated = set(re.findall(r'self\.fail\(f"\{name\}(_[a-z_]+)"', src))
        for r in cls.reasons:
            assert r in literal or any(r.endswith(t) for t in templated), (name, r)
        if "check" in vars(cls):  # the class's own check: every sub-reason is declared
            for r in literal:
                assert r in cls.reasons, (name, r)
            for t in templated:
                assert any(r.endswith(t) for r in cls.reasons), (name, t)
