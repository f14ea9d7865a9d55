"""Imports point one way: no import cycle among memento's modules, and the layers contract holds.

Cycles count imports inside functions too (grimp reads every import statement) but not those
under `if TYPE_CHECKING:`, which never run. Importing `a.b.c` from outside `a.b` runs the
`__init__` of `a` and `a.b` first, so such an import is also an edge to those packages: an eager
re-export in a package's `__init__` that reaches back into the importer is a cycle here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def import_edges(package: str) -> dict[str, set[str]]:
    """Module -> modules its running imports load (TYPE_CHECKING-only imports left out)."""
    graph = grimp.build_graph(
        package, include_external_packages=False, exclude_type_checking_imports=True,
        cache_dir=None,
    )  # fmt: skip
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for importer, imported in list((m, w) for m, ws in edges.items() for w in ws):
        outside = _ancestors(imported) - _ancestors(importer) - {importer}
        edges[importer] |= {p for p in outside if p in edges}
    return edges


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_symlinked_folders_are_seen_as_memento_subpackages() -> None:
    edges = import_edges("memento")
    for module in ("memento.graphs.builder", "memento.nodes.judge",
                   "memento.memory.case_bank", "memento.tools.registry"):  # fmt: skip
        assert module in edges
    assert "memento.nodes.plan" in edges["memento.graphs.builder"]


def test_memento_has_no_import_cycle() -> None:
    assert cycles(import_edges("memento")) == []


def test_a_cycle_through_a_function_level_import_or_an_init_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "cyc"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyc import b\n")
    (pkg / "b.py").write_text("from cyc import a\n")
    (pkg / "sub" / "__init__.py").write_text("from cyc.sub.builder import x\n")
    (pkg / "sub" / "builder.py").write_text("from cyc.c import y\nx = 1\n")
    (pkg / "sub" / "parts.py").write_text("")
    (pkg / "c.py").write_text("from cyc.sub.parts import *\ny = 2\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyc import e\n"
    )
    (pkg / "e.py").write_text("from cyc import d\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = cycles(import_edges("cyc"))
    assert ["cyc.a", "cyc.b"] in found
    assert ["cyc.c", "cyc.sub", "cyc.sub.builder"] in found
    assert not any("cyc.d" in component for component in found)


def test_the_import_linter_contracts_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    # import-linter's CLI runs logging.config.dictConfig, which disables every logger that
    # exists (memento's too, so later caplog tests would capture nothing): monkeypatch puts
    # each logger's `disabled` flag back after this test.
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", logger.disabled)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
