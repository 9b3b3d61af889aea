"""Does a client keep a big server full? tane beside plain clients and peers, one run.

    python bench/saturation.py [--quick] [--only single|saturation] [--peers]
        [--streams 512] [--requests 2000] [--target 3000] [--concurrency 512]
        [--ttft 0.15] [--tps 30] [--tokens-mean 125]

One simulated OpenAI-compatible server (bench/simserver.py: N parallel streams, each
request holds a stream for ttft + tokens / tps) serves every row in turn; its counters are
reset before each row, so each row's figures are its own.

single: answering the same instructions (a JSONL file written here, Japanese), every
  client at the same concurrency. Rows: a plain httpx client with its pool raised to the
  concurrency, a plain aiohttp client (both asyncio, in this process), ``tane run`` on a
  ``source:`` recipe with one chat ``answer`` stage (a subprocess), and with ``--peers``
  bespokelabs-curator and NeMo Data Designer (each a subprocess in its own venv under
  bench/.peers/, installed on first use; drivers in bench/peers/). Every client sends the
  same user message per instruction (tane's ``ja_chat`` answer prompt), so the server does
  the same work for each: compare the ``tokens`` column.
saturation: ``tane run`` on a Self-Instruct (completion prompts, ``en``,
  ``instances: input_only`` so that the answer stage writes every output) -> chat answer
  recipe to ``--target`` records with ``request_batch_size: 64`` and ``lookahead: 8``.

Columns: wall seconds (the client's whole run, start-up included); span (the server's
first request to its last answer); bound, the least time the streams need for the
requests the server saw (max(longest latency, sum of latencies / streams)); fifo, when
those requests would end had they all been sent at once in the order they came, each to
the next free stream (what a client that never lets a stream idle gets; the bound assumes
a perfectly even last wave); wall / bound; wall against the best peer and the best plain
client; the time-averaged and peak number of requests in flight (server side, over the
span); client CPU per call (in-process rows: process time of this process, the server
being another process; subprocess rows: getrusage(RUSAGE_CHILDREN) deltas; ``net``
subtracts the CPU of starting the same program without work); the server's own CPU per
call. Results go to bench/results/saturation-DATE.json. The bound counts every call the
client made, wasted ones too: the saturation row says how many calls it made a record.

Targets (issue 10): single stage within 1.1x of the best peer and 1.3x of the bound;
saturation with at least 256 requests in flight on average and within 2x of the bound;
at most 0.5 ms of client CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import glob
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
if str(ROOT / "src") not in sys.path:
    sys.path.append(str(ROOT / "src"))

from simserver import SimServer  # noqa: E402
from simtext import ja_instruction  # noqa: E402

PEERS = {  # name: (pip requirement, driver, module whose import is the start-up cost)
    "curator": ("bespokelabs-curator==0.1.31", "curator_driver.py", "bespokelabs.curator"),
    "data-designer": ("data-designer==0.9.7", "data_designer_driver.py",
                      "data_designer.interface"),
}
PEER_DIR = HERE / ".peers"
SAMPLING = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 512}  # tane's answer defaults


@dataclass
class Row:
    name: str
    kind: str  # single | saturation
    ok: int = 0
    failed: int = 0
    error: str | None = None
    note: str = ""
    wall_s: float | None = None
    cpu_s: float | None = None
    startup_cpu_s: float | None = None
    server: dict[str, Any] = field(default_factory=dict)

    # -- derived ------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return int(self.server.get("requests") or 0)

    @property
    def bound(self) -> float | None:
        return self.server.get("lower_bound_s") or None

    def per_call_ms(self, net: bool = False) -> float | None:
        if self.cpu_s is None or not self.requests:
            return None
        cpu = self.cpu_s - ((self.startup_cpu_s or 0.0) if net else 0.0)
        return 1000.0 * max(cpu, 0.0) / self.requests


# --------------------------------------------------------------------------- inputs


def make_instructions(n: int, seed: int = 20260101) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{"id": f"q{i:05d}", "instruction": ja_instruction(rng)} for i in range(n)]


def answer_message(instruction: str) -> str:
    """The user message tane's chat answer stage sends (mode ja) for an instruction."""
    try:
        from tane.prompts import load_template
        return load_template("answer", "ja_chat").render(instruction=instruction, input="")
    except Exception:  # tane mid-change: the template's text as of this writing
        return f"{instruction}\n\n日本語で回答してください。"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


