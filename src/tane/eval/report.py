"""``tane eval report``: the numbers, the claims and the items worth a second look.

:func:`write_report` reads an eval directory (``eval.json``, ``items.jsonl``,
``answers.jsonl``, ``grades.jsonl``, ``comparisons.jsonl``; any of them may be missing,
each missing one is a one-line note) and writes into ``EVALDIR/report/``:

* ``report.json`` -- every figure below, deterministic for a given seed;
* ``report.md`` -- tables per model and per category, the claims with their intervals
  (:mod:`.report_md`);
* PNG plots -- mean scores with their intervals per judge, win rates per category per
  compared pair (:mod:`.report_plots`; skipped with a note without matplotlib);
* ``disagreements.xlsx`` -- items whose verdict changed with the order, and items two
  judges scored or decided differently (:mod:`.report_xlsx`).

How the figures are made (the statistics are in :mod:`.stats`):

* *Scores.* Per judge and scale, an item's score for a model is the mean of its graded
  turns; an item counts only when every graded turn has a score (a turn whose grade could
  not be parsed or failed leaves the item out, and is counted). Means carry a bootstrap
  95% interval over items. Each pair of models is compared on the items both have, by a
  paired bootstrap of the difference; "higher" is claimed only when the interval
  excludes 0.
* *Pairwise.* Per (a, b, judge): win/tie/loss of the final verdict (the MT-Bench rule:
  a verdict that changes with the order is a tie), the adjusted win rate with its
  interval, the position-consistency rate, and the length-controlled win rate. "Better"
  is claimed only when the win-rate interval excludes 50%.
* *Judges.* Parse-failure and error rates per judge; for two judges that graded the same
  answers, Cohen's weighted kappa (quadratic and linear, on the judges' common scale) and
  Spearman's rho over the (item, model, turn) grades both scored. Two judges disagree on
  a grade when their scores differ by at least 2 points on a 1-5 scale (3 on 1-10).
  Each judge is named with the model behind it (eval.json).
* *Warnings* (``report.json`` ``warnings``, first in report.md, printed by the command):
  figures on fewer than :data:`MIN_ITEMS` items; a length-controlled rate withheld below
  :data:`MIN_LC_ITEMS` items; a judge whose scores (or verdicts) never vary.

Why those sample sizes. A percentile bootstrap interval is too narrow on few items: in a
simulation of 1-5 scores (1,500 samples of each size, this module's bootstrap) the nominal
95% interval held the true mean 51% of the time on 2 items, 83% on 5, 90% on 10 and 93%
on 20. Below 20 items the intervals, and the claims made from them, are read as
anecdotes. The length-controlled rate (:mod:`.lc`) is a logistic model with three
coefficients per model (intercept, length, position; a fourth, difficulty, in the joint
and table variants); the usual rule of at least ten observations per coefficient, counting
items (an item's two orders are not independent), gives 30 items. Below that the length
coefficient rests on a handful of items and the rate can land anywhere (on 2 items: 11.2%
against a raw 75%), so it is not reported.

*Language* (:mod:`.language`): on a Japanese benchmark, answers in English or Chinese per
model, scored as failures with ``ja_min``. *Peer files* (:mod:`.peer_files`): the grades
as flexeval and Shaberi write them, with their plain mean.
"""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..store.files import atomic_write
from . import language as LANG
from . import lc as L
from . import stats as S
from . import weighted as W
from .report_load import ANSWERS, COMPARISONS, GRADES, ITEMS, load, read_difficulty
from .report_md import judge_label, judge_words

NO_CATEGORY = "(none)"
MIN_ITEMS = 20     # fewer items: a warning that the intervals are too narrow (module doc)
MIN_LC_ITEMS = 30  # fewer items: no length-controlled rate (module doc)
LC_RATIO = (0.6, 1.6)  # length ratios outside: the minimal LC variant is warned about


def disagreement_threshold(scale: int) -> int:
    """Score gap at which two judges disagree: 2 on a 1-5 scale, 3 on a 1-10 scale."""
    return 2 if scale <= 5 else 3


