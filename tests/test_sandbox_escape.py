"""Escape suite for the python tool: each attack is blocked, or its documented outcome asserted.

Every attack runs in each sandbox mode this machine can start (`root`, `userns`, `plain`, see
memento.tools.sandbox_launch); the mode a deployment here would get is always among them. The
expectation table is docs/sandbox.md's: what a mode does not block is asserted as not blocked, so a
change in behaviour fails a test either way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memento.tools import sandbox_launch
from memento.tools.config import PythonConfig
from memento.tools.python_exec import run_python

pytestmark = pytest.mark.integration

CFG = PythonConfig(timeout_s=10, cpu_s=5, memory_mb=256, max_processes=32, max_file_mb=1)
MODES = ("root", "userns", "plain")
DETECTED = sandbox_launch.detect_mode()[0]


def _mode_param(mode: str) -> object:
    why = None if mode in (DETECTED, "plain") else sandbox_launch._probe(mode)  # type: ignore[arg-type]
    return pytest.param(mode, marks=pytest.mark.skipif(why is not None, reason=f"{mode}: {why}"))


@pytest.fixture(params=[_mode_param(m) for m in MODES])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Force the sandbox mode for this test."""
    value = str(request.param)
    monkeypatch.setattr(sandbox_launch, "detect_mode", lambda: (value, "forced by the test"))
    yield value


def _run(code: str, config: PythonConfig = CFG) -> str:
    return run_python(textwrap.dedent(code), config)


def _stdout_json(out: str) -> dict[str, object]:
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT ") :]))


def test_the_detected_mode_is_reported() -> None:
    mode, reason = sandbox_launch.detect_mode()
    assert mode in MODES
    assert reason
    if os.geteuid() == 0 and sys.platform == "linux":
        assert mode == "root", reason  # we are root in a Linux container: the strongest mode


