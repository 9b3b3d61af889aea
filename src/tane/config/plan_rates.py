"""Counts measured on real runs, per method, mode and model class: what a first plan
(no earlier run in its directory) estimates a stage's drops and calls from.

Written by ``python bench/plan_rates.py``, which runs recipes on the embedded model and
sums each stage's :meth:`~tane.config.base.StageBase.measure` under
``method/mode/model class``; edit that bench, not this file.
"""

from __future__ import annotations

MEASURED: dict[str, object] = {}

COUNTS: dict[str, dict[str, float]] = {}