# -- answers -------------------------------------------------------------------------------
def answers_section(rows: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        per[r["model"]].append(r)
    out = {}
    for model in sorted(per):
        rs = per[model]
        failed = [r for r in rs if r.get("error") or r.get("turns") is None]
        ok = [r for r in rs if r not in failed]
        cut = sum(1 for r in ok if r.get("finish_reason") == "length")
        out[model] = {"answers": len(rs), "errors": len(failed),
                      "error_rate": S.rate(len(failed), len(rs)),
                      "cut_by_length": cut,
                      "length_chars": S.length_stats([int(r.get("chars") or 0) for r in ok])}
    return out


# -- grades --------------------------------------------------------------------------------
def _item_scores(rows: list[dict[str, Any]]) -> tuple[dict[str, float], int, dict[int, list]]:
    """One model's rows of one judge and scale -> ({item: mean turn score}, items left
    out, {turn: [scores]})."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_item[r["item_id"]].append(r)
    scores, left_out, turns = {}, 0, defaultdict(list)
    for item, rs in by_item.items():
        ok = [r for r in rs if r["status"] == "ok" and r.get("score") is not None]
        for r in ok:
            turns[int(r["turn"])].append(float(r["score"]))
        if len(ok) == len(rs):
            scores[item] = sum(float(r["score"]) for r in ok) / len(ok)
        else:
            left_out += 1
    return scores, left_out, turns


def grades_section(rows: list[dict[str, Any]], category: dict[str, str], n_boot: int,
                   seed: int) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["judge"], int(r["scale"]))].append(r)
    out = []
    for (judge, scale), rs in sorted(groups.items()):
        per_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rs:
            per_model[r["model"]].append(r)
        models, item_scores = {}, {}
        for model in sorted(per_model):
            sc, left_out, turns = _item_scores(per_model[model])
            item_scores[model] = sc
            cats: dict[str, list[float]] = defaultdict(list)
            for item in sorted(sc):
                cats[category.get(item, NO_CATEGORY)].append(sc[item])
            mrows = per_model[model]
            models[model] = {
                **S.bootstrap_mean([sc[i] for i in sorted(sc)], n_boot, seed),
                "items_left_out": left_out,
                "grades": len(mrows),
                "parse_failed": sum(1 for r in mrows if r["status"] == "parse_failed"),
                "errors": sum(1 for r in mrows if r["status"] == "error"),
                "by_turn": {str(t): S.bootstrap_mean(v, n_boot, seed)
                            for t, v in sorted(turns.items())},
                "by_category": {c: S.bootstrap_mean(v, n_boot, seed)
                                for c, v in sorted(cats.items())},
            }
            expected = W.expected_section(mrows, n_boot, seed)
            if expected is not None:
                models[model]["expected"] = expected
        diffs = []
        for a, b in combinations(sorted(item_scores), 2):
            common = sorted(set(item_scores[a]) & set(item_scores[b]))
            d = S.paired_difference([item_scores[a][i] for i in common],
                                    [item_scores[b][i] for i in common], n_boot, seed)
            better = {"a": a, "b": b}.get(d.pop("better") or "")
            diffs.append({"a": a, "b": b, **d, "better": better})
        out.append({"judge": judge, "scale": scale, "models": models, "differences": diffs})
    return out


def judges_section(grades: list[dict[str, Any]] | None, comps: list[dict[str, Any]] | None
                   ) -> dict[str, Any]:
    """Parse-failure and error rates per judge, for grades and for comparisons."""
    out: dict[str, Any] = {}
    for kind, rows in (("grades", grades), ("comparisons", comps)):
        per: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows or []:
            per[r["judge"]].append(r)
        for judge, rs in sorted(per.items()):
            pf = sum(1 for r in rs if r.get("status") == "parse_failed")
            err = sum(1 for r in rs if r.get("status") == "error")
            out.setdefault(judge, {})[kind] = {
                "n": len(rs), "parse_failed": pf, "errors": err,
                "retried": sum(1 for r in rs if r.get("retried")),
                "parse_failure_rate": S.rate(pf, len(rs)), "error_rate": S.rate(err, len(rs))}
    return out


def agreement_section(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict]]:
    """Agreement of every two judges over the grades both scored; and the grades where
    they disagree (for the workbook)."""
    by_judge: dict[str, dict[tuple, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        if r["status"] == "ok" and r.get("score") is not None:
            by_judge[r["judge"]][(r["item_id"], r["model"], int(r["turn"]))] = r
    out, disagree = [], []
    for j1, j2 in combinations(sorted(by_judge), 2):
        keys = sorted(set(by_judge[j1]) & set(by_judge[j2]))
        if not keys:
            continue
        g1 = [by_judge[j1][k] for k in keys]
        g2 = [by_judge[j2][k] for k in keys]
        s1 = [int(g["score"]) for g in g1]
        s2 = [int(g["score"]) for g in g2]
        scales = {int(g["scale"]) for g in g1 + g2}
        entry: dict[str, Any] = {"judge_1": j1, "judge_2": j2, "n": len(keys),
                                 "scale": scales.pop() if len(scales) == 1 else None,
                                 "kappa_quadratic": None, "kappa_linear": None,
                                 "spearman": S.spearman(s1, s2),
                                 "exact_agreement": S.rate(sum(a == b for a, b in zip(s1, s2)),
                                                           len(keys))}
        if entry["scale"]:
            cats = range(1, entry["scale"] + 1)
            entry["kappa_quadratic"] = S.weighted_kappa(s1, s2, cats, "quadratic")
            entry["kappa_linear"] = S.weighted_kappa(s1, s2, cats, "linear")
        out.append(entry)
        for k, a, b, x, y in zip(keys, g1, g2, s1, s2):
            if abs(x - y) >= disagreement_threshold(max(int(a["scale"]), int(b["scale"]))):
                disagree.append({"item_id": k[0], "model": k[1], "turn": k[2],
                                 "judge_1": j1, "score_1": x, "raw_1": a.get("raw", ""),
                                 "judge_2": j2, "score_2": y, "raw_2": b.get("raw", "")})
    return out, disagree


# -- comparisons ---------------------------------------------------------------------------
def comparisons_section(rows: list[dict[str, Any]], category: dict[str, str], n_boot: int,
                        seed: int, difficulty: dict[str, float] | None = None
                        ) -> tuple[list[dict[str, Any]], list[dict], list[dict]]:
    """Per (a, b, judge): summary, position consistency, LC win rate, per category; and
    the rows whose verdict changed with the order, and pairs two judges decided
    oppositely (for the workbook)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["a"], r["b"], r["judge"])].append(r)
    out, flipped, lc_obs = [], [], {}
    for (a, b, judge), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: str(r["item_id"]))
        finals = [r.get("final") for r in rs]
        summary = S.pairwise_summary(finals, n_boot, seed)
        better = {"a": a, "b": b}.get(summary.pop("better") or "")
        cons = S.position_consistency([r.get("ab") for r in rs], [r.get("ba") for r in rs])
        obs, delta = [], {}
        for r in rs:
            delta[r["item_id"]] = float(r.get("len_a") or 0) - float(r.get("len_b") or 0)
            if r.get("ab") is None and r.get("ba") is None:
                obs.append((r["item_id"], r.get("final"), 0.0))
            else:
                obs += [(r["item_id"], r.get("ab"), 1.0), (r["item_id"], r.get("ba"), -1.0)]
        lc_obs[(a, b, judge)] = (obs, delta)
        cats: dict[str, list] = defaultdict(list)
        for r in rs:
            cats[category.get(r["item_id"]) or r.get("category") or NO_CATEGORY].append(
                r.get("final"))
        by_cat = {}
        for c, v in sorted(cats.items()):
            s = S.pairwise_summary(v, n_boot, seed)
            s.pop("better")
            by_cat[c] = s
        statuses = defaultdict(int)
        for r in rs:
            statuses[r.get("status") or "ok"] += 1
        out.append({"a": a, "b": b, "judge": judge, **summary, "better": better,
                    "position_consistency": cons, "length_controlled": None,
                    "mean_len_a": S.length_stats([int(r.get("len_a") or 0) for r in rs])["mean"],
                    "mean_len_b": S.length_stats([int(r.get("len_b") or 0) for r in rs])["mean"],
                    "status": dict(sorted(statuses.items())), "by_category": by_cat})
        flipped += [r for r in rs if r.get("ab") is not None and r.get("ba") is not None
                    and r["ab"] != r["ba"]]
    lcs = length_controlled(lc_obs, n_boot, seed, difficulty)
    for p in out:
        la, lb = p["mean_len_a"], p["mean_len_b"]
        p["length_controlled"] = lcs[(p["a"], p["b"], p["judge"])] | {
            "length_ratio": la / lb if la is not None and lb else None}
    # two judges, same pair and item, opposite final verdicts
    by_pair: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        if r.get("final") is not None:
            by_pair[(r["item_id"], r["a"], r["b"])][r["judge"]] = r
    opposite = []
    for (item, a, b), per in sorted(by_pair.items(), key=lambda kv: tuple(map(str, kv[0]))):
        for j1, j2 in combinations(sorted(per), 2):
            f1, f2 = per[j1]["final"], per[j2]["final"]
            if {f1, f2} == {"a", "b"}:
                opposite.append({"item_id": item, "a": a, "b": b, "judge_1": j1, "final_1": f1,
                                 "judge_2": j2, "final_2": f2})
    return out, flipped, opposite


