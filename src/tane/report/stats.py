"""``tane stats``: what a dataset looks like, in numbers (report.json) and charts (PNG).

Input: a run directory (``dataset.jsonl`` and, when present, ``rejected.jsonl`` and
``stats.json``) or a JSONL file of records / rows with instruction, input, output (a
``NAME.rejected.jsonl`` beside it, as ``tane dedup``/``tane curate`` write, is read too).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tane.config.judge import JudgeStep
from tane.curate.langid import detect
from tane.errors import TaneError
from tane.provenance import Provenance
from tane.report import verbs
from tane.store.files import read_jsonl

LENGTH_FIELDS = ("instruction", "input", "output")
CHAR_LANGS = frozenset({"ja", "zh", "ko"})  # lengths in characters; else in words
DUP_THRESHOLD = 0.7


@dataclass
class DatasetStats:
    source: dict[str, Any]
    report: dict[str, Any]
    # per language -> field -> list of lengths (for the charts)
    lengths_raw: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def _read_jsonl(path: Path) -> list[dict]:
    return [row for row in read_jsonl(path) if isinstance(row, dict)]


def load_dataset(path: Path) -> tuple[list[dict], list[dict], dict | None, dict[str, Any]]:
    """(rows, rejected rows, stats.json or None, source description) for a run dir/file."""
    path = Path(path)
    if path.is_dir():
        data = path / "dataset.jsonl"
        if not data.exists():
            raise TaneError(f"no dataset.jsonl in {path}", path=str(path))
        rej = path / "rejected.jsonl"
        st = path / "stats.json"
        default_out = path / "stats"
    elif path.is_file():
        data = path
        rej = path.with_name(path.stem + ".rejected.jsonl")
        st = path.with_name("stats.json") if (path.name == "dataset.jsonl") else None
        if path.name == "dataset.jsonl" and not rej.exists():
            rej = path.with_name("rejected.jsonl")  # a run directory's file named directly
        default_out = path.parent / "stats"
    else:
        raise TaneError(f"not found: {path}", path=str(path))
    rows = _read_jsonl(data)
    rejected = _read_jsonl(rej) if rej.exists() else []
    stats_json = None
    if st is not None and st.exists():
        try:
            stats_json = json.loads(st.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            stats_json = None
    source = {"dataset": str(data), "rejected": str(rej) if rej.exists() else None,
              "stats_json": str(st) if st is not None and st.exists() else None,
              "default_out": str(default_out)}
    return rows, rejected, stats_json, source


def _text(row: dict, key: str) -> str:
    v = row.get(key)
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _length(text: str, lang: str) -> int:
    return len(text) if lang in CHAR_LANGS else len(text.split())


def describe(values: list[int]) -> dict[str, Any]:
    """min, quartiles, mean, max (and n, empty) of a list of lengths."""
    if not values:
        return {"n": 0}
    v = sorted(values)
    if len(v) >= 2:
        q1, q2, q3 = statistics.quantiles(v, n=4, method="inclusive")
    else:
        q1 = q2 = q3 = float(v[0])
    return {"n": len(v), "empty": sum(1 for x in v if x == 0), "min": v[0],
            "q1": round(q1, 2), "median": round(q2, 2), "q3": round(q3, 2),
            "mean": round(statistics.fmean(v), 2), "max": v[-1]}


def _counter_dict(c: Counter) -> dict[str, int]:
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def duplicate_clusters(texts: list[str], threshold: float = DUP_THRESHOLD,
                       top: int = 10, samples: int = 3) -> dict[str, Any]:
    """Greedy ROUGE-L clusters: a text joins the cluster of the earlier kept text it
    matches best with F > threshold (the NoveltyIndex rule), else starts its own."""
    from tane.curate.rouge import NoveltyIndex

    index = NoveltyIndex("auto", threshold=threshold, top_k=1)
    results = index.check_batch_and_add(texts, keys=list(range(len(texts))))
    members: dict[int, list[tuple[int, float]]] = {}
    for i, res in enumerate(results):
        if not res.keep and res.top:
            rep, score = res.top[0]
            members.setdefault(int(rep), []).append((i, round(score, 4)))
    clusters = [{"size": 1 + len(m), "representative_index": rep,
                 "representative": texts[rep],
                 "samples": [{"index": j, "text": texts[j], "rouge_l": s}
                             for j, s in m[:samples]]}
                for rep, m in members.items()]
    clusters.sort(key=lambda c: (-c["size"], c["representative_index"]))
    return {"threshold": threshold, "tokenizer": index.tokenizer_name,
            "n_clusters": len(clusters),
            "n_duplicates": sum(c["size"] - 1 for c in clusters),
            "clusters": clusters[:top]}


CUT = "over_target"  # records made beyond the target: cut in order, not for their quality


def drop_reasons(rejected: list[dict], stats_json: dict | None) -> dict[str, Any]:
    """The drops by reason and by stage, from the rejected file and from stats.json;
    ``over_target`` apart (``over_target``: total and by stage), as it is no quality
    drop."""
    by_reason: Counter = Counter()
    by_stage: dict[str, Counter] = {}
    cut: Counter = Counter()
    for r in rejected:
        d = r.get("_drop") if isinstance(r.get("_drop"), dict) else r
        reason = str(d.get("reason") or "unknown")
        stage = str(d.get("stage") or r.get("stage") or "-")
        if reason == CUT:
            cut[stage] += 1
            continue
        by_reason[reason] += 1
        by_stage.setdefault(stage, Counter())[reason] += 1
    out: dict[str, Any] = {"rejected_total": sum(by_reason.values()),
                           "rejected_by_reason": _counter_dict(by_reason),
                           "rejected_by_stage": {s: _counter_dict(c)
                                                 for s, c in by_stage.items()}}
    if stats_json and isinstance(stats_json.get("stages"), dict):
        out["stats_json_by_stage"] = {
            name: {k: v for k, v in (s.get("dropped") or {}).items() if k != CUT}
            for name, s in stats_json["stages"].items() if isinstance(s, dict)}
        if not rejected:  # the counts of the run itself, when its rejected file is gone
            for name, s in stats_json["stages"].items():
                n = (s.get("dropped") or {}).get(CUT, 0) if isinstance(s, dict) else 0
                if n:
                    cut[name] += int(n)
        llm = stats_json.get("llm") or {}
        if llm.get("failures"):
            out["llm_failures"] = dict(llm["failures"])
    out[CUT] = {"total": sum(cut.values()), "by_stage": _counter_dict(cut),
                "note": "records made beyond the target and cut in order: not a quality drop"}
    return out


def _grid_coverage(rows: list[dict], rejected: list[dict], source: dict | None):
    """Per-cell coverage when the records came from a requirement grid (else None)."""
    from tane.report.coverage import grid_coverage

    ds = (source or {}).get("dataset")
    run_dir = Path(ds).parent if ds and Path(ds).name == "dataset.jsonl" else None
    return grid_coverage(rows, rejected, run_dir)


def compute_stats(rows: list[dict], rejected: list[dict] | None = None,
                  stats_json: dict | None = None, field: str = "instruction",
                  top_verbs: int = 20, source: dict | None = None) -> DatasetStats:
    """All the numbers of the report (no printing, no files)."""
    by_method: Counter = Counter()
    by_category: Counter = Counter()
    by_lang: Counter = Counter()
    lengths: dict[str, dict[str, list[int]]] = {}
    en_verbs: Counter = Counter()
    en_pairs: Counter = Counter()
    ja_preds: Counter = Counter()
    texts = []
    for row in rows:
        prov = Provenance.of_row(row)
        by_method[prov.made_by().method or str(row.get("method") or "unknown")] += 1
        verdict = prov.step(JudgeStep)
        by_category[(verdict.category if verdict else None) or "unscored"] += 1
        text = _text(row, field)
        texts.append(text)
        lang = detect(text)[0]
        by_lang[lang] += 1
        per = lengths.setdefault(lang, {f: [] for f in LENGTH_FIELDS})
        for f in LENGTH_FIELDS:
            per[f].append(_length(_text(row, f), lang))
        if lang == "en":
            got = verbs.en_leading_verb(text)
            if got:
                en_verbs[got[0]] += 1
                if got[1]:
                    en_pairs[f"{got[0]} {got[1]}"] += 1
        elif lang == "ja":
            pred = verbs.ja_predicate(text)
            if pred:
                ja_preds[pred] += 1
    report: dict[str, Any] = {
        "n_records": len(rows),
        "field": field,
        "counts": {"method": _counter_dict(by_method),
                   "category": _counter_dict(by_category),
                   "language": _counter_dict(by_lang)},
        "lengths": {lang: {"unit": "chars" if lang in CHAR_LANGS else "words",
                           **{f: describe(v) for f, v in per.items()}}
                    for lang, per in sorted(lengths.items())},
        "leading_verbs": {
            "ja": {"method": verbs.ja_method(),
                   "note": "final predicate, dictionary form with fugashi, "
                           "surface form with the regex fallback",
                   "top": [{"verb": k, "count": n} for k, n in ja_preds.most_common(top_verbs)]},
            "en": {"method": "heuristic (no parser): first word of the imperative and the "
                             "next noun-like word",
                   "top": [{"verb": k, "count": n} for k, n in en_verbs.most_common(top_verbs)],
                   "top_verb_object": [{"pair": k, "count": n}
                                       for k, n in en_pairs.most_common(top_verbs)]},
        },
        "duplicates": duplicate_clusters(texts),
        "drops": drop_reasons(rejected or [], stats_json),
    }
    cov = _grid_coverage(rows, rejected or [], source)
    if cov is not None:
        report["grid_coverage"] = cov
    from tane.report.sampled_coverage import sampled_coverage

    ds = (source or {}).get("dataset")
    sampled = sampled_coverage(rows, rejected or [], Path(ds).parent if ds and Path(ds).name
                               == "dataset.jsonl" else None)
    if sampled is not None:
        report["sampled_coverage"] = sampled
    return DatasetStats(source=source or {}, report=report, lengths_raw=lengths)


def write_report(st: DatasetStats, out_dir: Path, charts: bool = True) -> dict[str, Any]:
    """Write report.json (and the PNG charts when matplotlib is there) into out_dir.

    Returns {"report": path, "charts": [paths], "charts_error": str|None, "font": {...}}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"charts": [], "charts_error": None, "font": None}
    if charts:
        try:
            from tane.report import charts as ch
        except ImportError:
            info["charts_error"] = ("charts need matplotlib: pip install 'tane[report]'")
        else:
            info["font"], info["charts"] = ch.draw_all(st, out_dir)
    else:
        info["charts_error"] = "charts disabled"
    payload = {"source": st.source, **st.report,
               "charts": [str(Path(p).name) for p in info["charts"]],
               "charts_error": info["charts_error"], "font": info["font"]}
    path = out_dir / "report.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    info["report"] = path
    return info


