"""How the Python tool's child process is launched: which isolation the platform allows.

Three modes, detected once per process by actually starting a probe child:

- ``root`` (the parent runs as root, e.g. in a container): new mount, PID and network
  namespaces made with `unshare`; fresh size-capped tmpfs on /tmp, /var/tmp and /dev/shm; the
  parent's home directory hidden under an empty tmpfs (the interpreter's prefixes and venv under
  any of these bound back read-only, so it runs from wherever it lives); then `setpriv` drops
  to an unprivileged uid with no capabilities and no_new_privs. As a non-root uid,
  RLIMIT_NPROC is enforced (the kernel exempts root from it), root-owned files are read-only
  and /proc/<parent>/environ is unreadable.
- ``userns`` (a normal user where unprivileged user namespaces work): `unshare -r` with new
  network, PID and mount namespaces and a /proc of its own. The child keeps the user's uid, so
  files are as open as the user's. It is root of its namespace and can unmount that /proc, but
  the host's /proc it then sees refuses /proc/<pid>/environ (EACCES): the kernel lets a process
  read another's memory only from the same user namespace or with CAP_SYS_PTRACE over it.
- ``plain``: no namespace tool works; rlimits, scrubbed environment and temp cwd only.

In the namespace modes, PID 1 of the new namespace is a shell that waits for the program, so an
orphan (even one that called `setsid`) dies with it. A signal death of the program reaches us as
exit status 128 + signal; `decode_status` turns it back into a negative status.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

Mode = Literal["root", "userns", "plain"]

SANDBOX_UID = 65534
"""The uid (conventionally `nobody`) the child drops to in root mode."""
SANDBOX_WORK = "/tmp/work"
"""The child's working directory in root mode (on its own tmpfs)."""

_SIGNALS_FROM_STATUS = {int(s) for s in (signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ)}
_SIGNALS_FROM_STATUS |= {int(signal.SIGSEGV), int(signal.SIGABRT), int(signal.SIGBUS)}


@dataclass(frozen=True)
class Launch:
    """A ready command line: argv, environment and working directory of the child."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    mode: Mode
    network_isolated: bool


def _keep_paths(hidden: Path) -> list[Path]:
    """Interpreter prefixes and site-packages that live under `hidden` and must stay visible."""
    found = {sys.base_prefix, sys.prefix, sys.exec_prefix, *site.getsitepackages()}
    found.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    found.add(str(Path(sys.executable).parent))  # the path we start it by (a venv's bin/)
    inside = sorted(
        {
            Path(os.path.realpath(p))
            for p in found
            if Path(os.path.realpath(p)).is_relative_to(hidden)
        }
    )
    keep: list[Path] = []
    for path in inside:  # sorted, so a parent comes before its children
        if path != hidden and path.is_dir() and not any(path.is_relative_to(k) for k in keep):
            keep.append(path)
    return keep


def _covered(tmp_mb: int, shm_mb: int) -> list[tuple[Path, str]]:
    """The directories root mode hides under a fresh tmpfs, each with that tmpfs's options."""
    found = [("/tmp", f"size={tmp_mb}m,mode=1777")]
    found += [(d, f"size={shm_mb}m,mode=1777") for d in ("/var/tmp", "/dev/shm")]
    found.append((str(Path.home()), "size=1m,mode=755"))
    real: dict[Path, str] = {}
    for name, opts in found:
        path = Path(os.path.realpath(name))
        if path.is_dir() and path != Path("/"):
            real.setdefault(path, opts)
    # a directory inside another one on the list is hidden with it
    return [
        (d, o) for d, o in real.items() if not any(d != e and d.is_relative_to(e) for e in real)
    ]


