"""The wheel installs into a fresh virtual environment with the design card's package layout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_wheel_installs_in_fresh_venv_and_cli_runs(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheel_dir.glob("memento_langgraph-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from this interpreter's site-packages (a plain path entry, so its .pth
    # files, including the editable install's finder, are NOT processed); the project itself
    # comes only from the wheel.
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )

    layout = subprocess.run(
        [
            str(py),
            "-c",
            "import memento, memento.graphs, memento.nodes, memento.memory, memento.tools, "
            "memento.memory.records as r; print(memento.__file__); print(r.__file__); "
            "import sys; print(sys.modules[memento.build_graph.__module__].__file__); "
            "print(sys.modules[memento.QSelector.__module__].__file__)",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in layout), layout
    for name in ("tools", "memory", "graphs", "nodes"):
        assert not (site / name).exists(), f"top-level {name!r} leaked into site-packages"

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMENTO_")}
    out = subprocess.run(
        [str(env_dir / "bin" / "memento"), "--help"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert "cases" in out and "Memento" in out