def print_report(st: DatasetStats, info: dict[str, Any] | None, console) -> None:
    """Rich tables of the report on `console`."""
    from rich.table import Table

    rep = st.report
    ids = ((info or {}).get("font") or {}).get("label_ids") or {}

    def lbl(s: str) -> str:
        return f"{s} ({ids[s]})" if s in ids else s

    console.print(f"{rep['n_records']} records from {st.source.get('dataset', '?')}",
                  highlight=False)
    for key in ("method", "category", "language"):
        counts = rep["counts"][key]
        if len(counts) <= 1:  # one value: a line, not a table of one row
            for k, n in counts.items():
                console.print(f"{key}: {lbl(k)} ({n} records)", highlight=False)
            continue
        t = Table(title=f"by {key}")
        t.add_column(key)
        t.add_column("records", justify="right")
        for k, n in counts.items():
            t.add_row(lbl(k), str(n))
        console.print(t)
    t = Table(title="lengths (ja/zh/ko: characters, else words)")
    for col in ("lang", "field", "unit", "n", "empty", "min", "q1", "median", "q3",
                "mean", "max"):
        t.add_column(col, justify="left" if col in ("lang", "field", "unit") else "right")
    for lang, per in rep["lengths"].items():
        for f in LENGTH_FIELDS:
            d = per[f]
            t.add_row(lang, f, per["unit"], *[str(d.get(c, "-")) for c in
                                              ("n", "empty", "min", "q1", "median", "q3",
                                               "mean", "max")])
    console.print(t)
    lv = rep["leading_verbs"]
    if lv["ja"]["top"]:
        t = Table(title=f"final predicates (ja, {lv['ja']['method']})")
        t.add_column("predicate")
        t.add_column("records", justify="right")
        for x in lv["ja"]["top"]:
            t.add_row(lbl(x["verb"]), str(x["count"]))
        console.print(t)
    t = Table(title="leading verbs (en, heuristic: first word + next noun-like word)")
    t.add_column("verb")
    t.add_column("records", justify="right")
    t.add_column("verb + object")
    t.add_column("records", justify="right")
    pairs = lv["en"]["top_verb_object"]
    if not lv["en"]["top"]:
        t = None
    for i in range(max(len(lv["en"]["top"]), len(pairs))):
        v = lv["en"]["top"][i] if i < len(lv["en"]["top"]) else None
        p = pairs[i] if i < len(pairs) else None
        t.add_row(v["verb"] if v else "", str(v["count"]) if v else "",
                  p["pair"] if p else "", str(p["count"]) if p else "")
    if t is not None:
        console.print(t)
    dup = rep["duplicates"]
    t = Table(title=f"duplicate clusters (greedy ROUGE-L > {dup['threshold']}, "
                    f"tokenizer {dup['tokenizer']}): {dup['n_clusters']} clusters, "
                    f"{dup['n_duplicates']} duplicates")
    t.add_column("size", justify="right")
    t.add_column("representative")
    t.add_column("sample (ROUGE-L)")
    for c in dup["clusters"]:
        s = c["samples"][0] if c["samples"] else None
        t.add_row(str(c["size"]), c["representative"][:60],
                  f"{s['text'][:60]} ({s['rouge_l']})" if s else "")
    console.print(t)
    print_drops(rep["drops"], lbl, console)
    if rep.get("grid_coverage"):
        from tane.report.coverage import print_coverage

        print_coverage(rep["grid_coverage"], console)
    if rep.get("sampled_coverage"):
        from tane.report.sampled_coverage import print_sampled_coverage

        print_sampled_coverage(rep["sampled_coverage"], console)