def length_controlled(pairs: dict[tuple[str, str, str], tuple[list, dict[Any, float]]],
                      n_boot: int, seed: int, difficulty: dict[str, float] | None = None
                      ) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The length-controlled win rate of every compared pair (:mod:`.lc`).

    ``pairs``: (a, b, judge) -> (observations, length differences). A pair judged on fewer
    than MIN_LC_ITEMS items gets the same keys without a rate (``withheld`` says why; the
    raw rate stays). The others are fitted in groups: the pairs sharing a baseline ``b``
    and a judge (or, failing that, sharing ``a``, fitted from ``a``'s side and turned
    back) on the same items estimate the item difficulties together (variant ``joint``);
    a pair alone gets the ``minimal`` variant; with ``difficulty`` every pair gets the
    ``table`` variant.
    """
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    fit: dict[tuple[str, str, str], L.Pair] = {}
    for key, (obs, delta) in pairs.items():
        judged = [o for o in obs if o[1] is not None]
        n = len({o[0] for o in judged})
        if n >= MIN_LC_ITEMS:
            fit[key] = L.Pair.build(obs, delta)
            continue
        raw = (sum(S.VERDICT_VALUE[o[1]] for o in judged) / len(judged)) if judged else None
        out[key] = {"variant": None, "assumes": None, "win_rate": None, "lo": None,
                    "hi": None, "n_items": n, "n_obs": len(judged), "intercept": None,
                    "length_coef": None, "position_coef": None, "difficulty_coef": None,
                    "raw_win_rate": raw, "length_prior_sd": None, "models_in_fit": [],
                    "withheld": f"{n} items judged; the length model needs {MIN_LC_ITEMS}"}
    # group by shared baseline (b), then by shared a (fitted as b against a)
    by_b: dict[tuple[str, str], list] = defaultdict(list)
    by_a: dict[tuple[str, str], list] = defaultdict(list)
    for a, b, judge in fit:
        by_b[(b, judge)].append((a, b, judge))
        by_a[(a, judge)].append((a, b, judge))
    groups: list[tuple[list, bool]] = [(ks, False) for ks in by_b.values() if len(ks) > 1]
    grouped = {k for ks, _ in groups for k in ks}
    groups += [([k for k in ks if k not in grouped], True) for ks in by_a.values()
               if len([k for k in ks if k not in grouped]) > 1]
    grouped = {k for ks, _ in groups for k in ks}
    groups += [([k], False) for k in fit if k not in grouped]
    for keys, turned in groups:
        names = {(k[1] if turned else k[0]): k for k in keys}
        prs = {m: (_turn(fit[k]) if turned else fit[k]) for m, k in names.items()}
        table = ({it: difficulty[str(it)] for p in prs.values() for it in p.items}
                 if difficulty is not None else None)
        res = L.fit_models(prs, table, n_boot, seed)
        for m, k in names.items():
            r = res[m]
            if turned:
                r.update(win_rate=_one_minus(r["win_rate"]), lo=_one_minus(r["hi"]),
                         hi=_one_minus(r["lo"]), raw_win_rate=_one_minus(r["raw_win_rate"]),
                         **{c: (-r[c] if r[c] is not None else None)
                            for c in ("intercept", "length_coef", "position_coef",
                                      "difficulty_coef")})
            out[k] = r | {"withheld": None}
    return out


def _turn(p: L.Pair) -> L.Pair:
    """The same comparison seen from b's side."""
    return L.Pair(p.items, p.item, 1.0 - p.y, -p.pos, -p.delta)


