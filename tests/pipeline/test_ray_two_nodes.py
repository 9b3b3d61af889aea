"""`tane run --executor ray` on a Ray cluster of two nodes on this machine with no shared
filesystem between the driver and the workers: the head node (this user, the driver's
node) and a worker node started by another Unix user, who cannot read the run directory
nor the recipe's folder (both mode 700). The workers are placed on the worker node by a
custom resource; they get the recipe, the seeds and the recipe's files as data and return
every call through Ray. The dataset equals the local executor's; a shard resent after its
marker is lost repeats no call the driver committed. The model is the simulated server
(bench/simserver.py): a real HTTP server with deterministic answers."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers import journal_count, max_puts, read_stats, run_tane

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

# a skip that does not import Ray: collecting this module stays cheap when it is deselected
pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                  reason="the Ray executor needs tane[ray]")]

USER = "tane-ray-worker"
# token authentication (on by default for `ray start`) is not what this test checks
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
TOPICS = ("りんご", "電車", "俳句", "統計", "睡眠", "料理", "天気", "歴史", "音楽", "りんご")
TASKS = [f"{t}について一つ説明してください。" for t in TOPICS]  # one duplicate, for exact_dup


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports() -> list[str]:
    return [f"--{name}={_port()}" for name in (
        "node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port")]


def _as_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *cmd]


def _interpreter() -> str:
    """A Python of this version that the other user can run (the virtualenv's may live
    under a home folder closed to others), or skip."""
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for cand in (sys.executable, shutil.which(minor), f"/usr/bin/{minor}"):
        if cand and subprocess.run(_as_user([cand, "-c", "pass"]),
                                   capture_output=True).returncode == 0:
            return cand
    pytest.skip(f"no {minor} that user {USER} can run")


def _started(log: Path, proc: subprocess.Popen, what: str, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while "Ray runtime started" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < end, \
            f"{what} did not start:\n{log.read_text(errors='replace')[-2000:]}"
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen], folders: list[Path]) -> None:
    """Stop both nodes: their `ray start --block` first (it stops its node's processes),
    then any process of theirs still alive, found by its node's own temporary folder."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    for line in ps.splitlines():
        pid, _, args = line.strip().partition(" ")
        if any(str(f) in args for f in folders):
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, PermissionError, ValueError):
                pass
    for f in folders:
        shutil.rmtree(f, ignore_errors=True)


class Cluster:
    def __init__(self, address: str, node_tmp: Path, waits: list) -> None:
        self.address, self.node_tmp, self.waits = address, node_tmp, waits

    def ready(self) -> None:
        """Wait until both nodes have started (they start while the test does other
        work)."""
        for w in self.waits:
            w()
        self.waits = []


@pytest.fixture()
def cluster(tmp_path) -> Iterator[Cluster]:
    """Two nodes on this machine, starting: the head, and the worker node run by
    ``USER`` with the custom resource ``tane_worker``."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the worker node runs as another Unix user")
    if not (shutil.which("runuser") and shutil.which("useradd")):
        pytest.skip("needs runuser and useradd")
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                               "/usr/sbin/nologin", USER], capture_output=True, text=True)
        # another test session may have made it meanwhile
        assert subprocess.run(["id", USER], capture_output=True).returncode == 0, made.stderr
    python = _interpreter()
    import pwd

    import tane

    user = pwd.getpwnam(USER)
    # short folders: Ray's socket paths must fit 107 bytes
    head_tmp = Path(tempfile.mkdtemp(prefix="trh", dir="/tmp"))
    node_tmp = Path(tempfile.mkdtemp(prefix="trw", dir="/tmp"))
    os.chown(node_tmp, user.pw_uid, user.pw_gid)
    port = _port()
    ray_main = ("import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; "
                "sys.exit(main())")
    procs: list[subprocess.Popen] = []
    try:
        head_log = tmp_path / "head.log"
        procs.append(subprocess.Popen(
            [sys.executable, "-c", ray_main, "start", "--head", f"--port={port}",
             "--num-cpus=1", "--include-dashboard=false", "--disable-usage-stats",
             f"--temp-dir={head_tmp}", "--block", *_ports()],
            env=os.environ | ENV, stdout=head_log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True))
        site = [p for p in sys.path if p.endswith("site-packages")]
        node_log = tmp_path / "node.log"

        # started at once: the worker node waits for the head's GCS to answer
        procs.append(subprocess.Popen(
            _as_user([python, "-c", ray_main, "start", f"--address=127.0.0.1:{port}",
                      "--num-cpus=2", '--resources={"tane_worker": 2}',
                      "--disable-usage-stats", f"--temp-dir={node_tmp}", "--block",
                      *_ports()]),
            env=os.environ | ENV | {
                # runuser sets HOME to the user's, which need not exist: numba caches
                # its compiled kernels here instead of beside tane's read-only sources
                "TMPDIR": str(node_tmp), "NUMBA_CACHE_DIR": str(node_tmp / "numba"),
                "PYTHONPATH": os.pathsep.join([*site, str(Path(tane.__file__).parents[1])]),
                # the other user's Python may differ from this one in its patch version
                "RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL": "minor"},
            stdout=node_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
        yield Cluster(f"127.0.0.1:{port}", node_tmp, [
            lambda: _started(head_log, procs[0], "the head node"),
            lambda: _started(node_log, procs[1], "the worker node")])
    finally:
        _stop(procs, [head_tmp, node_tmp])


def _recipe(folder: Path) -> Path:
    folder.mkdir(mode=0o700)
    (folder / "tasks.jsonl").write_text("".join(
        json.dumps({"instruction": t}, ensure_ascii=False) + "\n" for t in TASKS),
        encoding="utf-8")
    (folder / "prompts").mkdir()
    (folder / "prompts" / "answer.j2").write_text(
        "{{ instruction }}\n{% for line in context_lines %}- {{ line }}\n{% endfor %}"
        "短く答えてください。", encoding="utf-8")
    (folder / "personas.jsonl").write_text(
        '{"persona": "小学校の先生"}\n{"persona": "料理人"}\n', encoding="utf-8")
    path = folder / "recipe.yaml"
    # the worker's stage reads a template and a persona file beside the recipe
    path.write_text("""name: two-nodes
