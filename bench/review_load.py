"""Load on ``tane review serve``: simulated reviewers against a large run directory.

    python bench/review_load.py [--records 50000] [--reviewers 20] [--submissions 1000]
                                [--search-every 10] [--dir DIR] [--keep]

A run directory of ``--records`` records is written by hand through tane's store (no
model). ``tane review serve`` runs on it in its own process on 127.0.0.1 (port 0,
overlap 2). ``--reviewers`` threads, each signed in by its own link, repeat
``--submissions`` times: GET /next (the redirect to the next record and its page), then
POST the record's form with a decision and a rating. Every ``--search-every`` submissions
a thread also searches as the admin (GET /admin/find?q=<two characters>).

Reported: p50/p95/p99 latency of "next", "submit" and "search"; the log checked for lost
or duplicated submissions (exactly one submit per reviewer and record, as many as were
answered 303); and the time of the agreement report over all records (in this process).
Goal: p95 under 100 ms, nothing lost or duplicated, the report under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from tane.review.web.questions import load  # noqa: E402
from tane.review.web.store import entries, open_db  # noqa: E402
from tane.store.review_figures import run_figures  # noqa: E402
from tane.store.revisions import write_outputs  # noqa: E402
from tane.store.rundir import RunDir  # noqa: E402

WORDS = "東京 大阪 京都 統計 回帰 分散 平均 検定 データ 関数 変数 行列".split()


def make_run(d: Path, n: int) -> None:
    d.mkdir(parents=True, exist_ok=True)
    recs = []
    for i in range(n):
        w = WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)]
        recs.append({"id": f"r{i:06d}", "instruction": f"{w[0]}と{w[1]}について説明してください（{i}）",
                     "input": "", "output": f"{w[0]}は{w[1]}と関係があります。" * 3,
                     "provenance": {"method": "self_instruct", "model": "bench",
                                    "judge": {"quality": 1 + i % 5, "reason": "bench"}}})
    (d / "manifest.json").write_text(json.dumps({"status": "complete", "recipe": {}}))
    rd = RunDir(d)
    try:
        write_outputs(rd, recs, [])
    finally:
        rd.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000 if xs else float("nan")


def get(c: httpx.Client, url: str, errors: list[str], **kw) -> httpx.Response:
    """A GET, tried once more when the connection fails (as a browser does: a GET can be
    repeated; the failure is counted)."""
    try:
        return c.get(url, **kw)
    except httpx.TransportError as e:
        errors.append(f"GET {url} retried: {type(e).__name__}")
        return c.get(url, **kw)


def worker(base: str, token: str, admin: str, n: int, every: int,
           lat: dict[str, list[float]], ok: list[int], errors: list[str]) -> None:
    c = httpx.Client(base_url=base, timeout=30)
    a = httpx.Client(base_url=base, timeout=30)
    c.post("/login", data={"token": token})
    a.post("/login", data={"token": admin})
    for i in range(n):
        t = time.perf_counter()
        r = get(c, "/next", errors, follow_redirects=True)
        lat["next"].append(time.perf_counter() - t)
        if r.status_code != 200 or "record-id" not in r.text:
            errors.append(f"next {r.status_code}")
            return
        rid = r.url.path[len("/r/"):]
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', r.text))
        fields = {k: v for k, v in re.findall(r'<textarea name="(\w+)"[^>]*>(.*?)</textarea>',
                                              r.text, re.S)}
        data = form | fields | {"action": "submit", "q_decision": "keep",
                                "q_quality": str(1 + i % 5)}
        t = time.perf_counter()
        r = c.post(f"/r/{rid}", data=data)
        lat["submit"].append(time.perf_counter() - t)
        if r.status_code == 303:
            ok.append(1)
        else:
            errors.append(f"submit {r.status_code}")
        if every and i % every == every - 1:
            t = time.perf_counter()
            r = get(a, "/admin/find", errors, params={"q": WORDS[i % len(WORDS)][:2]})
            lat["search"].append(time.perf_counter() - t)
            if r.status_code != 200:
                errors.append(f"search {r.status_code}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=50000)
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--submissions", type=int, default=1000)
    ap.add_argument("--search-every", type=int, default=10)
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="tane-review-load-"))
    run = root / "run"
    t = time.perf_counter()
    make_run(run, args.records)
    print(f"run directory: {args.records} records in {time.perf_counter() - t:.1f} s")
    names = [f"rev{i:02d}" for i in range(args.reviewers)]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1",
                        "COLUMNS": "400"}
    proc = subprocess.Popen([sys.executable, "-m", "tane.cli", "review", "serve", str(run),
                             "--port", "0", "--reviewers", ",".join(names)],
                            stdout=subprocess.PIPE, text=True, env=env)
    links = {}
    try:
        for line in proc.stdout:
            m = re.match(r"(\w+): (http://[^/]+)/login#(\S+)", line)
            if m:
                links[m.group(1)] = (m.group(2), m.group(3))
            if line.startswith("serving"):
                break
        base = links["admin"][0]
        lat: dict[str, list[float]] = {"next": [], "submit": [], "search": []}
        ok: list[int] = []
        errors: list[str] = []
        threads = [threading.Thread(target=worker, args=(base, links[n][1], links["admin"][1],
                                                         args.submissions, args.search_every,
                                                         lat, ok, errors)) for n in names]
        t, cpu0, load0 = time.perf_counter(), cpu_seconds(proc.pid), os.getloadavg()
        client0 = time.process_time()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        server_cpu, client_cpu = cpu_seconds(proc.pid) - cpu0, time.process_time() - client0
        load1 = os.getloadavg()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    print(f"{len(ok)} submissions by {args.reviewers} reviewers in {wall:.1f} s; "
          f"errors: {len(errors)} {sorted(set(errors))[:5]}")
    requests = 2 * len(lat["next"]) + len(lat["submit"]) + len(lat["search"])
    print(f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end "
          f"({os.cpu_count()} cores); server CPU {server_cpu:.1f} s for {requests} requests "
          f"({1000 * server_cpu / max(1, requests):.2f} ms a request), clients' CPU "
          f"{client_cpu:.1f} s")
    for k, v in lat.items():
        print(f"{k:7s} n={len(v):6d}  p50 {pct(v, 50):7.1f} ms  p95 {pct(v, 95):7.1f} ms  "
              f"p99 {pct(v, 99):7.1f} ms")
    db = open_db(run)
    log = entries(db)
    db.close()
    subs = [(e.reviewer, e.record_id) for e in log if e.kind == "submit"]
    print(f"log: {len(subs)} submits, {len(set(subs))} distinct (reviewer, record); "
          f"answered 303: {len(ok)} -> lost {len(ok) - len(set(subs))}, duplicated "
          f"{len(subs) - len(set(subs))}")
    t, cpu = time.perf_counter(), time.process_time()
    figs = run_figures(run, load(None), 2, False, always=True)
    print(f"agreement report over {figs['records']} records: {time.perf_counter() - t:.2f} s "
          f"(CPU {time.process_time() - cpu:.2f} s, load average {os.getloadavg()[0]:.2f}) "
          f"(as tane review agreement makes it; quality alpha "
          f"{figs['questions']['quality']['alpha']})")
    if not args.keep and not args.dir:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