def _one_minus(x: float | None) -> float | None:
    return None if x is None else 1.0 - x


# -- warnings ------------------------------------------------------------------------------
def warnings_for(rep: dict[str, Any], grades: list[dict[str, Any]] | None,
                 comps: list[dict[str, Any]] | None) -> list[str]:
    """Figures on too few items, withheld length-controlled rates, judges that never
    vary: one sentence each."""
    info = rep["judge_info"]
    out = []
    for g in rep["scores"]:
        small = {m: v["n"] for m, v in g["models"].items() if 0 < v["n"] < MIN_ITEMS}
        if small:
            out.append(f"scores by judge {judge_label(g['judge'], info)}: "
                       + ", ".join(f"{m} on {n} items" for m, n in small.items())
                       + f", fewer than {MIN_ITEMS}: their 95% intervals are too narrow "
                       "(on 2 items they hold the true mean about half the time); read "
                       "these scores and claims as anecdotes")
    for p in rep["pairwise"]:
        who = f"{p['a']} vs {p['b']} (judge {judge_words(p['judge'], info)})"
        if 0 < p["n"] < MIN_ITEMS:
            out.append(f"{who}: {p['n']} items, fewer than {MIN_ITEMS}: the win-rate "
                       "interval is too narrow; read it as an anecdote")
        lc = p["length_controlled"]
        if lc.get("withheld") and lc["n_items"]:
            out.append(f"{who}: no length-controlled win rate: {lc['withheld']}")
        ratio = lc.get("length_ratio")
        if lc.get("variant") == "minimal" and ratio is not None and not (
                LC_RATIO[0] <= ratio <= LC_RATIO[1]):
            out.append(f"{who}: {p['a']}'s answers are {ratio:.2f} times as long as "
                       f"{p['b']}'s, outside {LC_RATIO[0]}-{LC_RATIO[1]}: the minimal "
                       "length-controlled rate (one model, no item difficulty) is biased "
                       "there (on AlpacaEval by +6 points on average below 0.6); compare "
                       "two or more models with the same baseline for the joint variant, "
                       "or give --difficulty")
    lang = rep.get("language")
    for m, v in ((lang or {}).get("models") or {}).items():
        if v["flagged"]:
            how = ("scored as failures (--ja-min)" if lang["scored_as_failures"] else
                   "judges often miss this; --ja-min scores them as failures")
            out.append(f"{m}: {v['flagged']} of {v['answers']} answers are not in Japanese "
                       f"(Japanese share below {lang['ja_min']}: {v['low_japanese']}, kanji "
                       f"without kana: {v['low_kana']}); {how}")
    for kind, rows, key, what in (("grades", grades, "score", "score"),
                                  ("comparisons", comps, "final", "verdict")):
        per: dict[str, list[Any]] = defaultdict(list)
        for r in rows or []:
            if r.get(key) is not None and (kind == "comparisons" or r.get("status") == "ok"):
                per[r["judge"]].append(r[key])
        for judge, vals in sorted(per.items()):
            if len(vals) >= 2 and len(set(vals)) == 1:
                out.append(f"judge {judge_label(judge, info)} gave all {len(vals)} of its "
                           f"{kind} the same {what} ({vals[0]}): it tells no answer from "
                           "another, so its figures say nothing about the models")
    return out


