"""Root sandbox mode with the interpreter in a directory it hides (issue 14: a checkout in /tmp).

Root mode mounts fresh tmpfs over /tmp, /var/tmp, /dev/shm and $HOME. A venv living under one
of them must still start in the sandbox (it used to exit 127: `setpriv` found no python), and
the child must not be able to write into it.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from memento.tools import sandbox_launch

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]

_HELPER = """\
import json, sys
from memento.tools import sandbox_launch as s
from memento.tools.config import PythonConfig
from memento.tools.python_exec import run_python
why = s._probe("root")
s.detect_mode = lambda: ("root", "forced by the test")
code = '''
import os, sys
try:
    open(os.path.join(sys.prefix, "memento-escape"), "w").close(); wrote = True
except OSError:
    wrote = False
print("PREFIX", sys.prefix, "WROTE", wrote)
'''
print(json.dumps({"why": why, "out": run_python(code, PythonConfig(timeout_s=20))}))
"""


def _namespaces_refused() -> str | None:
    """Why this machine cannot make root mode's namespaces at all (None when it can)."""
    if sys.platform != "linux":
        return "namespaces need Linux"
    missing = [t for t in ("unshare", "setpriv") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    if os.geteuid() != 0:
        return "root mode needs a root parent"
    argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc"]
    done = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=20)
    return None if done.returncode == 0 else f"unshare refused: {done.stderr.strip()}"


@pytest.fixture(scope="module")
def root_mode() -> None:
    """Skip where root mode cannot exist; CI runs as root, so there it must."""
    why = _namespaces_refused()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


@pytest.mark.parametrize("parent", ["/tmp", "/var/tmp"])
def test_root_mode_runs_a_venv_under_a_hidden_directory(root_mode: None, parent: str) -> None:
    holder = Path(tempfile.mkdtemp(prefix="memento-clone-", dir=parent))
    try:
        holder.chmod(0o755)  # as a `git clone` there would be
        venv = holder / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        path = os.pathsep.join([str(REPO), *site.getsitepackages()])
        done = subprocess.run(
            [str(python), "-c", _HELPER],
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=holder,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.splitlines()[-1])
        assert result["why"] is None  # the probe passes: detect_mode would pick root
        assert "exit_code: 0" in result["out"], result["out"]
        assert f"PREFIX {venv} WROTE False" in result["out"]
        assert not (venv / "memento-escape").exists()
    finally:
        shutil.rmtree(holder)


def test_directories_inside_a_covered_one_are_not_covered_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A $HOME under /tmp is hidden by /tmp's tmpfs; mounting it again would find no path."""
    home = Path(tempfile.mkdtemp(prefix="memento-home-", dir="/tmp"))
    try:
        monkeypatch.setenv("HOME", str(home))
        covered = [str(d) for d, _ in sandbox_launch._covered(8, 4)]
        assert covered[0] == os.path.realpath("/tmp")
        assert os.path.realpath(home) not in covered
    finally:
        home.rmdir()