source: {path: tasks.jsonl}
stages:
  - method: answer
    prompt_style: chat
    sampling: {max_tokens: 40}
    templates: {ja_chat: prompts/answer.j2}
    context: {persona: {file: personas.jsonl}}
  - {method: curate, lang: ja, steps: [{name: exact_dup}]}
  - {method: curate, lang: ja, steps: [{name: length, output_min: 4}]}
""", encoding="utf-8")
    return path


def test_workers_on_another_users_node_make_the_local_runs_dataset(cluster, tmp_path):
    node_tmp = cluster.node_tmp
    recipe = _recipe(tmp_path / "recipe")
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o700)
    # the worker node's user can read neither the recipe's folder nor the run directory
    for closed in (recipe.parent, runs):
        assert subprocess.run(_as_user(["test", "-r", str(closed / ".")])).returncode != 0
    with SimServer.start(streams=8, ttft=0.005, tps=3000.0, tokens_mean=30) as sim:
        args = ["run", str(recipe), "--llm", f"{sim.url},model=sim", "--license",
                "apache-2.0", "--no-progress"]
        local = run_tane(*args, "--out", str(runs / "local"), timeout=120)
        assert local.returncode == 0, local.stderr
        cluster.ready()
        def ray_args(workers: int) -> list[str]:
            return [*args, "--out", str(runs / "ray"), "--executor", "ray", "--address",
                    cluster.address, "--workers", str(workers), "--shard-size", "3",
                    "--worker-resource", "tane_worker"]

        dist = run_tane(*ray_args(2), timeout=180, env=ENV)
        assert dist.returncode == 0, dist.stderr
        for name in ("dataset.jsonl", "rejected.jsonl"):
            assert (runs / "local" / name).read_bytes() == (runs / "ray" / name).read_bytes()
        st = read_stats(runs / "ray")
        assert st["llm"]["calls"] == len(TASKS) and st["kept"] >= 1
        # every call committed by the driver, once
        assert (max_puts(runs / "ray"), journal_count(runs / "ray")) == (1, len(TASKS))
        # the workers ran on the worker node, as its user, in its temporary folder
        uid = int(subprocess.run(["id", "-u", USER], capture_output=True,
                                 text=True).stdout)
        assert (node_tmp / f"tane-ray-{uid}").stat().st_uid == uid

        # two shards' markers lost (as if the driver died before writing them): they are
        # sent again, their node's caches are gone, and the driver's journal answers them
        markers = sorted((runs / "ray" / "shards").glob("*.done.json"))
        for m in markers[:2]:
            m.unlink()
        # one worker is enough for two shards (and starts sooner)
        again = run_tane(*ray_args(1), timeout=180, env=ENV)
        assert again.returncode == 0, again.stderr
        st = read_stats(runs / "ray")
        assert st["executor"]["shards_sent"] == 2 and st["executor"]["workers"] == 1
        assert st["llm"]["calls"] == 0
        assert (max_puts(runs / "ray"), journal_count(runs / "ray")) == (1, len(TASKS))
        assert (runs / "local" / "dataset.jsonl").read_bytes() == \
            (runs / "ray" / "dataset.jsonl").read_bytes()