# -- claims --------------------------------------------------------------------------------
def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:+.2f}"


def _few(n: int) -> str:
    return (f" (only {n} items, fewer than {MIN_ITEMS}: the interval is too narrow)"
            if n < MIN_ITEMS else "")


def claims(scores: list[dict[str, Any]], pairwise: list[dict[str, Any]],
           judges: dict[str, Any] | None = None) -> list[dict]:
    """One sentence per comparison: a claim when the interval excludes no-difference,
    otherwise an explicit "no claim"; on fewer than MIN_ITEMS items it says so."""
    out = []
    info = judges or {}
    for g in scores:
        jl = judge_words(g["judge"], info)
        for d in g["differences"]:
            if d["n"] == 0:
                continue
            iv = (f"{_fmt(d['mean'])} [{_fmt(d['lo'])}, {_fmt(d['hi'])}] on {d['n']} items"
                  f"{_few(d['n'])}")
            if d["better"]:
                worse = d["b"] if d["better"] == d["a"] else d["a"]
                text = (f"{d['better']} scores higher than {worse} (judge {jl}, "
                        f"1-{g['scale']}): {d['a']} - {d['b']} = {iv}")
            else:
                text = (f"no claim: {d['a']} vs {d['b']} (judge {jl}, 1-{g['scale']}): "
                        f"{d['a']} - {d['b']} = {iv}, the interval includes 0")
            out.append({"kind": "score", "judge": g["judge"], "a": d["a"], "b": d["b"],
                        "better": d["better"], "mean": d["mean"], "lo": d["lo"], "hi": d["hi"],
                        "text": text})
    for p in pairwise:
        if p["n"] == 0:
            continue
        jl = judge_words(p["judge"], info)
        iv = (f"win rate of {p['a']} {_fmt(p['win_rate'], True)} "
              f"[{_fmt(p['lo'], True)}, {_fmt(p['hi'], True)}] on {p['n']} items{_few(p['n'])}")
        lc = p["length_controlled"]
        lc_txt = (f"; length-controlled {_fmt(lc['win_rate'], True)} "
                  f"[{_fmt(lc['lo'], True)}, {_fmt(lc['hi'], True)}]"
                  if lc["win_rate"] is not None else
                  f"; no length-controlled rate ({lc['withheld']})" if lc.get("withheld")
                  else "")
        if p["better"]:
            worse = p["b"] if p["better"] == p["a"] else p["a"]
            text = f"{p['better']} beats {worse} (judge {jl}): {iv}{lc_txt}"
        else:
            text = (f"no claim: {p['a']} vs {p['b']} (judge {jl}): {iv}, the interval "
                    f"includes 50%{lc_txt}")
        out.append({"kind": "pairwise", "judge": p["judge"], "a": p["a"], "b": p["b"],
                    "better": p["better"], "mean": p["win_rate"], "lo": p["lo"], "hi": p["hi"],
                    "text": text})
    return out


