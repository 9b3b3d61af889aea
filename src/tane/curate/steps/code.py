"""Runs the code an answer contains (curate/sandbox.py) and drops what does not run."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field

from tane.curate import sandbox
from tane.curate.steps.base import Fields, Params, Result, Step
from tane.config.grid import GridOrigin
from tane.errors import TaneError
from tane.provenance import Provenance

_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$",
                    re.MULTILINE | re.DOTALL)
ALIASES = {"py": "python", "python3": "python", "py3": "python", "rscript": "r", "r": "r"}
SYNTAX_EXIT = 86  # the drivers' exit status for code that does not parse
TEST_MARK = "<<tane test>>"

# Python: compile first (a SyntaxError is code:syntax), then run as __main__
PY_DRIVER = f"""import sys, traceback
src = open("main.py", encoding="utf-8").read()
try:
    code = compile(src, "main.py", "exec")
except (SyntaxError, ValueError) as e:
    sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
    sys.exit({SYNTAX_EXIT})
sys.argv = ["main.py"]
exec(code, {{"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}})
"""
# R: parse the whole file first (a parse error is code:syntax), then source it
R_DRIVER = f"""invisible(tryCatch(parse(file = "main.R", keep.source = FALSE),
  error = function(e) {{
    message("SyntaxError: ", conditionMessage(e))
    quit(save = "no", status = {SYNTAX_EXIT})
  }}))
source("main.R", echo = FALSE)
"""
R_ENV = ("R_HOME", "R_SHARE_DIR", "R_INCLUDE_DIR", "R_DOC_DIR", "R_ARCH", "R_LIBS_SITE",
         "R_PLATFORM", "LD_LIBRARY_PATH")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Closed fenced blocks of `text` as (language tag, lower case, aliases resolved; ""
    when untagged, code)."""
    out = []
    for m in _FENCE.finditer(text or ""):
        tag = m.group(1).lower()
        out.append((ALIASES.get(tag, tag), m.group(2)))
    return out


def cell_matches(pattern: str, prov: dict[str, Any]) -> bool:
    """A grid pattern (``*``, ``fix/*``, ``task=fix,theme=regression``) against a
    record's provenance (``cell``, ``axes``). A record without a cell matches ``*`` only."""
    p = pattern.strip()
    if p == "*":
        return True
    origin = Provenance.read(prov).origin(GridOrigin)
    if "=" in p:
        axes = origin.axes
        for part in p.split(","):
            axis, _, value = (x.strip() for x in part.partition("="))
            if value != "*" and axes.get(axis) != value:
                return False
        return True
    cell = origin.cell
    if not isinstance(cell, str):
        return False
    parts, values = [x.strip() for x in p.split("/")], cell.split("/")
    return len(parts) == len(values) and all(x in ("*", v) for x, v in zip(parts, values))


class CellTest(BaseModel):
    """Code appended to a language's program in the cells that ``match``."""

    model_config = ConfigDict(extra="forbid")
    match: str = "*"
    lang: str = "python"
    code: str


class Code(Step):
    """Runs the fenced code blocks of the output in a sandbox (curate/sandbox.py: own
    process and temporary directory, time, CPU, memory, output and process limits, no
    network where the system allows it). The blocks of one language run as one program,
    in order. ``code:syntax``: it does not parse; ``code:error``: it exits with an error
    (the detail keeps the last lines of stderr); ``code:timeout``: it passed its time or
    CPU limit; ``code:test_failed``: a ``tests`` snippet failed; ``code:no_code``: no block
    where ``require`` asks for one. In ``fix`` cells the input's (else the instruction's)
    code is the broken code: ``code:unchanged`` when the answer's code is the same, and
    with ``fix_must_fail`` ``code:not_broken`` when that code runs without error."""

    name = "code"
    blocking = True  # waits on processes: the recipe stage runs it off the event loop
    reasons = ("syntax", "error", "timeout", "test_failed", "no_code", "unchanged",
               "not_broken")

    class Params(Params):
        languages: list[str] = Field(["python", "r"], description="fenced languages to run")
        untagged: Optional[str] = Field(None, description="language of untagged blocks "
                                                          "(unset: not run)")
        require: Union[bool, list[str]] = Field(False, description="true, or cell patterns "
                                                "whose answers must hold code (code:no_code)")
        fix: list[str] = Field(["task=fix"], description="cell patterns whose input holds "
                                                         "the broken code to fix")
        fix_must_fail: bool = False
        tests: list[CellTest] = Field([], description="{match, lang, code} appended per cell")
        timeout_s: float = Field(5.0, gt=0, description="wall clock per program")
        cpu_s: Optional[float] = Field(None, gt=0, description="unset: timeout_s")
        memory_mb: int = Field(1024, ge=16, description="address space (RLIMIT_AS)")
        output_kb: int = Field(1024, ge=1, description="stdout, stderr and each file "
                                                       "written (a saved plot too)")
        max_procs: Optional[int] = Field(None, ge=0, description="0: no new processes; unset: "
                                         "0 for python, 16 for the others")
        network: bool = False
        python: Optional[str] = Field(None, description="interpreter (unset: tane's own)")
        rscript: str = "Rscript"
        commands: dict[str, str] = Field({}, description="language -> command line with "
                                         "{file}, e.g. julia: julia {file}")
        workers: int = Field(2, ge=1, description="programs run at once")
        stderr_lines: int = Field(8, ge=1)
        temp_dir: Optional[str] = Field(None, description="where the temporary directories "
                                        "are made (unset: the system's)")

    def __init__(self, lang: str, params: BaseModel, seeds: Sequence[Any] = ()):
        super().__init__(lang, params, seeds)
        p = self.p
        self.langs_run = {ALIASES.get(x.lower(), x.lower()) for x in p.languages} | \
            {k.lower() for k in p.commands}
        if p.untagged is not None:
            p.untagged = ALIASES.get(p.untagged.lower(), p.untagged.lower())
        for t in p.tests:
            t.lang = ALIASES.get(t.lang.lower(), t.lang.lower())
        self._lock = threading.Lock()
        self._interp: dict[str, tuple[list[str], dict[str, str], str]] = {}
        self._done: dict[int, tuple[Fields, Result]] = {}

    # -- what to run -------------------------------------------------------------

    def _programs(self, text: str) -> dict[str, str]:
        progs: dict[str, list[str]] = {}
        for tag, code in code_blocks(text):
            tag = tag or (self.p.untagged or "")
            if tag in self.langs_run:
                progs.setdefault(tag, []).append(code)
        return {k: "\n".join(v) for k, v in progs.items()}

    def _requires(self, prov: dict[str, Any]) -> bool:
        req = self.p.require
        return req if isinstance(req, bool) else any(cell_matches(x, prov) for x in req)

    def _interpreter(self, lang: str) -> tuple[list[str], dict[str, str], str]:
        """(argv, env, file name) for `lang`, found once per step."""
        with self._lock:
            if lang not in self._interp:
                self._interp[lang] = self._find(lang)
            return self._interp[lang]

    def _find(self, lang: str) -> tuple[list[str], dict[str, str], str]:
        p = self.p
        if lang in {k.lower() for k in p.commands}:
            line = next(v for k, v in p.commands.items() if k.lower() == lang)
            argv = shlex.split(line)
            exe = shutil.which(argv[0]) if argv else None
            if exe is None:
                raise TaneError(f"code step: {argv[0] if argv else '(empty)'!r} for {lang} "
                                "not found", field="commands")
            fname = f"main.{lang}"
            return [exe] + [a.replace("{file}", fname) for a in argv[1:]], {}, fname
        if lang == "python":
            exe = shutil.which(p.python) if p.python else sys.executable
            if exe is None:
                raise TaneError(f"code step: python {p.python!r} not found", field="python")
            return [exe, "-I", "-c", PY_DRIVER], {}, "main.py"
        if lang == "r":
            return self._find_r()
        raise TaneError(f"code step: no interpreter for {lang!r}; add it under commands",
                        field="languages")

    def _find_r(self) -> tuple[list[str], dict[str, str], str]:
        # Rscript starts R through a shell script; the sandbox runs R's own binary with
        # the environment that script sets, asked of Rscript once
        exe = shutil.which(self.p.rscript)
        if exe is None:
            raise TaneError(f"code step: {self.p.rscript!r} not found; install R (Debian: "
                            "apt-get install r-base-core) or leave r out of languages",
                            field="rscript")
        expr = ("e <- Sys.getenv(); cat(paste0(names(e), '=', e), sep = '\\n')")
        out = subprocess.run([exe, "-e", expr], capture_output=True, text=True, timeout=60,
                             env=dict(sandbox.BASE_ENV), cwd="/").stdout
        env = {k: v for k, _, v in (ln.partition("=") for ln in out.splitlines())
               if k in R_ENV}
        if "R_HOME" not in env:
            raise TaneError(f"code step: {exe} did not report R_HOME", field="rscript")
        binary = f"{env['R_HOME']}/bin/exec{env.get('R_ARCH', '')}/R"
        return ([binary, "--no-echo", "--no-restore", "--no-save", "--no-site-file",
                 "--no-init-file", "--file=_run.R"], env, "main.R")

    def _limits(self, lang: str) -> sandbox.Limits:
        p = self.p
        procs = p.max_procs if p.max_procs is not None else (0 if lang == "python" else 16)
        return sandbox.Limits(wall_s=p.timeout_s, cpu_s=p.cpu_s or p.timeout_s,
                              memory_mb=p.memory_mb, output_kb=p.output_kb,
                              max_procs=procs, network=p.network)

    def _run(self, lang: str, program: str, test: str | None = None) -> sandbox.RunResult:
        argv, env, fname = self._interpreter(lang)
        if test:
            mark = (f'message("{TEST_MARK}")' if lang == "r" else
                    f'import sys as _s; print("{TEST_MARK}", file=_s.stderr, flush=True)'
                    if lang == "python" else "")
            program = f"{program}\n{mark}\n{test}\n"
        files = {fname: program}
        if lang == "r":
            files["_run.R"] = R_DRIVER
        # tane's own Python runs the program in the sandbox's launcher: one start fewer
        inline = PY_DRIVER if lang == "python" and argv[0] == sys.executable else None
        return sandbox.run(argv, files, self._limits(lang), env=env,
                           temp_dir=self.p.temp_dir, inline=inline)

    # -- judging -----------------------------------------------------------------

    def _judge(self, f: Fields) -> Result:
        if f.output is None:
            return None
        prov = f.provenance or {}
        progs = self._programs(f.output)
        if not progs:
            return self.fail("no_code") if self._requires(prov) else None
        broken: dict[str, str] = {}
        if any(cell_matches(x, prov) for x in self.p.fix):
            broken = self._programs(f.input or f.instruction)
            for lang, prog in progs.items():
                if lang in broken and _same(prog, broken[lang]):
                    return self.fail("unchanged", lang=lang)
        for lang, prog in progs.items():
            tests = [t.code for t in self.p.tests if t.lang == lang and cell_matches(t.match, prov)]
            res = self._run(lang, prog, "\n".join(tests) or None)
            failed = self._failure(lang, res, bool(tests))
            if failed is not None:
                return failed
        if self.p.fix_must_fail:
            for lang, prog in broken.items():
                if self._run(lang, prog).status == "ok":
                    return self.fail("not_broken", lang=lang)
        return None

    def _failure(self, lang: str, res: sandbox.RunResult, tested: bool) -> Result:
        if res.status == "ok":
            return None
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        in_test = tested and TEST_MARK in lines
        lines = lines[lines.index(TEST_MARK) + 1:] if in_test else lines
        detail: dict[str, Any] = {"lang": lang, "stderr": "\n".join(lines[-self.p.stderr_lines:]),
                                  "exit": res.returncode, "seconds": res.wall_s,
                                  "sandbox": res.isolation}
        if res.signal:
            detail["signal"] = res.signal
        if res.status == "timeout":
            return self.fail("timeout", limit_s=self.p.timeout_s, **detail)
        if res.returncode == SYNTAX_EXIT and lang in ("python", "r"):
            return self.fail("syntax", **detail)
        if in_test:
            return self.fail("test_failed", **detail)
        return self.fail("error", **detail)

    def prepare(self, batch: Sequence[Fields]) -> None:
        """Runs the batch's programs, `workers` at a time; check() reads the results."""
        todo = [f for f in batch if f.output is not None]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=self.p.workers) as pool:
            results = list(pool.map(self._judge, todo))
        with self._lock:
            for f, res in zip(todo, results):
                self._done[id(f)] = (f, res)
            while len(self._done) > 50_000:  # records an earlier step dropped
                self._done.pop(next(iter(self._done)))

    def check(self, f: Fields) -> Result:
        with self._lock:
            hit = self._done.pop(id(f), None)
        if hit is not None and hit[0] is f:
            return hit[1]
        return self._judge(f)


def _same(a: str, b: str) -> bool:
    norm = lambda s: [ln.strip() for ln in s.strip().splitlines() if ln.strip()]  # noqa: E731
    return norm(a) == norm(b)
