"""Python execution tool: runs code in a separate, limited process and reports what happened.

The code runs with the project's interpreter in isolated mode (`python -I`) in a fresh temporary
working directory, with a scrubbed environment (PATH, LANG, HOME=the temp dir and thread-count
variables only: no API keys), a wall-clock timeout that kills the whole process group, and
rlimits (CPU seconds, address space, processes, file size, no core files) set by a small
bootstrap in the child before the user's code runs. `sandbox_launch` adds what the platform
allows on top: new network, PID and mount namespaces and, when we run as root, an unprivileged
uid (see that module for the modes and what each blocks).

Limits are set in the child itself rather than through `preexec_fn`, which Python documents as
unsafe in a threaded parent (torch and Chroma start threads in ours).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from memento.tools.config import PythonConfig
from memento.tools.sandbox_launch import decode_status, detect_mode, prepare

_BOOTSTRAP = """\
import resource, sys, traceback
cpu, mem, nproc, fsize = (int(v) for v in sys.argv[1:5])
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU first, SIGKILL 1 s later
for kind, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_NPROC, nproc),
                    (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(kind, (value, value))
sys.argv = ["main.py"]
sys.path.insert(0, "")
source = open("main.py", encoding="utf-8").read()
namespace = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
try:
    exec(compile(source, "main.py", "exec"), namespace)
except SystemExit:
    raise
except BaseException as exc:
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    traceback.print_exception(type(exc), exc, tb)
    sys.exit(1)
"""

_SIGNALS = {
    signal.SIGKILL: "killed (CPU hard limit or out of memory)",
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGXFSZ: "file size limit exceeded (output or a written file too large)",
    signal.SIGSEGV: "segmentation fault",
}


class PythonArgs(BaseModel):
    """Arguments of the python tool."""

    code: str = Field(
        description=(
            "A complete Python 3 program. Print what you need: only stdout and stderr come "
            "back. Runs in an empty temporary folder, without network or API keys."
        ),
        min_length=1,
    )


def network_isolation_available() -> bool:
    """True when the sandbox can give the child an empty network namespace here."""
    return detect_mode()[0] != "plain"


def _read_capped(path: Path, limit: int, tail: bool = False) -> str:
    """Read at most `limit` characters: the head (stdout) or the tail (stderr, tracebacks)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if tail and size > limit * 4:
            fh.seek(size - limit * 4)
        raw = fh.read(limit * 4 + 4)
    text = raw.decode("utf-8", errors="replace")
    if len(text) <= limit and size <= len(raw):
        return text
    note = f"[... output truncated: {size} bytes in all]"
    return f"{note}\n{text[-limit:]}" if tail else f"{text[:limit]}\n{note}"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_python(code: str, config: PythonConfig) -> str:
    """Run `code` under the configured limits and describe the outcome as text."""
    mb = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="memento-py-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        (work / "main.py").write_text(code, encoding="utf-8")
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        limits = [config.cpu_s, config.memory_mb * mb, config.max_processes]
        argv = [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, *map(str, limits)]
        argv.append(str(config.max_file_mb * mb))
        launch = prepare(argv, work, config.isolate_network, disk_mb=2 * config.max_file_mb)
        timed_out = False
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                proc = subprocess.Popen(
                    launch.argv,
                    cwd=launch.cwd,
                    env=launch.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                return f"Error: could not start Python: {exc}"
            try:
                proc.wait(timeout=config.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc)  # also reaps background children left behind
            proc.wait()
        stdout = _read_capped(out_path, config.max_output_chars)
        stderr = _read_capped(err_path, config.max_output_chars, tail=True)
    status = decode_status(proc.returncode, launch.mode)
    return _report(status, stdout, stderr, timed_out, config, launch.network_isolated)


def _report(
    code: int, stdout: str, stderr: str, timed_out: bool, config: PythonConfig, isolated: bool
) -> str:
    if timed_out:
        error = f"timed out after {config.timeout_s:g} s (process killed)"
    elif code < 0:
        error = _SIGNALS.get(signal.Signals(-code), f"killed by signal {-code}")
    elif code != 0:
        error = f"exited with status {code}"
        if "MemoryError" in stderr:
            error += f" (memory limit {config.memory_mb} MB)"
    else:
        error = ""
    parts = [f"exit_code: {code}", f"network: {'none' if isolated else 'not isolated'}"]
    parts.append(f"stdout:\n{stdout}" if stdout else "stdout: (empty)")
    if stderr:
        parts.append(f"stderr:\n{stderr}")
    if error:
        parts.append(f"error: {error}")
    return "\n".join(parts)


def build_python(config: PythonConfig) -> BaseTool:
    """The `python` tool."""

    def _run(code: str) -> str:
        return run_python(code, config)

    limits = (
        f"timeout {config.timeout_s:g} s, CPU {config.cpu_s} s, memory {config.memory_mb} MB, "
        f"output {config.max_output_chars} chars"
    )
    isolated = config.isolate_network and network_isolation_available()
    network = "no network" if isolated else "network access is not blocked"
    return StructuredTool.from_function(
        func=_run,
        name="python",
        description=(
            "Run a Python 3 program in a separate sandboxed process and get its stdout, stderr "
            f"and error ({limits}). numpy/sympy are importable; {network}; files do not persist."
        ),
        args_schema=PythonArgs,
    )