# -- the report ----------------------------------------------------------------------------
def build(evaldir: Path, seed: int = 0, n_boot: int = S.N_BOOT,
          difficulty: Path | None = None, ja_min: float | None = None
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(report dict, material for the workbook) from an eval directory; writes nothing.
    ``difficulty``: a table of item difficulties for the length-controlled rates;
    ``ja_min``: score answers below this Japanese share as failures (:mod:`.language`)."""
    if ja_min is not None and not 0 < ja_min <= 1:
        raise TaneError(f"--ja-min must be in (0, 1], got {ja_min}", field="ja_min")
    if n_boot < 1000:
        raise TaneError(f"n_boot must be at least 1000, got {n_boot}", field="n_boot")
    table = read_difficulty(difficulty) if difficulty is not None else None
    meta, files, notes = load(evaldir)
    if table is not None:
        ids = sorted({str(r["item_id"]) for r in files[COMPARISONS] or []} - set(table))
        if ids:
            raise TaneError(f"no difficulty for item {ids[0]!r} ({len(ids)} compared items "
                            "have none)", path=str(difficulty), field="item_id")
    items = {str(it["id"]): it for it in files[ITEMS] or []}
    category = {i: (it.get("category") or NO_CATEGORY) for i, it in items.items()}
    grades, comps = files[GRADES], files[COMPARISONS]
    scored_grades, scored_comps = grades, comps  # what the scores and win rates count
    language = None
    if meta.get("lang") == "ja":
        flags = LANG.flag_answers(files[ANSWERS] or [], items,
                                  LANG.JA_MIN if ja_min is None else ja_min)
        if ja_min is not None:
            scored_grades, scored_comps = LANG.score_as_failures(grades, comps, flags)
        language = LANG.language_section(flags, LANG.JA_MIN if ja_min is None else ja_min,
                                         ja_min is not None)
    elif ja_min is not None:
        raise TaneError(f"--ja-min is for Japanese benchmarks; this one is "
                        f"{meta.get('lang') or 'of an unknown language'}", field="ja_min")
    rep: dict[str, Any] = {
        "evaldir": str(evaldir), "bench": meta.get("bench"), "format": meta.get("format"),
        "lang": meta.get("lang"), "items": meta.get("items", len(items) or None),
        "seed": seed, "n_boot": n_boot, "confidence": 1 - S.ALPHA,
        "models": answers_section(files[ANSWERS] or []),
        "model_info": meta.get("models") or {}, "judge_info": meta.get("judges") or {},
        "scores": grades_section(scored_grades or [], category, n_boot, seed),
        "judges": judges_section(grades, comps),
        "language": language,
        "difficulty_table": str(difficulty) if difficulty is not None else None,
    }
    agreement, grade_disagreements = agreement_section(grades or [])
    pairwise, flipped, opposite = comparisons_section(scored_comps or [], category, n_boot,
                                                      seed, table)
    rep["agreement"] = agreement
    rep["pairwise"] = pairwise
    rep["claims"] = claims(rep["scores"], pairwise, rep["judge_info"])
    rep["warnings"] = warnings_for(rep, grades, comps) + W.expected_warnings(rep, judge_label)
    if grades is not None and not grades:
        notes.append("grades.jsonl has no rows.")
    if comps is not None and not comps:
        notes.append("comparisons.jsonl has no rows.")
    if grades and len({r["judge"] for r in grades}) < 2:
        notes.append("one judge only: no judge agreement (grade with a second --judge to "
                     "get kappa and Spearman).")
    rep["notes"] = notes
    rep["disagreements"] = {"order_flips": len(flipped), "judge_scores": len(grade_disagreements),
                            "judge_verdicts": len(opposite)}
    answers: dict[tuple[str, str], list[str] | None] = {}
    for r in files[ANSWERS] or []:
        answers[(str(r["item_id"]), r["model"])] = r.get("turns")
    material = {"items": items, "answers": answers, "flipped": flipped, "meta": meta,
                "grade_rows": files[GRADES] or [],
                "grades": grade_disagreements, "opposite": opposite, "category": category}
    return rep, material


def _write_text(path: Path, text: str) -> None:
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    atomic_write(path, w)


def write_report(evaldir: Path, out: Path | None = None, seed: int = 0,
                 n_boot: int = S.N_BOOT, difficulty: Path | None = None,
                 ja_min: float | None = None) -> dict[str, Any]:
    """Write ``report.json``, ``report.md``, the PNG plots and ``disagreements.xlsx`` into
    ``out`` (default ``EVALDIR/report``); returns the report as written to report.json."""
    from .peer_files import write_peer_files
    from .report_md import render
    from .report_xlsx import write_disagreements

    evaldir = Path(evaldir)
    out = Path(out) if out is not None else evaldir / "report"
    rep, material = build(evaldir, seed, n_boot, difficulty, ja_min)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from .report_plots import draw
    except ImportError:
        rep["plots"], rep["font"] = [], None
        rep["notes"].append("plots skipped: matplotlib is not installed "
                            "(pip install 'tane[report]').")
    else:
        font, paths = draw(rep, out)
        rep["plots"], rep["font"] = [p.name for p in paths], font
    xlsx = write_disagreements(out / "disagreements.xlsx", material)
    rep["peer_files"] = write_peer_files(out, material["meta"], material["grade_rows"],
                                         material["items"], material["answers"],
                                         material["category"])
    rep["files"] = {"json": "report.json", "markdown": "report.md", "xlsx": xlsx.name}
    _write_text(out / "report.json", json.dumps(rep, ensure_ascii=False, indent=2) + "\n")
    _write_text(out / "report.md", render(rep))
    return rep
