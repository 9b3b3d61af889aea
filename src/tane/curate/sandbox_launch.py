"""The sandbox's launcher: run as its own script (``python -I -S sandbox_launch.py SPEC``)
between the parent and the code's interpreter, so the parent never forks with a
``preexec_fn`` (unsafe beside threads). Standard library only, nothing of tane imported.

SPEC is JSON: ``dir`` (the fresh work directory, the code's cwd), ``argv`` (absolute
interpreter path first), ``env``, ``limits``, ``notes_fd`` (a pipe to the parent) and
``inline`` (Python source to run in this process instead of ``argv``, or null).
In order: new namespaces (mount, network; a user namespace when not root), the work
directory mounted over ``/tmp`` and ``/var/tmp`` and made the cwd, resource limits, a
seccomp filter that refuses new processes (``max_procs: 0``; with ``max_procs > 0``
``RLIMIT_NPROC``, and a root parent's code runs as nobody, whom that limit binds), a JSON
line to the parent
saying what of this took effect, then ``execve``. Each part that the system refuses is
left out and said so in that line; nothing here fails the run by itself.
"""

import ctypes
import json
import os
import resource
import struct
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_DUMPABLE = 38, 22, 2, 4
CLONE_THREAD = 0x00010000
# (audit arch, fork, vfork, clone, clone3); fork/vfork do not exist on aarch64
NOBODY = 65534
ARCHES = {"x86_64": (0xC000003E, 57, 58, 56, 435),
          "aarch64": (0xC00000B7, None, None, 220, 435)}


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _err(what):
    return f"{what}: {os.strerror(ctypes.get_errno())}"


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def namespaces(libc, want_net, notes):
    """New mount (+ network) namespace; a user namespace first when not root."""
    root = os.geteuid() == 0
    flags = CLONE_NEWNS | (CLONE_NEWNET if want_net else 0)
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(flags | (0 if root else CLONE_NEWUSER)) != 0:
        notes["namespaces"] = _err("unshare")
        # a network namespace alone may still be allowed
        if want_net and libc.unshare(CLONE_NEWNET) == 0:
            notes["network"] = "isolated (new network namespace)"
        return False
    if not root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    if want_net:
        notes["network"] = "isolated (new network namespace)"
    return True


def _under_tmp(paths):
    """The first of ``paths`` that lies under /tmp or /var/tmp (a virtualenv made there, an
    interpreter unpacked there), which the work directory mounted over them would hide."""
    for p in paths:
        for q in {os.path.abspath(p), os.path.realpath(p)}:
            if q.startswith(("/tmp/", "/var/tmp/")):
                return q
    return None


def private_tmp(libc, notes, needed=()):
    """The work directory (the cwd the parent gave) over /tmp and /var/tmp, and /tmp as
    the cwd: ``..`` leads to ``/``, not to the parent of the work directory. Not when a
    path of ``needed`` (the program's interpreter) lies under them: /tmp stays shared."""
    hidden = _under_tmp(needed)
    if hidden:
        notes["tmp"] = (f"shared /tmp: the interpreter lives under it ({hidden}); "
                        "cwd: the work directory")
        return False
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        notes["tmp"] = _err("mount private")
        return False
    for target in ("/tmp", "/var/tmp"):
        if os.path.isdir(target) and \
                libc.mount(b".", target.encode(), None, MS_BIND, None) != 0:
            notes["tmp"] = _err(f"bind {target}")
            return False
    os.chdir("/tmp")
    notes["tmp"] = "private (the work directory is /tmp and the cwd)"
    return True


