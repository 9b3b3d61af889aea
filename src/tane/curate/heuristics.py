"""Curation steps, under their earlier module name: the steps live in
``tane.curate.steps`` (one module per step family; the registry is ``steps.STEPS``)."""

from __future__ import annotations

from tane.curate.steps import STEPS, DedupStep, Fields, IndexDup, Params, Result, Step, \
    check_consistent, first_sentence, is_cjk_lang, letters, make_step, normalize, \
    rank_order, step_table, strip_code_and_urls, text_lang
from tane.curate.steps.dedup_steps import EmbeddingDup, ExactDup, MinHashDup, NearDup
from tane.curate.steps.echo import MetaText, RestatesQuestion, SeedCopy
from tane.curate.steps.length import Length
from tane.curate.steps.refusal import Refusal
from tane.curate.steps.repetition import Repetition
from tane.curate.steps.script import ChineseDrift, Language, MixedLanguage, ScriptRatio
from tane.curate.steps.truncated import Truncated

__all__ = ["STEPS", "Fields", "Params", "Result", "Step", "DedupStep", "IndexDup",
           "make_step", "step_table", "rank_order", "check_consistent", "normalize",
           "strip_code_and_urls", "is_cjk_lang", "text_lang", "letters", "first_sentence",
           "Length", "ScriptRatio", "MixedLanguage", "ChineseDrift", "Repetition",
           "Truncated", "RestatesQuestion", "MetaText", "Refusal", "SeedCopy", "ExactDup",
           "NearDup", "MinHashDup", "EmbeddingDup", "Language"]
