"""How the codebase reads: folder sizes, largest files, import cycles, files a run loads.

Files and lines per folder, the largest files, import cycles, and the project files one offline
`memento run` loads from START to END.

    python benchmarks/codebase.py                   # this checkout
    python benchmarks/codebase.py --root OTHER      # another checkout (e.g. an older commit's
                                                    # `git worktree`), measured the same way
Cycles count imports inside functions (grimp reads every import statement) but not those under
`if TYPE_CHECKING:`; importing `a.b.c` also runs `a` and `a.b`'s `__init__`, counted as edges.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FOLDERS = (
    "graphs", "nodes", "memory", "memory/q", "memory/q/share", "tools", "memento",
    "memento/cli", "memento/eval", "memento/sim", "memento/infra", "memento/scoring",
    "memento/testing", "memento/middleware", "benchmarks", "tests", "tests/support",
)  # fmt: skip

_CYCLES = """
import json, grimp
g = grimp.build_graph("memento", include_external_packages=False,
                      exclude_type_checking_imports=True, cache_dir=None)
edges = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
def up(m):
    p = m.split(".")
    return {".".join(p[:i]) for i in range(1, len(p))}
for m in list(edges):
    for w in list(edges[m]):
        edges[m] |= {p for p in up(w) - up(m) - {m} if p in edges}
index, low, stack, on, found = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index); stack.append(v); on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: found.append(sorted(comp))
import sys; sys.setrecursionlimit(10000)
for m in sorted(edges):
    if m not in index: visit(m)
print(json.dumps(found))
"""

_RUN = """
import atexit, os, sys
def report():
    files = {os.path.realpath(m.__file__) for n, m in list(sys.modules.items())
             if (n == "memento" or n.startswith("memento.")) and getattr(m, "__file__", None)}
    sys.stderr.write("FILES " + repr(sorted(files)) + "\\n")
atexit.register(report)
from memento.cli.main import main
sys.argv = ["memento", "run", "What is 2+2?", "--llm", "offline", "--home", sys.argv[1]]
main()
"""


def folder_stats(root: Path) -> list[tuple[str, int, int]]:
    """(folder, .py files, lines) for each folder that exists, not counting subfolders."""
    out = []
    for name in FOLDERS:
        folder = root / name
        if folder.is_dir() and not folder.is_symlink():
            files = [p for p in folder.glob("*.py") if p.is_file()]
            out.append((name, len(files), sum(len(p.read_text().splitlines()) for p in files)))
    return out


def largest(root: Path, n: int = 6) -> list[tuple[int, str]]:
    """The n longest project .py files (symlinked folders counted once)."""
    sizes = []
    for sub in ("graphs", "nodes", "memory", "tools", "memento", "benchmarks", "tests"):
        for p in (root / sub).rglob("*.py"):
            rel = p.relative_to(root)
            if (
                rel.parts[0] == "memento"
                and len(rel.parts) > 1
                and (root / rel.parts[0] / rel.parts[1]).is_symlink()
            ):
                continue  # fmt: skip
            sizes.append((len(p.read_text().splitlines()), str(rel)))
    return sorted(sizes, reverse=True)[:n]


def in_checkout(root: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` with `memento` imported from `root` (not from the installed package)."""
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=root, capture_output=True, text=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--quick", action="store_true", help="same measurement (it is quick)")
    args = parser.parse_args()
    root = args.root.resolve()
    print(f"## Codebase at {root}\n\n| folder | .py files | lines |\n|---|---|---|")
    for name, files, lines in folder_stats(root):
        print(f"| {name} | {files} | {lines} |")
    print("\n| largest files | lines |\n|---|---|")
    for lines, name in largest(root):
        print(f"| {name} | {lines} |")
    cyc = in_checkout(root, _CYCLES)
    cycles = json.loads(cyc.stdout) if cyc.returncode == 0 else None
    with tempfile.TemporaryDirectory() as home:
        run = in_checkout(root, _RUN, home)
    line = next((ln for ln in run.stderr.splitlines() if ln.startswith("FILES ")), "")
    files = eval(line[6:]) if line else []  # noqa: S307 - our own repr of a list of str
    folders = {os.path.dirname(f) for f in files}
    print("\n| measure | value |\n|---|---|")
    print(f"| import cycles (module groups) | {len(cycles) if cycles is not None else 'error'} |")
    print(f"| project files one `memento run` loads | {len(files)} in {len(folders)} folders |")
    if cycles:
        for group in cycles:
            print(f"  cycle among: {', '.join(group)}")
    print(f"\nReproduce: python benchmarks/codebase.py --root {root}")


if __name__ == "__main__":
    main()