def test_environment_secrets_do_not_reach_the_child(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-escape-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    out = _run("import os\nprint(dict(os.environ))")
    assert "exit_code: 0" in out
    assert secret not in out


def test_parent_environ_through_proc(mode: str) -> None:
    """A parent started with a key in its environment: can the child read /proc/<pid>/environ?"""
    secret = f"tvly-escape-{uuid.uuid4().hex}"
    attack = r"""
        import glob, json, subprocess
        def scan():
            hits = 0
            for path in glob.glob("/proc/[0-9]*/environ"):
                try:
                    hits += b"tvly-escape-" in open(path, "rb").read()
                except OSError:
                    pass
            return hits
        naive = scan()
        umount = subprocess.run(["umount", "/proc"], capture_output=True).returncode
        print("RESULT", json.dumps({"naive": naive, "umount": umount, "after": scan()}))
    """
    helper = (
        "import sys\nfrom memento.tools import sandbox_launch as s\n"
        f"s.detect_mode = lambda: ({mode!r}, 'forced')\n"
        "from memento.tools.python_exec import run_python\n"
        "from memento.tools.config import PythonConfig\n"
        "print(run_python(sys.stdin.read(), PythonConfig(timeout_s=20)))"
    )
    env = {**os.environ, "TAVILY_API_KEY": secret}
    done = subprocess.run(
        [sys.executable, "-c", helper],
        input=textwrap.dedent(attack),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = _stdout_json(done.stdout)
    assert secret not in done.stdout
    if mode == "root":  # own PID namespace and /proc, another uid, no capabilities
        assert result["umount"] != 0
        assert (result["naive"], result["after"]) == (0, 0)
    elif mode == "userns":  # it may unmount its /proc; the host's refuses another user ns
        assert result["umount"] == 0
        assert (result["naive"], result["after"]) == (0, 0)
    else:  # plain: documented, same uid reads the parent's environment
        assert int(str(result["naive"])) >= 1


def test_writing_outside_the_working_directory(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "open"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    tag = uuid.uuid4().hex
    paths = [target / f"x-{tag}", Path(f"/var/tmp/memento-escape-{tag}")]
    paths += [Path(f"/dev/shm/memento-escape-{tag}")] if Path("/dev/shm").is_dir() else []
    code = "import json\nok = []\n"
    code += f"for p in {[str(p) for p in paths]!r}:\n"
    code += "    try:\n        open(p, 'w').write('x'); ok.append(p)\n"
    code += "    except OSError:\n        pass\n"
    code += "print('RESULT', json.dumps({'written': ok}))"
    try:
        out = _run(code)
        landed = [p for p in paths if p.exists()]
        if mode == "root":  # private tmpfs on /tmp, /var/tmp, /dev/shm: nothing reaches the host
            assert landed == []
        else:  # documented: the child writes wherever the user can
            assert landed == paths
        assert "exit_code: 0" in out
    finally:
        for p in paths:
            p.unlink(missing_ok=True)


def test_root_owned_files_are_read_only_and_home_is_hidden(mode: str) -> None:
    code = f"""
        import json, os
        try:
            open("/etc/memento-escape", "w").close(); etc = "written"
        except OSError:
            etc = "refused"
        home = sorted(os.listdir({str(Path.home())!r}))
        print("RESULT", json.dumps({{"etc": etc, "home": home}}))
    """
    parent_home = sorted(os.listdir(Path.home()))
    try:
        result = _stdout_json(_run(code))
    finally:
        Path("/etc/memento-escape").unlink(missing_ok=True)
    if mode == "root":
        assert result["etc"] == "refused"
        assert not set(map(str, result["home"])) & (set(parent_home) - {".pyenv"})
    else:  # userns and plain keep the parent's uid: documented, as open as the user's files
        assert result["etc"] == ("written" if os.geteuid() == 0 else "refused")
        assert result["home"] == parent_home


def test_fork_bomb_is_capped(mode: str) -> None:
    code = """
        import json, os, time
        made, err = 0, None
        while made < 200:
            try:
                pid = os.fork()
            except OSError as exc:
                err = exc.errno
                break
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            made += 1
        print("RESULT", json.dumps({"made": made, "errno": err}))
    """
    result = _stdout_json(_run(code))
    if mode == "root" or os.geteuid() != 0:  # RLIMIT_NPROC holds for any uid but root
        assert result["errno"] == 11  # EAGAIN
        assert int(str(result["made"])) < CFG.max_processes
    else:  # documented: the kernel exempts uid 0 from RLIMIT_NPROC
        assert result["made"] == 200


def test_orphans_that_leave_the_process_group(mode: str) -> None:
    marker = f"memento-orphan-{uuid.uuid4().hex}"
    code = f"""
        import os, sys, time
        child = os.fork()
        if child == 0:
            os.setsid()
            sleep = "import time; time.sleep(60)"
            os.execv(sys.executable, [sys.executable, "-c", sleep, {marker!r}])
        for _ in range(100):  # wait until the child runs under its marker
            with open(f"/proc/{{child}}/cmdline", "rb") as fh:
                if {marker!r}.encode() in fh.read():
                    break
            time.sleep(0.05)
        print("parent done")
    """
    out = _run(code)
    assert "parent done" in out
    survivors = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                survivors.append(int(cmdline.parent.name))
        except OSError:
            pass
    for pid in survivors:
        os.kill(pid, 9)
    if mode == "plain":  # documented: setsid escapes the group kill
        assert survivors
    else:  # PID 1 of the namespace exits and takes every process in it along
        assert survivors == []


def test_memory_exhaustion() -> None:
    """Mode-independent (rlimits in the child): runs in the detected mode only."""
    out = _run("x = bytearray(2 * 1024**3)\nprint('allocated')")
    assert "MemoryError" in out
    assert "allocated" not in out


def test_disk_filling_outside_the_working_directory(mode: str) -> None:
    tag = uuid.uuid4().hex
    code = f"""
        import json, os
        done = 0
        try:
            for i in range(3):
                with open("/var/tmp/memento-fill-{tag}-%d" % i, "wb") as fh:
                    fh.write(b"z" * 1024 * 1023)
                done += 1
        except OSError as exc:
            print("RESULT", json.dumps({{"done": done, "errno": exc.errno}}))
        else:
            print("RESULT", json.dumps({{"done": done, "errno": None}}))
    """
    try:
        result = _stdout_json(_run(code))
    finally:
        for p in Path("/var/tmp").glob(f"memento-fill-{tag}-*"):
            p.unlink()
    if mode == "root":  # /var/tmp is a private tmpfs of half of 2 x max_file_mb
        assert result["errno"] == 28  # ENOSPC
    else:  # documented: total disk use is not limited, only each file's size
        assert result == {"done": 3, "errno": None}


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield int(sock.getsockname()[1])


def test_network_sockets(mode: str, listener: int) -> None:
    name = f"memento-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX) as abstract:
        abstract.bind("\0" + name)
        abstract.listen(1)
        code = f"""
            import json, socket
            def attempt(family, address):
                s = socket.socket(family)
                s.settimeout(1)
                try:
                    return s.connect_ex(address)
                except OSError as exc:
                    return exc.errno
            print("RESULT", json.dumps({{
                "loopback": attempt(socket.AF_INET, ("127.0.0.1", {listener})),
                "external": attempt(socket.AF_INET, ("192.0.2.1", 80)),  # TEST-NET-1
                "abstract": attempt(socket.AF_UNIX, "\\0{name}"),
            }}))
        """
        out = _run(code)
    result = _stdout_json(out)
    if mode == "plain":  # documented: no network isolation without namespaces
        assert "network: not isolated" in out
        assert result["loopback"] == 0
        assert result["abstract"] == 0
    else:  # empty network namespace: no interface is up, abstract sockets are per namespace
        assert "network: none" in out
        assert result["loopback"] == 101  # ENETUNREACH
        assert result["external"] == 101
        assert result["abstract"] == 111  # ECONNREFUSED: the name does not exist here


def test_signalling_other_processes(mode: str) -> None:
    with subprocess.Popen(["sleep", "30"]) as victim:
        code = f"""
            import os
            try:
                os.kill({victim.pid}, 0)
                print('RESULT {{"seen": true}}')
            except OSError:
                print('RESULT {{"seen": false}}')
        """
        out = _run(code)
        victim.kill()
    result = _stdout_json(out)
    assert result["seen"] is (mode == "plain")  # a PID namespace hides every outside process


def test_long_cpu_loop() -> None:
    """Mode-independent (rlimits in the child): runs in the detected mode only."""
    out = _run("while True:\n    pass", CFG.model_copy(update={"cpu_s": 1, "timeout_s": 20}))
    assert "CPU time limit exceeded" in out


def test_big_output() -> None:
    """Mode-independent (rlimits in the child): runs in the detected mode only."""
    out = _run("import sys\nfor _ in range(200):\n    sys.stdout.write('y' * 65536)")
    assert "output truncated" in out
    assert len(out) < CFG.max_output_chars * 2 + 500