def drop_root(libc, notes):
    """As root, RLIMIT_NPROC binds no one: run as nobody, in a user namespace of its own
    so that the count covers this sandbox's processes only."""
    os.chown(".", NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # so that /proc/self/*_map is ours to write
    notes["user"] = f"nobody ({NOBODY})"
    if libc.unshare(CLONE_NEWUSER) == 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{NOBODY} {NOBODY} 1")
        _write("/proc/self/gid_map", f"{NOBODY} {NOBODY} 1")


def limits(lim, notes):
    cpu = max(1, int(-(-lim["cpu_s"] // 1)))
    todo = [(resource.RLIMIT_CPU, cpu, cpu + 1),
            (resource.RLIMIT_AS, lim["memory_mb"] << 20, lim["memory_mb"] << 20),
            (resource.RLIMIT_FSIZE, lim["output_kb"] << 10, lim["output_kb"] << 10),
            (resource.RLIMIT_CORE, 0, 0),
            (resource.RLIMIT_NOFILE, 256, 256)]
    if lim["max_procs"] > 0:
        todo.append((resource.RLIMIT_NPROC, lim["max_procs"], lim["max_procs"]))
    for which, soft, hard in todo:
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError) as e:
            notes.setdefault("rlimit_errors", []).append(f"{which}: {e}")
    if lim["max_procs"] > 0:
        notes["processes"] = f"at most {lim['max_procs']} (RLIMIT_NPROC)"


def no_new_processes(libc, notes):
    """seccomp: fork, vfork and clone without CLONE_THREAD fail with EAGAIN; clone3
    fails with ENOSYS (its flags cannot be read), so the C library falls back to clone
    for threads. Threads still work; execve still works."""
    arch = ARCHES.get(os.uname().machine)
    if arch is None:
        notes["processes"] = f"not limited (no seccomp filter for {os.uname().machine})"
        return
    audit, fork, vfork, clone, clone3 = arch
    allow, eagain, enosys = 0x7FFF0000, 0x00050000 | 11, 0x00050000 | 38
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    # another ABI (i386 on x86-64) or x32's numbers (bit 30): refused, not looked into
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, enosys), (ld, 0, 0, 0),
            (jge, 0, 1, 0x40000000), (ret, 0, 0, enosys),
            (jeq, 0, 1, clone3), (ret, 0, 0, enosys)]
    for nr in (fork, vfork):
        if nr is not None:
            prog += [(jeq, 0, 1, nr), (ret, 0, 0, eagain)]
    prog += [(jeq, 1, 0, clone), (ret, 0, 0, allow),
             (ld, 0, 0, 16), (jset, 0, 1, CLONE_THREAD), (ret, 0, 0, allow),
             (ret, 0, 0, eagain)]
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fp = Fprog(len(prog), ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fp), 0, 0) != 0:
        notes["processes"] = "not limited (" + _err("seccomp") + ")"
        return
    notes["processes"] = "none (seccomp: no fork; threads allowed)"


def run_inline(source, env):
    """Python for this same interpreter runs here, after the limits: one interpreter
    start fewer than an ``execve``. The site directories this interpreter's ``-S`` left
    out are added first, as a normal start would."""
    import site
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["main.py"]
    site.main()
    try:
        exec(compile(source, "<driver>", "exec"), {"__name__": "__driver__"})
    except SystemExit:
        raise
    except BaseException as e:  # as Python would print it, from the program's frames on
        import traceback
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "main.py":
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        sys.exit(1)
    sys.exit(0)


def main():
    spec = json.loads(sys.argv[1])
    lim, env = spec["limits"], dict(spec["env"])
    notes = {"network": "allowed" if lim["network"] else "not isolated"}
    libc = _libc()
    try:
        ns = namespaces(libc, not lim["network"], notes)
    except OSError as e:  # a /proc write refused and the like: go on, say so
        ns, notes["namespaces"] = False, str(e)
    needed = [spec["argv"][0], sys.executable, sys.prefix, sys.base_prefix]
    if ns and private_tmp(libc, notes, needed):
        env.update(TMPDIR="/tmp", HOME="/tmp")
    else:
        env.update(TMPDIR=os.getcwd(), HOME=os.getcwd())
        notes.setdefault("tmp", "shared /tmp (no mount namespace); cwd: the work directory")
    # from here on, what cannot be done stops the run: no code runs without its limits
    try:
        if lim["max_procs"] > 0 and os.geteuid() == 0:
            drop_root(libc, notes)
        limits(lim, notes)
        if lim["max_procs"] == 0:
            no_new_processes(libc, notes)
    except OSError as e:
        sys.stderr.write(f"tane sandbox: cannot set the limits: {e}\n")
        os._exit(126)
    fd = spec["notes_fd"]
    os.write(fd, json.dumps(notes).encode() + b"\n")
    os.close(fd)
    if spec.get("inline") is not None:
        run_inline(spec["inline"], env)
    try:
        os.execve(spec["argv"][0], spec["argv"], env)
    except OSError as e:
        sys.stderr.write(f"tane sandbox: cannot run {spec['argv'][0]}: {e}\n")
        os._exit(127)


if __name__ == "__main__":
    main()