# --------------------------------------------------------------------------- clients


def chat_body(content: str) -> dict[str, Any]:
    return {"model": "sim", "messages": [{"role": "user", "content": content}], **SAMPLING}


async def plain_httpx(url: str, contents: list[str], conc: int,
                      default_pool: bool = False) -> tuple[int, int]:
    import httpx
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc) \
        if not default_pool else httpx.Limits(max_connections=100, max_keepalive_connections=20)
    sem = asyncio.Semaphore(conc)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600.0)) as client:
        async def one(c: str) -> bool:
            async with sem:
                r = await client.post(url + "/chat/completions", json=chat_body(c))
            return r.status_code == 200 and bool(r.json()["choices"][0]["message"]["content"])
        res = await asyncio.gather(*(one(c) for c in contents), return_exceptions=True)
    ok = sum(1 for x in res if x is True)
    return ok, len(res) - ok


async def plain_aiohttp(url: str, contents: list[str], conc: int) -> tuple[int, int]:
    import aiohttp
    sem = asyncio.Semaphore(conc)
    conn = aiohttp.TCPConnector(limit=conc)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async def one(c: str) -> bool:
            async with sem:
                async with session.post(url + "/chat/completions", json=chat_body(c)) as r:
                    data = await r.json()
            return r.status == 200 and bool(data["choices"][0]["message"]["content"])
        res = await asyncio.gather(*(one(c) for c in contents), return_exceptions=True)
    ok = sum(1 for x in res if x is True)
    return ok, len(res) - ok


def run_in_process(row: Row, sim: SimServer, fn: Callable[[], tuple[int, int]]) -> Row:
    sim.reset()
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        row.ok, row.failed = fn()
    except Exception as e:
        row.error = one_line(f"{type(e).__name__}: {e}")
    row.wall_s = time.perf_counter() - t0
    row.cpu_s = time.process_time() - cpu0
    row.server = sim.stats()
    return row


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one_line(text: str, limit: int = 240) -> str:
    lines = [x.strip() for x in str(text).splitlines() if x.strip()]
    return (lines[-1] if lines else "no message")[:limit]


def run_subprocess(row: Row, sim: SimServer, cmd: list[str], *, env: dict[str, str] | None,
                   cwd: Path, timeout: float, log: Path) -> tuple[int | None, str]:
    """Run ``cmd`` against the freshly reset server; fill wall, CPU and server figures.
    Returns (exit code or None on timeout, stderr tail)."""
    sim.reset()
    cpu0, t0 = children_cpu(), time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        try:
            p = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                               timeout=timeout)
            rc: int | None = p.returncode
        except subprocess.TimeoutExpired:
            rc = None
    row.wall_s = time.perf_counter() - t0
    row.cpu_s = children_cpu() - cpu0
    row.server = sim.stats()
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
    if rc is None:
        row.error = f"timed out after {timeout:.0f} s"
    return rc, tail


def startup_cpu(cmd: list[str], env: dict[str, str] | None = None) -> float | None:
    """CPU seconds of starting a program that does no work (its imports)."""
    cpu0 = children_cpu()
    try:
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=300, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return children_cpu() - cpu0


# --------------------------------------------------------------------------- tane


def tane_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "tane"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tane.cli"]


def tane_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def run_tane(row: Row, sim: SimServer, recipe_text: str, work: Path, timeout: float) -> Row:
    recipe = work / f"{row.name.replace(' ', '_')}.yaml"
    recipe.write_text(recipe_text, encoding="utf-8")
    out = work / f"run-{recipe.stem}"
    if out.exists():
        shutil.rmtree(out)
    cmd = tane_cmd() + ["run", str(recipe), "--out", str(out), "--no-progress"]
    rc, tail = run_subprocess(row, sim, cmd, env=tane_env(), cwd=work, timeout=timeout,
                              log=work / f"{recipe.stem}.log")
    if rc not in (0, None):
        row.error = one_line(tail)
    row.ok = count_lines(out / "dataset.jsonl")
    row.failed = count_lines(out / "rejected.jsonl")
    return row


def single_recipe(url: str, source: Path, conc: int) -> str:
    path = json.dumps(str(source), ensure_ascii=False)
    return (f"name: bench-answer\nsource: {{path: {path}}}\n"
            f"llm: {{backend: openai, base_url: {json.dumps(url)}, model: sim, "
            f"concurrency: {conc}}}\n"
            "stages:\n  - {method: answer, mode: ja, prompt_style: chat}\n")


