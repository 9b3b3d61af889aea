"""Coverage of sampled values (grid axes and ``context:`` drawn per item): per axis and
value, records kept and dropped, their share of the kept records, and the share the
recipe's weights expect.

- kept: ``dataset.jsonl`` records whose provenance names ``sampled`` values (the
  generator's) or whose steps do (a transform's ``context``);
- dropped: ``rejected.jsonl`` rows whose detail names ``sampled``;
- expected: the recipe in ``manifest.json`` (weights of values and subcategories; the
  rows of a file are equally likely unless a weight column says otherwise, and are not
  listed; how many rows a file has comes from the records' ``sampled_files``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tane.config.context import SampledOrigin, SampledStep
from tane.provenance import Provenance


def _expected(run_dir: Path | None) -> dict[str, dict[str, float]]:
    """axis -> value label -> expected share, from the recipe's sampled values."""
    if run_dir is None:
        return {}
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    from tane.config.context import SampledAxis, is_sampled

    out: dict[str, dict[str, float]] = {}
    for stage in (manifest.get("recipe") or {}).get("stages") or []:
        if not isinstance(stage, dict):
            continue
        specs = dict(stage.get("axes") or {}) | dict(stage.get("context") or {})
        for axis, spec in specs.items():
            if not is_sampled(spec):
                continue
            try:
                ax = SampledAxis.model_validate(spec)
            except ValueError:
                continue
            if not ax.values:
                continue
            total = sum(c.weight for c in ax.values.values())
            shares: dict[str, float] = {}
            for name, c in ax.values.items():
                p = c.weight / total
                if c.values:
                    sub = sum(c.values.values())
                    shares |= {f"{name}/{s}": p * w / sub for s, w in c.values.items()}
                else:
                    shares[name] = p
            out[axis] = shares
    return out


def _sampled(prov: Provenance) -> dict[str, str]:
    out = dict(prov.origin(SampledOrigin).sampled)
    for step in prov.steps_as(SampledStep):
        out |= step.sampled
    return {str(a): str(v) for a, v in out.items()}


def sampled_coverage(rows: list[dict], rejected: list[dict],
                     run_dir: Path | None) -> dict[str, Any] | None:
    """The report, or None when no record or drop names a sampled value."""
    kept: dict[str, Counter] = {}
    dropped: dict[str, Counter] = {}
    file_rows: dict[str, int] = {}  # axis -> rows of its file (provenance's sampled_files)
    for r in rows:
        prov = Provenance.of_row(r)
        for axis, value in _sampled(prov).items():
            kept.setdefault(axis, Counter())[value] += 1
        for axis, f in prov.origin(SampledOrigin).sampled_files.items():
            if isinstance(f.get("rows"), int):
                file_rows[str(axis)] = f["rows"]
    for row in rejected:
        d = row.get("_drop") if isinstance(row.get("_drop"), dict) else row
        detail = d.get("detail") if isinstance(d.get("detail"), dict) else {}
        if isinstance(detail.get("sampled"), dict):
            for axis, value in detail["sampled"].items():
                dropped.setdefault(str(axis), Counter())[str(value)] += 1
    if not kept and not dropped:
        return None
    expected = _expected(run_dir)
    axes: dict[str, Any] = {}
    for axis in sorted(set(kept) | set(dropped)):
        k, dr, exp = kept.get(axis, Counter()), dropped.get(axis, Counter()), \
            expected.get(axis, {})
        n = sum(k.values())
        values = list(exp) + sorted((set(k) | set(dr)) - set(exp))
        axes[axis] = {
            "kept": n, "declared": len(exp) or file_rows.get(axis), "seen": sum(1 for v in values if k[v]),
            "values": [{"value": v, "kept": k[v], "dropped": dr[v],
                        "share": round(k[v] / n, 4) if n else 0.0,
                        "expected_share": round(exp[v], 4) if v in exp else None}
                       for v in values]}
    return {"axes": axes, "source": "dataset.jsonl + rejected.jsonl"
                                     + (" + manifest.json" if expected else "")}


def print_sampled_coverage(cov: dict[str, Any], console, limit: int = 30) -> None:
    from rich.table import Table

    for axis, a in cov["axes"].items():
        of = f" of {a['declared']} declared" if a["declared"] else ""
        t = Table(title=f"sampled {axis}: {a['seen']} values seen{of}, {a['kept']} kept")
        for col in (axis, "kept", "share", "expected", "dropped"):
            t.add_column(col, justify="left" if col == axis else "right")
        rows = sorted(a["values"], key=lambda v: -v["kept"]) if not a["declared"] \
            else a["values"]
        for v in rows[:limit]:
            t.add_row(v["value"], str(v["kept"]), f"{v['share']:.0%}",
                      "" if v["expected_share"] is None else f"{v['expected_share']:.0%}",
                      str(v["dropped"]))
        if len(rows) > limit:
            t.add_row(f"(and {len(rows) - limit} more)", "", "", "", "")
        console.print(t)
