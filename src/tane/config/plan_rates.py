"""Counts measured on real runs, per method, mode and model class: what a first plan
(no earlier run in its directory) estimates a stage's drops and calls from.

Written by ``python bench/plan_rates.py``, which runs recipes on the embedded model and
sums each stage's :meth:`~tane.config.base.StageBase.measure` under
``method/mode/model class``; edit that bench, not this file.
"""

from __future__ import annotations

MEASURED: dict[str, object] = {
    'runs': ['recipes/quickstart.yaml:8', 'recipes/curate_judge_ja.yaml:2'],
    'machine': '2 cores, 3.1 tok/s single-thread decode (bench/threads.py), load average 8.8',
    'when': '2026-12-07',
}

COUNTS: dict[str, dict[str, float]] = {
    'answer/ja/tiny':
        {'calls': 31.0, 'passed': 31.0, 'records_in': 31.0},
    'curate/ja/tiny':
        {'dropped:copies': 2.0,
         'dropped:length': 0.0,
         'dropped:mixed_language': 3.0,
         'dropped:repetition': 10.0,
         'dropped:target': 6.0,
         'reached:copies': 29.0,
         'reached:length': 29.0,
         'reached:mixed_language': 17.0,
         'reached:repetition': 27.0,
         'reached:target': 14.0},
    'judge/ja/tiny':
        {'calls': 2.0, 'passed': 2.0, 'records_in': 2.0},
    'self_instruct/ja/tiny':
        {'checked': 59.0, 'prompts': 22.0, 'records': 31.0, 'tasks': 31.0},
}