def saturation_recipe(url: str, conc: int, target: int, lookahead: int | None) -> str:
    la = f"\n    lookahead: {lookahead}" if lookahead else ""
    return (f"name: bench-saturation\nseed: 1\ntarget: {target}\n"
            "seeds: {path: 'bundled:en'}\n"
            f"llm: {{backend: openai, base_url: {json.dumps(url)}, model: sim, "
            f"concurrency: {conc}}}\n"
            "stages:\n"
            "  - method: self_instruct\n    mode: en\n    prompt_style: completion\n"
            f"    request_batch_size: 64\n    instances: input_only{la}\n"
            "  - {method: answer, mode: en, prompt_style: chat}\n")


# --------------------------------------------------------------------------- peers


def peer_python(name: str) -> Path:
    return PEER_DIR / name / "bin" / "python"


def ensure_peer(name: str) -> str | None:
    """Install the peer into bench/.peers/NAME when it is missing; None or the reason."""
    req = PEERS[name][0]
    py = peer_python(name)
    stamp = PEER_DIR / name / ".installed"
    if py.exists() and stamp.exists() and stamp.read_text().strip() == req:
        return None
    print(f"installing {req} into {PEER_DIR / name} (a few minutes) ...", flush=True)
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", str(PEER_DIR / name)], check=True,
                       capture_output=True, text=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", req], check=True,
                       capture_output=True, text=True, timeout=1800)
    except subprocess.CalledProcessError as e:
        return "install failed: " + one_line(e.stderr or e.stdout or str(e))
    except (subprocess.TimeoutExpired, OSError) as e:
        return f"install failed: {type(e).__name__}: {e}"
    stamp.write_text(req)
    return None


