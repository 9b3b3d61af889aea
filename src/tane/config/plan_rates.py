"""Counts measured on real runs, per method, mode and model class: what a first plan
(no earlier run in its directory) estimates a stage's drops and calls from.

Written by ``python bench/plan_rates.py``, which runs recipes on the embedded model and
sums each stage's :meth:`~tane.config.base.StageBase.measure` under
``method/mode/model class``; edit that bench, not this file.
"""

from __future__ import annotations

MEASURED: dict[str, object] = {
    'runs': ['recipes/quickstart.yaml:8', 'recipes/curate_judge_ja.yaml:2'],
    'machine': ('2 cores, 3.1 tok/s single-thread decode (bench/threads.py, load 9.7); '
                'runs under other work, load average 4 to 9'),
    'when': '2026-12-07',
}

COUNTS: dict[str, dict[str, float]] = {
    'answer/ja/tiny':
        {'calls': 21.0, 'passed': 20.0, 'records_in': 21.0},
    'curate/ja/tiny':
        {'dropped:copies': 0.0,
         'dropped:length': 0.0,
         'dropped:mixed_language': 2.0,
         'dropped:repetition': 8.0,
         'dropped:target': 0.0,
         'reached:copies': 18.0,
         'reached:length': 18.0,
         'reached:mixed_language': 10.0,
         'reached:repetition': 18.0,
         'reached:target': 8.0},
    'judge/ja/tiny':
        {'calls': 2.0, 'passed': 2.0, 'records_in': 2.0},
    'self_instruct/ja/tiny':
        {'checked': 46.0, 'prompts': 23.0, 'records': 21.0, 'tasks': 21.0},
}