def _root_script(work: Path, tmp_mb: int, shm_mb: int) -> str:
    """The setup shell run as PID 1 of the new namespaces before dropping privileges.

    Each covered directory gets its tmpfs first at a stage inside `work`, the interpreter's
    paths under it are bound in read-only, and only then is the stage moved over the directory:
    so the interpreter runs from wherever it lives (a venv under /tmp, pyenv under $HOME).
    """
    lines = ["set -eu"]
    covered = _covered(tmp_mb, shm_mb)
    work_real = Path(os.path.realpath(work))
    # the directory holding `work` is covered last, so every stage is still reachable
    covered.sort(key=lambda item: work_real.is_relative_to(item[0]))
    for i, (target, opts) in enumerate(covered):
        stage = shlex.quote(str(work_real / f".memento-cover{i}"))
        lines += [f"mkdir {stage}", f"mount -t tmpfs -o {opts} memento-tmp {stage}"]
        for path in _keep_paths(target):
            inner = shlex.quote(str(work_real / f".memento-cover{i}" / path.relative_to(target)))
            lines += [f"mkdir -p {inner}", f"mount --bind {shlex.quote(str(path))} {inner}"]
            # best effort: the uid drop below leaves root-owned files read-only anyway
            lines.append(f"mount -o remount,bind,ro {inner} 2>/dev/null || :")
    for i, (target, _) in enumerate(covered):
        stage = shlex.quote(str(work_real / f".memento-cover{i}"))
        lines.append(f"mount --move {stage} {shlex.quote(str(target))}")
    uid = SANDBOX_UID
    lines += [
        f"mkdir -m 700 {SANDBOX_WORK}",
        f"cp main.py {SANDBOX_WORK}/main.py",  # the shell's cwd is still the parent's work dir
        f"chown -R {uid}:{uid} {SANDBOX_WORK}",
        f"cd {SANDBOX_WORK}",
        f"setpriv --reuid={uid} --regid={uid} --clear-groups --inh-caps=-all --bounding-set=-all"
        ' --no-new-privs -- "$@"',  # not exec'd: PID 1 ignores SIGXCPU, so it stays a shell
    ]
    return "\n".join(lines)


def _build(mode: Mode, python_argv: list[str], work: Path, net: bool, disk_mb: int) -> Launch:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    env["MPLBACKEND"] = "Agg"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    unshare = shutil.which("unshare") or "unshare"
    ns = ["--pid", "--fork", "--kill-child", *(["--net"] if net else [])]
    if mode == "root":
        script = _root_script(work, tmp_mb=disk_mb, shm_mb=max(1, disk_mb // 2))
        argv = [unshare, "--mount", "--propagation", "private", *ns, "--mount-proc"]
        argv += ["/bin/sh", "-c", script, "sandbox", *python_argv]
        home = SANDBOX_WORK
    elif mode == "userns":
        argv = [
            unshare,
            "--map-root-user",
            "--mount-proc",
            *ns,
            "/bin/sh",
            "-c",
            '"$@"',
            "sandbox",
            *python_argv,
        ]
        home = str(work)
    else:
        argv, home, net = list(python_argv), str(work), False
    env["HOME"] = env["TMPDIR"] = home
    return Launch(argv=argv, env=env, cwd=work, mode=mode, network_isolated=net)


def _probe(mode: Mode) -> str | None:
    """Start `python -c pass` in `mode`; None when it worked, else why it did not."""
    needed = {"root": ["unshare", "setpriv"], "userns": ["unshare"], "plain": []}[mode]
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    if mode == "root" and os.geteuid() != 0:
        return "the parent is not root"
    with tempfile.TemporaryDirectory(prefix="memento-probe-") as tmp:
        work = Path(tmp)
        (work / "main.py").write_text("pass\n", encoding="utf-8")
        launch = _build(mode, [sys.executable, "-I", "-B", "main.py"], work, True, 8)
        try:
            done = subprocess.run(
                launch.argv, cwd=work, env=launch.env, capture_output=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"probe failed: {exc}"
    if done.returncode != 0:
        return f"probe exited {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}"
    return None


@lru_cache(maxsize=1)
def detect_mode() -> tuple[Mode, str]:
    """The strongest mode that works here, and why stronger ones were not used."""
    reasons: list[str] = []
    if sys.platform != "linux":
        return "plain", "namespaces need Linux"
    for mode in ("root", "userns"):
        why = _probe(mode)
        if why is None:
            return mode, "; ".join(reasons) or "all checks passed"
        reasons.append(f"{mode}: {why}")
    return "plain", "; ".join(reasons)


def prepare(python_argv: list[str], work: Path, isolate_network: bool, disk_mb: int) -> Launch:
    """The command that runs `python_argv` (which reads main.py from `work`) in the sandbox."""
    mode, _ = detect_mode()
    return _build(mode, python_argv, work, isolate_network and mode != "plain", disk_mb)


def decode_status(code: int, mode: Mode) -> int:
    """Map a shell's 128+N status back to -N for the signals that end a limited program."""
    if mode != "plain" and code > 128 and code - 128 in _SIGNALS_FROM_STATUS:
        return -(code - 128)
    return code