def peer_env(name: str, url: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"OPENAI_API_KEY": "sim", "OPENAI_BASE_URL": url, "OPENAI_API_BASE": url,
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_COLOR": "1"}
    if name == "curator":
        tok = glob.glob(str(PEER_DIR / name / "lib" / "python*" / "site-packages" / "litellm"
                            / "litellm_core_utils" / "tokenizers"))
        if tok:
            env["TIKTOKEN_CACHE_DIR"] = tok[0]
        env |= {"CURATOR_DISABLE_CACHE": "1", "TELEMETRY_ENABLED": "false",
                "CURATOR_CACHE_DIR": str(work / "curator-cache")}
    if name == "data-designer":
        env |= {"NEMO_TELEMETRY_ENABLED": "false"}
    return env


def run_peer(row: Row, sim: SimServer, name: str, requests: Path, conc: int, work: Path,
             timeout: float) -> Row:
    why = ensure_peer(name)
    if why:
        row.error = why
        return row
    _, driver, module = PEERS[name]
    pwork = work / f"peer-{name}"
    pwork.mkdir(exist_ok=True)
    env = peer_env(name, sim.url, pwork)
    report = pwork / "report.json"
    cmd = [str(peer_python(name)), str(HERE / "peers" / driver), "--url", sim.url,
           "--requests", str(requests), "--concurrency", str(conc), "--out", str(report),
           "--work", str(pwork)]
    rc, tail = run_subprocess(row, sim, cmd, env=env, cwd=pwork, timeout=timeout,
                              log=pwork / "driver.log")
    if report.exists():
        rep = json.loads(report.read_text())
        row.ok, row.failed = rep["ok"], rep["failed"]
        if rep.get("error"):
            row.error = rep["error"]
    elif row.error is None:
        row.error = f"exit {rc}: {one_line(tail)}"
    row.startup_cpu_s = startup_cpu([str(peer_python(name)), "-c", f"import {module}"], env)
    return row


# --------------------------------------------------------------------------- report


def fmt(x: float | None, spec: str = ".1f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def table(rows: list[Row], streams: int) -> str:
    singles = [r for r in rows if r.kind == "single" and not r.error and r.wall_s]
    peers = [r.wall_s for r in singles if r.name in PEERS]
    plains = [r.wall_s for r in singles if r.name.startswith("plain")]
    best_peer = min(peers) if peers else None
    best_plain = min(plains) if plains else None
    head = (f"{'row':<26}{'ok':>6}{'calls':>7}{'tokens':>8}{'wall s':>8}{'span s':>8}"
            f"{'bound s':>8}{'fifo s':>7}{'/bound':>7}{'/peer':>7}{'/plain':>7}{'avg fl':>8}"
            f"{'peak':>6}"
            f"{'cpu ms/call':>12}{'net':>6}{'srv':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        name = f"{r.kind[:3]} {r.name}"
        if r.error and not r.requests:
            lines.append(f"{name:<26}  failed: {r.error}")
            continue
        s = r.server
        srv_ms = (1000.0 * s["server_cpu_s"] / r.requests) if r.requests and \
            s.get("server_cpu_s") is not None else None
        ratio = (r.wall_s / r.bound) if (r.wall_s and r.bound) else None
        vs_peer = (r.wall_s / best_peer) if (best_peer and r.kind == "single" and r.wall_s) \
            else None
        vs_plain = (r.wall_s / best_plain) if (best_plain and r.kind == "single" and r.wall_s) \
            else None
        lines.append(
            f"{name:<26}{r.ok:>6}{r.requests:>7}{s.get('completion_tokens', 0):>8}"
            f"{fmt(r.wall_s):>8}{fmt(s.get('span_s')):>8}{fmt(r.bound):>8}"
            f"{fmt(s.get('fifo_makespan_s')):>7}"
            f"{fmt(ratio, '.2f'):>7}{fmt(vs_peer, '.2f'):>7}{fmt(vs_plain, '.2f'):>7}"
            f"{fmt(s.get('avg_in_flight'), '.0f'):>8}{s.get('peak_in_flight', 0):>6}"
            f"{fmt(r.per_call_ms(), '.2f'):>12}"
            f"{fmt(r.per_call_ms(net=True) if r.startup_cpu_s is not None else None, '.2f'):>6}"
            f"{fmt(srv_ms, '.2f'):>6}")
        if r.error:
            lines.append(f"{'':<26}  failed: {r.error}")
        if r.note:
            lines.append(f"{'':<26}  note: {r.note}")
    lines.append(f"(server: {streams} streams; /peer and /plain: wall against the fastest "
                 "peer / plain client of the single stage; avg fl: requests in flight, "
                 "time-averaged over the span; net: less the CPU of starting the program; "
                 "srv: the simulated server's own CPU per call)")
    return "\n".join(lines)


def results_path() -> Path:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    day = _dt.date.today().isoformat()
    p = out / f"saturation-{day}.json"
    n = 2
    while p.exists():
        p = out / f"saturation-{day}-{n}.json"
        n += 1
    return p


def versions() -> dict[str, str | None]:
    from importlib import metadata
    v: dict[str, str | None] = {}
    for name in ("tane", "httpx", "aiohttp"):
        try:
            v[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            v[name] = None
    try:
        v["tane_commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short",
                                           "HEAD"], capture_output=True, text=True
                                          ).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        v["tane_src_modified"] = "yes" if dirty else "no"
    except OSError:
        pass
    for name in PEERS:
        stamp = PEER_DIR / name / ".installed"
        v[name] = stamp.read_text().strip() if stamp.exists() else None
    return v


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 requests and target 300")
    ap.add_argument("--only", choices=("single", "saturation"))
    ap.add_argument("--peers", action="store_true",
                    help="also bespokelabs-curator and Data Designer (installed on first use)")
    ap.add_argument("--streams", type=int, default=512)
    ap.add_argument("--requests", type=int, default=None, help="single stage (default 2000)")
    ap.add_argument("--target", type=int, default=None, help="saturation (default 3000)")
    ap.add_argument("--concurrency", type=int, default=None, help="default: --streams")
    ap.add_argument("--ttft", type=float, default=0.15)
    ap.add_argument("--tps", type=float, default=30.0)
    ap.add_argument("--tokens-mean", type=int, default=125)
    ap.add_argument("--lookahead", type=int, default=8)
    ap.add_argument("--clients", default="httpx,aiohttp,tane",
                    help="single-stage rows besides the peers (comma list; also "
                         "httpx-default: httpx with its default pool of 100)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per subprocess row")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--out", type=Path, default=None, help="results JSON path")
    a = ap.parse_args(argv)
    n_req = a.requests or (300 if a.quick else 2000)
    target = a.target or (300 if a.quick else 3000)
    conc = a.concurrency or a.streams
    clients = {c.strip() for c in a.clients.split(",") if c.strip()}

    work = Path(tempfile.mkdtemp(prefix="tane-saturation-"))
    rows: list[Row] = []
    load0 = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load0[0]:.2f} (other work on these cores "
          f"skews wall and CPU figures); work dir {work}", flush=True)
    sim = SimServer.start(streams=a.streams, ttft=a.ttft, tps=a.tps, tokens_mean=a.tokens_mean)
    print(f"simulated server {sim.url}: {a.streams} streams, ttft {a.ttft} s, {a.tps} tok/s, "
          f"~{a.tokens_mean} tokens a reply", flush=True)

    def done(row: Row) -> None:
        rows.append(row)
        s = row.server
        msg = (f"  {row.kind} {row.name}: " + (f"failed: {row.error}" if row.error else
               f"wall {fmt(row.wall_s)} s, bound {fmt(row.bound)} s, "
               f"avg in flight {fmt(s.get('avg_in_flight'), '.0f')}, "
               f"peak {s.get('peak_in_flight')}, {row.requests} calls"))
        print(msg, flush=True)

    try:
        if a.only in (None, "single"):
            items = make_instructions(n_req)
            source = work / "instructions.jsonl"
            write_jsonl(source, items)
            contents = [answer_message(x["instruction"]) for x in items]
            requests = work / "requests.jsonl"
            write_jsonl(requests, [{"id": x["id"], "content": c}
                                   for x, c in zip(items, contents)])
            print(f"single stage: {n_req} instructions, concurrency {conc}", flush=True)
            if "httpx" in clients:
                done(run_in_process(Row("plain httpx", "single"), sim, lambda: asyncio.run(
                    plain_httpx(sim.url, contents, conc))))
            if "httpx-default" in clients:  # httpx's own pool limits (100 connections)
                done(run_in_process(Row("plain httpx default", "single"), sim,
                                    lambda: asyncio.run(plain_httpx(sim.url, contents, conc,
                                                                    default_pool=True))))
            if "aiohttp" in clients:
                try:
                    import aiohttp  # noqa: F401
                    done(run_in_process(Row("plain aiohttp", "single"), sim,
                                        lambda: asyncio.run(plain_aiohttp(sim.url, contents,
                                                                          conc))))
                except ImportError:
                    done(Row("plain aiohttp", "single",
                             error="aiohttp is not installed (pip install aiohttp)"))
            if "tane" in clients:
                row = run_tane(Row("tane", "single"), sim, single_recipe(sim.url, source, conc),
                               work, a.timeout)
                row.startup_cpu_s = startup_cpu(tane_cmd() + ["--help"], tane_env())
                done(row)
            if a.peers:
                for name in PEERS:
                    done(run_peer(Row(name, "single"), sim, name, requests, conc, work,
                                  a.timeout))
        if a.only in (None, "saturation"):
            print(f"saturation: Self-Instruct -> answer, target {target}, concurrency {conc}",
                  flush=True)
            row = run_tane(Row("tane", "saturation"), sim,
                           saturation_recipe(sim.url, conc, target, a.lookahead), work,
                           a.timeout)
            if row.error and a.lookahead and "lookahead" in row.error.lower():
                first = row.error
                row = run_tane(Row("tane", "saturation"), sim,
                               saturation_recipe(sim.url, conc, target, None), work, a.timeout)
                row.note = f"recipe refused lookahead ({first}); ran without it"
            row.startup_cpu_s = startup_cpu(tane_cmd() + ["--help"], tane_env())
            if row.ok:  # the bound counts the calls made, wasted ones too: show how many
                row.note = "; ".join(x for x in (row.note, (
                    f"{row.requests} calls for {row.ok} records "
                    f"({row.requests / row.ok:.2f} a record)")) if x)
            done(row)
    finally:
        sim.close()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(table(rows, a.streams))
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end")
    out = a.out or results_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"streams": a.streams, "ttft": a.ttft, "tps": a.tps,
                "tokens_mean": a.tokens_mean, "concurrency": conc, "requests": n_req,
                "target": target, "lookahead": a.lookahead, "quick": a.quick}
    doc = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "settings": settings,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_start": load0, "load_end": load1},
           "versions": versions(),
           "rows": [asdict(r) | {"requests": r.requests, "bound_s": r.bound,
                                 "wall_over_bound": (r.wall_s / r.bound)
                                 if r.wall_s and r.bound else None,
                                 "cpu_ms_per_call": r.per_call_ms(),
                                 "cpu_ms_per_call_net": r.per_call_ms(net=True)
                                 if r.startup_cpu_s is not None else None}
                    for r in rows],
           "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None
                                                             else sys.argv[1:]))}
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
