"""What a Ray worker is sent as data instead of reading it: the seeds and the files its
stages read beside the recipe.

A worker shares no filesystem with the driver. The recipe already travels as data; the
seeds travel as their loaded rows, and every file a worker's stage names in its section
of the recipe (a template override, a ``prompt`` stage's ``template_file``, a sampled
axis's ``file``...) travels as its bytes, keyed by the path the recipe gives. The worker
writes them into a folder of its own (:func:`node_folder`) and builds its stages with
that folder as the recipe's folder, so a stage opens the same bytes under the same
relative path.

Which strings are files is not listed per method: every string of the section that names
an existing file, relative to the recipe's folder, is sent (a stray match costs a few
bytes). A file outside the recipe's folder (an absolute path, ``..``) cannot be mirrored
under the worker's folder with the same name: it is refused, one line naming it and its
field, before any call.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import TaneError
from ..recipe import Recipe
from ..seeds.formats import Seed
from .stages import stage_configs

MAX_BYTES = 64 << 20  # files sent to every worker, all together


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(field path, string) of every string in a recipe section's JSON form."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for j, v in enumerate(value):
            yield from _strings(v, f"{where}.{j}")


def _named_file(value: str, base_dir: Path) -> Path | None:
    """The file ``value`` names (relative to ``base_dir``), or None."""
    if not value or value.startswith("bundled:") or "\n" in value or len(value) > 1024:
        return None
    p = Path(value)
    full = p if p.is_absolute() else base_dir / p
    try:
        return full if full.is_file() else None
    except (OSError, ValueError):
        return None


def stage_files(recipe: Recipe, stages: list[int], base_dir: Path) -> dict[str, bytes]:
    """The files the sections of ``stages`` name: {path as the recipe gives it: bytes}.
    A file outside the recipe's folder, or too many bytes, is a one-line TaneError."""
    out: dict[str, bytes] = {}
    total = 0
    cfgs = stage_configs(recipe)
    for i in stages:
        for where, value in _strings(cfgs[i].model_dump(mode="json"), f"stages.{i}"):
            full = _named_file(value, base_dir)
            if full is None or value in out:
                continue
            rel = os.path.normpath(value)
            if Path(value).is_absolute() or rel == ".." or rel.startswith(".." + os.sep):
                raise TaneError("the Ray executor sends its workers only files inside the "
                                "recipe's folder (they share no filesystem with this "
                                "machine): put the file there and give its path relative "
                                "to the recipe", path=str(full), field=where)
            try:
                data = full.read_bytes()
            except OSError as e:
                raise TaneError(f"cannot read the file: {e.strerror}", path=str(full),
                                field=where) from None
            total += len(data)
            if total > MAX_BYTES:
                raise TaneError(f"the files the workers' stages read pass {MAX_BYTES >> 20} MiB "
                                "together: too much to send every worker", path=str(full),
                                field=where)
            out[value] = data
    return out


def remote_stages(recipe: Recipe) -> list[int]:
    """The stages whose runs go to the workers: the per-record transforms."""
    return [i for i, c in enumerate(stage_configs(recipe))
            if (sp := c.spec()).role == "transform" and not sp.sequential]


def check_recipe(recipe: Recipe, base_dir: Path) -> None:
    """What the workers cannot be sent, refused in one line before the run starts."""
    stage_files(recipe, remote_stages(recipe), Path(base_dir).resolve())


def seeds_data(seeds: list[Seed]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(s) for s in seeds]


def seeds_from(rows: list[dict[str, Any]]) -> list[Seed]:
    return [Seed(**r) for r in rows]


def node_folder(run_key: str) -> Path:
    """This node's folder for one run (``TMPDIR/tane-ray-UID/RUN``, mode 700): the shard
    caches and the stages' files of the workers on this node."""
    root = Path(tempfile.gettempdir()) / f"tane-ray-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    folder = root / run_key
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        pass
    return True


def write_files(files: dict[str, bytes], folder: Path) -> Path:
    """``files`` under a new folder inside ``folder`` (``files-<pid>-...``), each at its
    relative path; the new folder (the worker's recipe folder). The folders of workers
    of this run that died on this node (killed: they could not remove theirs) go."""
    for old in folder.glob("files-*-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    base = Path(tempfile.mkdtemp(prefix=f"files-{os.getpid()}-", dir=folder))
    for rel, data in files.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return base


__all__ = ["MAX_BYTES", "check_recipe", "node_folder", "remote_stages", "seeds_data", "seeds_from", "stage_files",
           "write_files"]
