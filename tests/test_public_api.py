"""`import memento`: cheap, exports what a user imports first, loud on a checkout without links."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memento

PACKAGE = Path(memento.__file__).parent
LINKED = ("graphs", "nodes", "memory", "tools")


@pytest.mark.integration  # a fresh interpreter
def test_import_memento_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, memento\n"
        "heavy = ('torch', 'chromadb', 'sentence_transformers', 'langgraph', 'langchain_core')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_every_export_resolves_to_its_module_object() -> None:
    expected = {"build_graph", "Context", "CaseBank", "SimilaritySelector", "QSelector"}
    expected |= {"MementoMiddleware"}
    assert expected | {"CaseSelector"} <= set(memento.__all__)
    for name in memento.__all__:
        value = getattr(memento, name)
        assert value is not None
        if name != "__version__":
            assert value.__name__ == name  # the real object, not a module or a wrapper
    from memento.graphs.builder import build_graph
    from memento.memory.q.selector import QSelector

    assert memento.build_graph is build_graph
    assert memento.QSelector is QSelector
    assert "build_graph" in dir(memento)


def _copy_package(dest: Path, links: bool) -> Path:
    """memento/ copied to `dest`; without links, each link becomes git's text-file stand-in."""
    root = dest / "checkout"
    shutil.copytree(
        PACKAGE, root / "memento", symlinks=True, ignore=shutil.ignore_patterns("*.pyc")
    )
    for name in LINKED:
        link = root / "memento" / name
        link.unlink()
        if links:
            link.symlink_to(f"../{name}")
            (root / name).mkdir()
            (root / name / "__init__.py").write_text("")
        else:
            link.write_text(f"../{name}")  # what git writes with core.symlinks=false
    return root


def _import_in(checkout: Path) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, so no editable install maps memento.graphs behind our back
    code = "import importlib.util, memento; print(importlib.util.find_spec('memento.graphs'))"
    return subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=checkout, capture_output=True, text=True, timeout=60
    )


@pytest.mark.integration  # a fresh interpreter
def test_a_checkout_without_symlinks_fails_at_import_with_a_clear_message(tmp_path: Path) -> None:
    done = _import_in(_copy_package(tmp_path, links=False))
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "without symlinks" in done.stderr and "core.symlinks" in done.stderr
    assert "pip install -e ." in done.stderr


@pytest.mark.integration  # a fresh interpreter
def test_a_checkout_with_symlinks_imports(tmp_path: Path) -> None:
    checkout = _copy_package(tmp_path, links=True)
    done = _import_in(checkout)
    assert done.returncode == 0, done.stderr
    assert str(checkout / "memento" / "graphs") in done.stdout
