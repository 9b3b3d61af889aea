"""What ``tane run`` shows while it works and when it ends, on a narrow terminal and a
wide one: the ETA (driven by a made-up clock: the run's seconds are passed in), the live
table and the summary table at 80 and 120 columns, and the model each stage used named
instead of the recipe's ``default``."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from ptyrun import plain, run_in_pty
from tane.pipeline.eta import Eta
from tane.pipeline.progress import live_table, progress_line, summary_table
from tane.pipeline.runner import RunState, StageStats

GEMMA = "google/gemma-3-270m (Q4_K_M GGUF)"
QWEN = "Qwen/Qwen2.5-7B-Instruct"


def rendered(table, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines()


# -- the ETA ------------------------------------------------------------------------
def shown(steps: dict[float, int], target: int, until: float, flight: int = 2,
          every: float = 5.0) -> list[tuple[float, str]]:
    """The ETA every ``every`` seconds of a run whose kept count rises at the given
    times (a step function, as whole rounds finish), with work in flight throughout."""
    eta, kept, out, t = Eta(), 0, [], 0.0
    while t <= until:
        kept = max([n for at, n in steps.items() if at <= t], default=0)
        out.append((t, eta(kept, target, flight, t)))
        t += every
    return out


def minutes(text: str) -> float:
    if text == "<1m":
        return 0.5
    h, _, m = text.rpartition("h")
    return int(h or 0) * 60 + int(m.rstrip("m"))


def test_eta_says_it_is_measuring_until_the_first_record_is_kept():
    out = shown({150.0: 2}, target=10, until=150)
    assert {s for t, s in out if t < 150} == {"measuring"}
    assert out[-1][1] == "10m"  # 2 kept in 150 s: 8 more need 600 s


def test_eta_counts_down_steadily_between_rounds_of_a_steady_run():
    """Two records every 120 s, the first after 120 s, target 10: done at 600 s. Between
    rounds the ETA counts down (it never rises), it is right at each round, and it is
    never 0 while records are missing."""
    out = shown({120.0 * k: 2 * k for k in range(1, 6)}, target=10, until=595)
    counted = [(t, minutes(s)) for t, s in out if s != "measuring"]
    assert counted[0][0] == 120
    for (_, a), (_, b) in zip(counted, counted[1:]):
        assert b <= a, counted
    for t, m in counted:
        left = (600 - t) / 60
        assert left - 1 <= m <= left + 1, (t, m)
    assert all(s not in ("0s", "-", "done") for _, s in out)


def test_eta_grows_while_a_run_stalls():
    """2 kept after 120 s, then nothing for 15 minutes: the ETA does not sit at <1m."""
    out = dict(shown({120.0: 2}, target=10, until=1020))
    assert minutes(out[120.0]) == 8
    assert minutes(out[1020.0]) > minutes(out[600.0]) > minutes(out[300.0]) >= 3


def test_eta_once_the_target_is_kept():
    eta = Eta()
    assert eta(2, 10, 1, 100.0) == "7m"
    assert eta(10, 10, 3, 200.0) == "finishing"  # kept, but work still in flight
    assert eta(10, 10, 0, 210.0) == "done"
    assert Eta()(5, None, 1, 50.0) == "-"  # no target: nothing to count down to


def make_state(kept: int, flight: int) -> RunState:
    state = RunState(target=10)
    state.started = 0.0
    state.survived = kept
    state.round = 3
    gen, ans, cur = (StageStats("self_instruct"), StageStats("answer"), StageStats("curate"))
    gen.kept, gen.dropped, gen.llm.calls, gen.llm.model = 11, {"near_duplicate": 30}, 22, GEMMA
    ans.records_in, ans.kept, ans.active, ans.llm.calls = 11, 9, flight, 9
    ans.llm.model = QWEN
    cur.records_in, cur.kept = 9, kept
    state.stages = [gen, ans, cur]
    return state


def test_the_plain_line_carries_the_eta():
    eta = Eta()
    line = progress_line(make_state(0, 2), ["self_instruct", "answer", "curate"], eta, now=30)
    assert " · ETA measuring · " in line
    line = progress_line(make_state(10, 2), ["self_instruct", "answer", "curate"], eta, now=90)
    assert " · ETA finishing · " in line


# -- the live table -----------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 120])
def test_live_table_fits_the_terminal_and_names_the_models(width):
    table = live_table(make_state(4, 2), ["self_instruct", "answer", "curate"], width,
                       Eta(), now=300, models={"curate": "-"})
    lines = rendered(table, width)
    text = "\n".join(lines)
    assert max(len(x) for x in lines) <= width, text
    assert "…" not in text, text
    for word in ("self_instruct", "answer", "curate", "gemma-3-270m", "Qwen2.5-7B-Instruct",
                 "ETA 8m"):  # 4 kept in 300 s: 6 more need 450 s
        assert word in text, text
    assert "default" not in text, text
    assert text.splitlines()[-1].split()[:2] == ["curate", "-"], text
    if width >= 120:
        assert "in flight" in text and "concurrency" in text, text


# -- the summary table --------------------------------------------------------------
def stats_of_a_run() -> dict:
    def stage(model: str, rin: int, items: int, kept: int, dropped: dict, calls: int,
              tokens: int) -> dict:
        return {"model": model, "records_in": rin, "items_in": items, "kept": kept,
                "dropped": dropped, "llm_calls": calls, "cache_hits": 0,
                "prompt_tokens": 10 * tokens, "completion_tokens": tokens,
                "wall_seconds": 116.133, "tokens_per_second": 18.1}

    return {"target": 8, "kept": 8, "rounds": 5, "wall_seconds": 117.2, "source": None,
            "models": {"default": {"backend": "embedded", "model": ""},
                       "answerer": {"backend": "openai", "model": QWEN}},
            "stages": {
                "self_instruct": stage("default", 0, 53, 11, {"near_duplicate": 30,
                                                               "not_japanese": 2,
                                                               "over_target": 10}, 22, 2102),
                "answer": stage("answerer", 11, 11, 11, {}, 11, 412),
                "curate": stage("default", 11, 11, 8, {"copies:output_is_input": 1,
                                                       "repetition:ngram": 2}, 0, 0)},
            "llm": {"retries": {}, "failures": {}}}


@pytest.mark.parametrize("width", [80, 120])
def test_summary_table_is_readable_at_the_terminal_width(width):
    lines = rendered(summary_table(stats_of_a_run(), width,
                                   used={"self_instruct": GEMMA}), width)
    text = "\n".join(lines)
    assert max(len(x) for x in lines) <= width, text
    assert "…" not in text, text
    for word in ("self_instruct", "answer", "curate", "gemma-3-270m", "Qwen2.5-7B-Instruct",
                 "kept", "dropped", "calls", "tok/s"):
        assert word in text, text
    assert "default" not in text and "answerer" not in text, text
    assert model_of(lines, "curate") == "-", text  # a stage that called no model
    assert model_of(lines, "answer") == "Qwen2.5-7B-Instruct", text
    if width >= 120:
        assert "tok out" in text and "┃" in text, text


def model_of(lines: list[str], stage: str) -> str:
    """The model shown for ``stage``: beside it, or under it when the table stacks them."""
    cells = [x.replace("│", " ").split() for x in lines]
    i = next(i for i, x in enumerate(cells) if x[:1] == [stage])
    beside = cells[i][1]
    return " ".join(cells[i + 1]) if beside[0].isdigit() else beside


def test_summary_caption_keeps_over_target_apart_from_the_drops():
    text = " ".join(" ".join(rendered(summary_table(stats_of_a_run(), 120), 120)).split())
    assert "self_instruct drops: near_duplicate 30, not_japanese 2 " in text, text
    assert "over_target" not in text, text
    assert "over the target (made, not needed; no quality drop): self_instruct 10" in text


def run_on_a_terminal(args: list[str], columns: int, timeout: float = 120) -> tuple[int, str]:
    """The CLI with stdout and stderr on a pty ``columns`` wide; (exit code, its output
    without escape codes)."""
    rc, text = run_in_pty(args, columns, timeout)
    return rc, plain(text)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_tane_run_on_an_80_column_terminal(tmp_path):
    """The summary of a real (model-free) run on a terminal 80 columns wide."""
    columns = 80
    rows = [
        {"instruction": "日本の首都はどこですか。", "output": "日本の首都は東京です。"},
        {"instruction": "富士山について", "input": "富士山について", "output": "山です。"}]
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "r.yaml").write_text(
        "name: narrow\nsource: {path: in.jsonl}\nstages:\n"
        "  - {method: curate, lang: ja, steps: [{name: copies}]}\n"
        "  - {method: curate, lang: ja, steps: [{name: length}]}\n", encoding="utf-8")
    rc, text = run_on_a_terminal(["run", str(tmp_path / "r.yaml"), "--out",
                                  str(tmp_path / "run")], columns)
    assert rc == 0, text
    summary = text[text.rindex("kept 1/all in"):].split("dataset: ")[0].splitlines()
    assert max(len(x) for x in summary) <= columns, text
    table = "\n".join(summary)
    assert "…" not in table and "curate#2" in table, text
    assert "default" not in table, text
