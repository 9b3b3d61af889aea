"""The registry of curation steps: names (as written in a recipe's ``steps:``) to classes.

Modules by step family: ``length``, ``script`` (script_ratio, mixed_language,
chinese_drift, language), ``repetition``, ``truncated``, ``echo`` (restates_question,
copies, meta_text, seed_copy), ``refusal``, ``dedup_steps`` (exact_dup, near_dup, minhash_dup,
embedding_dup), ``lsh_dup``, ``code`` (runs the answer's code in curate/sandbox.py).
``base`` holds the record view (`Fields`), the `Step` base class and the text helpers. `step_table` describes every step and parameter (docs/curation.md is made
from it).
"""

from __future__ import annotations

from typing import Any, Sequence

from tane.curate.steps.code import Code
from tane.curate.steps.base import Fields, Params, Result, Step, is_cjk_lang, letters, \
    normalize, strip_code_and_urls, text_lang
from tane.curate.steps.dedup_steps import DedupStep, EmbeddingDup, ExactDup, IndexDup, \
    MinHashDup, NearDup, check_consistent, rank_order
from tane.curate.steps.echo import Copies, MetaText, RestatesQuestion, SeedCopy
from tane.curate.steps.length import Length
from tane.curate.steps.lsh_dup import LSHDup
from tane.curate.steps.refusal import Refusal, first_sentence
from tane.curate.steps.repetition import Repetition
from tane.curate.steps.script import ChineseDrift, Language, MixedLanguage, ScriptRatio
from tane.curate.steps.truncated import Truncated

STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (
    Length, ScriptRatio, MixedLanguage, ChineseDrift, Repetition, Truncated,
    RestatesQuestion, Copies, MetaText, Refusal, SeedCopy, ExactDup, NearDup, MinHashDup,
    LSHDup, EmbeddingDup, Language, Code)}


def make_step(name: str, lang: str = "ja", seeds: Sequence[Any] = (), **params: Any) -> Step:
    """Build one step by name (raises KeyError / pydantic ValidationError / ValueError /
    TaneError)."""
    cls = STEPS[name]
    return cls(lang, cls.Params.model_validate(params), seeds)


def step_table() -> list[dict[str, Any]]:
    """Every step: name, languages, summary, and its parameters with type and default."""
    rows = []
    for name, cls in STEPS.items():
        params = []
        for pname, info in cls.Params.model_fields.items():
            ann = info.annotation
            typ = getattr(ann, "__name__", None) if isinstance(ann, type) else None
            params.append({"name": pname, "type": typ or str(ann).replace("typing.", ""),
                           "default": info.default, "note": info.description or ""})
        rows.append({"name": name, "langs": cls.langs, "doc": (cls.__doc__ or "").strip(),
                     "params": params})
    return rows


__all__ = ["STEPS", "Fields", "Params", "Result", "Step", "DedupStep", "IndexDup",
           "make_step", "step_table", "rank_order", "check_consistent", "normalize",
           "strip_code_and_urls", "is_cjk_lang", "text_lang", "letters", "first_sentence"]
