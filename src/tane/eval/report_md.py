"""``report.md``: the report dict of :mod:`.report` as Markdown tables and sentences."""

from __future__ import annotations

from typing import Any

from .weighted import missing_words


def _cell(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(_cell(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def judge_model(name: str, judges: dict[str, Any]) -> str:
    """The model behind a judge (eval.json), or "" when unknown or the same as its name."""
    model = str((judges.get(name) or {}).get("model") or "")
    return model if model != name else ""


def lc_variant_words(lc: dict[str, Any]) -> str:
    """What a length-controlled variant is, in a few words, for report.md."""
    v = lc.get("variant")
    if v == "joint":
        return ("item difficulties fitted jointly from " + ", ".join(lc["models_in_fit"])
                + " against the same baseline, as AlpacaEval's length_controlled_v1 without "
                "its gamed baselines")
    if v == "table":
        return "item difficulties from the --difficulty table"
    return ("AlpacaEval's length_controlled_minimal: no item difficulty; biased when the "
            "lengths differ a lot")


def judge_label(name: str, judges: dict[str, Any], *more: str) -> str:
    """``embedded (model gemma-3-270m-it)``; ``more`` joins the parentheses."""
    model = judge_model(name, judges)
    inside = ([f"model {model}"] if model else []) + list(more)
    return f"{name} ({', '.join(inside)})" if inside else name


def judge_words(name: str, judges: dict[str, Any]) -> str:
    """``embedded, model gemma-3-270m-it``: a judge inside parentheses."""
    model = judge_model(name, judges)
    return f"{name}, model {model}" if model else name


def _ci(v: dict[str, Any], pct: bool = False, key: str = "mean") -> str:
    f = _pct if pct else _num
    if v.get(key) is None:
        return "–"
    return f"{f(v[key])} [{f(v['lo'])}, {f(v['hi'])}]"


def _who(info: dict[str, Any]) -> str:
    """``name: model at where`` for each model or judge of eval.json."""
    return "; ".join(f"{n}: {v.get('model') or '?'} at {v.get('where') or '?'}"
                     for n, v in info.items()) or "unknown"


def render(rep: dict[str, Any]) -> str:
    conf = round(100 * rep["confidence"])
    judges = rep.get("judge_info") or {}
    L = ["# Evaluation report", ""]
    L += [f"- eval directory: `{rep['evaldir']}`",
          (f"- benchmark: {rep.get('bench') or 'unknown'} (format {rep.get('format') or '?'}, "
           f"language {rep.get('lang') or '?'}, {rep.get('items') or '?'} items)"),
          f"- models: {_who(rep.get('model_info') or {})}",
          f"- judges: {_who(judges)}",
          (f"- intervals: {conf}% percentile bootstrap over items, {rep['n_boot']} resamples, "
           f"seed {rep['seed']}"), ""]
    if rep.get("warnings"):
        L += ["## Warnings", ""] + [f"- **{w}**" for w in rep["warnings"]] + [""]
    if rep["notes"]:
        L += ["## Notes", ""] + [f"- {n}" for n in rep["notes"]] + [""]

    L += ["## Claims", ""]
    if rep["claims"]:
        L += [f"- {c['text']}" for c in rep["claims"]] + [""]
    else:
        L += ["Nothing to compare yet.", ""]

    if rep["models"]:
        L += ["## Answers per model", ""]
        L += _table(["model", "answers", "errors", "error rate", "cut by length",
                     "mean chars", "median", "p10", "p90"],
                    [[m, v["answers"], v["errors"], _pct(v["error_rate"]), v["cut_by_length"],
                      _num(v["length_chars"]["mean"], 0), _num(v["length_chars"]["median"], 0),
                      _num(v["length_chars"]["p10"], 0), _num(v["length_chars"]["p90"], 0)]
                     for m, v in rep["models"].items()])

    for g in rep["scores"]:
        scale = f"1–{g['scale']}"
        L += [f"## Scores: judge {judge_label(g['judge'], judges, scale)}", ""]
        L += _table(["model", f"mean [{conf}% CI]", "items", "left out", "parse failed",
                     "errors"],
                    [[m, _ci(v), v["n"], v["items_left_out"], v["parse_failed"], v["errors"]]
                     for m, v in g["models"].items()])
        turns = sorted({t for v in g["models"].values() for t in v["by_turn"]})
        if len(turns) > 1:
            L += ["Per turn:", ""]
            L += _table(["model"] + [f"turn {t}" for t in turns],
                        [[m] + [_ci(v["by_turn"][t]) if t in v["by_turn"] else "–"
                                for t in turns] for m, v in g["models"].items()])
        cats = sorted({c for v in g["models"].values() for c in v["by_category"]})
        if cats and cats != ["(none)"]:
            L += ["Per category (mean [CI], items):", ""]
            models = list(g["models"])
            L += _table(["category"] + models,
                        [[c] + [(_ci(g["models"][m]["by_category"][c]) + " n="
                                 + str(g["models"][m]["by_category"][c]["n"]))
                                if c in g["models"][m]["by_category"] else "–"
                                for m in models] for c in cats])
        weighted = {m: v["expected"] for m, v in g["models"].items() if v.get("expected")}
        if weighted:
            L += ["Probability-weighted grade (the expected score over the labels 1–5 from "
                  "the judge's logprobs of its score token, renormalised over the labels "
                  "among the most likely tokens), beside the plain grade of the same items:",
                  ""]
            L += _table(["model", f"expected [{conf}% CI]", "plain, same items", "items",
                         "grades without one", "why", "mean label mass"],
                        [[m, _ci(e), _num(e["plain_mean_same_items"]), e["n"], e["without"],
                          missing_words(e["missing"]) or "–", _num(e["mean_label_mass"])]
                         for m, e in weighted.items()])
        if g["differences"]:
            L += ["Differences (paired bootstrap over the items both models have):", ""]
            L += _table(["a", "b", f"a − b [{conf}% CI]", "items", "higher"],
                        [[d["a"], d["b"], _ci(d), d["n"], d["better"] or "no claim"]
                         for d in g["differences"]])

    for p in rep["pairwise"]:
        lc = p["length_controlled"]
        pc = p["position_consistency"]
        L += [f"## Pairwise: {p['a']} vs {p['b']} "
              f"(judge {judge_words(p['judge'], judges)})", ""]
        L += _table(["wins", "ties", "losses", "unparsed", f"win rate of {p['a']} [CI]",
                     "length-controlled [CI]", "position consistency", "better"],
                    [[p["wins"], p["ties"], p["losses"], p["unparsed"], _ci(p, True, "win_rate"),
                      "withheld" if lc.get("withheld") else _ci(lc, True, "win_rate"),
                      f"{_pct(pc['rate'])} of {pc['n']}", p["better"] or "no claim"]])
        model = (f"Length model: not fitted ({lc['withheld']})" if lc.get("withheld") else
                 f"Length model: variant {lc['variant']} ({lc_variant_words(lc)}), length "
                 f"coefficient {_num(lc['length_coef'])}, position coefficient "
                 f"{_num(lc['position_coef'])} (first-shown answer)"
                 + (f", difficulty coefficient {_num(lc['difficulty_coef'])}"
                    if lc.get("difficulty_coef") is not None else ""))
        L += [(f"Mean answer length: {p['a']} {_num(p['mean_len_a'], 0)} chars, "
               f"{p['b']} {_num(p['mean_len_b'], 0)} chars. {model}, raw rate over both "
               f"orders {_pct(lc['raw_win_rate'])}."), ""]
        if len(p["by_category"]) > 1:
            L += _table(["category", "wins", "ties", "losses", "win rate [CI]"],
                        [[c, v["wins"], v["ties"], v["losses"], _ci(v, True, "win_rate")]
                         for c, v in p["by_category"].items()])

    peer = rep.get("peer_files") or {}
    if peer.get("summaries"):
        L += ["## Plain means (as flexeval and Shaberi report them)", "",
              "The mean of every parsed grade, each graded turn counted once, no interval; "
              "written as flexeval's metrics.json and Shaberi's judgement file under "
              "flexeval/ and shaberi/. Comparable with their published scores only under "
              "the same judge model and the same judge prompt: "
              + "; ".join(f"judge {p['judge']} (1–{p['scale']}): {p['prompt']}"
                          for p in peer["judge_prompt"]) + ".", ""]
        L += _table(["judge", "model", "llm_score", "num_failed_score_parses"],
                    [[x["judge"], x["model"], _num(x["llm_score"]),
                      x["num_failed_score_parses"]] for x in peer["summaries"]])
    lang = rep.get("language")
    if lang and lang["models"]:
        L += ["## Language", "",
              f"Answers not in Japanese: Japanese share (kana + kanji among the letters) "
              f"below {lang['ja_min']}, or kana below {lang['min_kana']} (Chinese); "
              + ("scored as failures." if lang["scored_as_failures"] else
                 "counted, not scored (--ja-min scores them as failures)."), ""]
        L += _table(["model", "answers", "flagged", "share < ja_min", "no kana",
                     "mean Japanese share"],
                    [[m, v["answers"], v["flagged"], v["low_japanese"], v["low_kana"],
                      _pct(v["mean_japanese_share"])] for m, v in lang["models"].items()])
    if rep["judges"]:
        L += ["## Judges", ""]
        rows = []
        for j, kinds in rep["judges"].items():
            for kind, v in kinds.items():
                rows.append([judge_label(j, judges), kind, v["n"], v["parse_failed"],
                             _pct(v["parse_failure_rate"]),
                             v["errors"], _pct(v["error_rate"]), v["retried"]])
        L += _table(["judge", "task", "verdicts", "parse failed", "rate", "errors", "rate",
                     "retried"], rows)
    if rep["agreement"]:
        L += ["## Judge agreement", ""]
        L += _table(["judge 1", "judge 2", "grades", "weighted κ (quadratic)",
                     "weighted κ (linear)", "Spearman ρ", "exact agreement"],
                    [[a["judge_1"], a["judge_2"], a["n"], _num(a["kappa_quadratic"]),
                      _num(a["kappa_linear"]), _num(a["spearman"]), _pct(a["exact_agreement"])]
                     for a in rep["agreement"]])

    d = rep["disagreements"]
    L += ["## For an expert to look at", "",
          (f"`{rep['files']['xlsx']}`: {d['order_flips']} verdict(s) that changed with the "
           f"order, {d['judge_scores']} grade(s) two judges scored apart, "
           f"{d['judge_verdicts']} pair(s) two judges decided oppositely."), ""]
    if rep.get("plots"):
        L += ["## Plots", ""] + [f"![{p}]({p})" for p in rep["plots"]] + [""]
        ids = (rep.get("font") or {}).get("label_ids") or {}
        if ids:
            L += ["Labels drawn as ids (no Japanese font found): "
                  + ", ".join(f"{v} = {k}" for k, v in ids.items()), ""]
    return "\n".join(L).rstrip() + "\n"