def print_drops(drops: dict[str, Any], lbl, console) -> None:
    """One row per stage and reason: the rejected file's count, and stats.json's beside
    it only where the two differ; then the records cut by the target, on a line."""
    from rich.table import Table

    ours = drops["rejected_by_stage"]
    theirs = drops.get("stats_json_by_stage") or {}
    keys = [(s, r) for s, c in ours.items() for r in c]
    keys += [(s, r) for s, c in theirs.items() for r in c if (s, r) not in set(keys)]
    differ = any(ours.get(s, {}).get(r, 0) != theirs.get(s, {}).get(r, 0)
                 for s, r in keys) if theirs and ours else False
    if keys:
        where = "rejected file" if ours else "stats.json"
        total = drops["rejected_total"] or sum(sum(c.values()) for c in theirs.values())
        t = Table(title=f"drops ({total} in the {where})")
        t.add_column("stage")
        t.add_column("reason")
        t.add_column("count", justify="right")
        if differ:
            t.add_column("stats.json", justify="right")
        for s, r in keys:
            n = ours.get(s, {}).get(r, 0) if ours else theirs.get(s, {}).get(r, 0)
            cells = [s, lbl(r), str(n)]
            if differ:
                cells.append(str(theirs.get(s, {}).get(r, 0)))
            t.add_row(*cells)
        console.print(t)
    cut = drops.get(CUT) or {}
    if cut.get("total"):
        where = ", ".join(f"{s} {n}" for s, n in cut["by_stage"].items())
        console.print(f"{CUT}: {cut['total']} records made beyond the target and cut in "
                      f"order ({where}): not a quality drop", highlight=False)
