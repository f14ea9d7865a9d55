"""Load drivers for soak tests: a case bank under concurrent readers and writers, RSS sampling.

`case_bank_load` runs searching and adding threads against one embedded bank for a fixed time
and checks afterwards that every write is readable; `sample_rss` records this process's resident
memory against rows written while a long run (an evaluation, say) executes. The project's
tests/test_load.py asserts on both and benchmarks/load.py prints their tables.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memento.memory.case_bank import CaseBank
from memento.memory.records import Case, label_for
from memento.testing.fakes import HashEmbeddings

WORDS = (
    "capital river mountain author novel painter symphony treaty election museum bridge "
    "island emperor planet element molecule vaccine harbour railway festival glacier desert"
).split()


def words(rng: random.Random, n: int = 8) -> str:
    """`n` words drawn from a small vocabulary (tasks that overlap as real ones do)."""
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _plan(step: str) -> dict[str, Any]:
    return {"plan": [{"id": 1, "description": step}]}


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class LoadReport:
    """What the case-bank load run saw (latencies in seconds)."""

    seconds: float
    preload: int
    reads: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    final_count: int = 0


def open_load_bank(path: Path) -> CaseBank:
    """An embedded bank with hashed 384-d embeddings (the vector model is not what is measured)."""
    return CaseBank(path=path, collection="load", embeddings=HashEmbeddings(384))


def case_bank_load(
    path: Path, seconds: float, *, readers: int = 8, writers: int = 2, preload: int = 3000
) -> LoadReport:
    """Run `readers` searching and `writers` adding threads against one bank for `seconds`."""
    bank = open_load_bank(path)
    rng = random.Random(0)
    cases = [
        Case(
            id=f"pre-{i}",
            task=f"{words(rng)} {i}",
            plan=_plan(f"step {i}"),
            reward=float(i % 2),
            label=label_for(float(i % 2)),
        )  # fmt: skip
        for i in range(preload)
    ]
    bank.add_cases(cases, dedup=False)
    report = LoadReport(seconds=seconds, preload=preload)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def reader(seed: int) -> None:
        local = random.Random(seed)
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                found = bank.search(words(local, 5), k=4)
                if len(found) != 4:
                    raise AssertionError(f"search returned {len(found)} cases")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    report.errors.append(f"read: {exc!r}")
                continue
            with lock:
                report.reads.append(time.perf_counter() - started)

    def writer(seed: int) -> None:
        local = random.Random(seed)
        n = 0
        while time.monotonic() < stop:
            case_id, task = f"w{seed}-{n}", f"writer {seed} case {n}: {words(local, 10)}"
            n += 1
            started = time.perf_counter()
            try:
                got = bank.add(task, _plan(f"plan {n}"), reward=1.0, case_id=case_id)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    report.errors.append(f"write: {exc!r}")
                continue
            with lock:
                report.writes.append(time.perf_counter() - started)
                report.written[got] = task

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    threads += [threading.Thread(target=writer, args=(100 + i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = open_load_bank(path)  # read back through a fresh handle on the same store
    stored = {c.id: c.task for c in again.get_many(list(report.written))}
    report.unreadable = [i for i, task in report.written.items() if stored.get(i) != task]
    report.final_count = again.count()
    return report


@dataclass
class GrowthReport:
    """RSS samples (rows written, MiB) over one long run."""

    tasks: int
    samples: list[tuple[int, float]]
    seconds: float
    rows: int

    def at(self, fraction: float) -> float:
        """RSS at the first sample with at least `fraction` of the rows written."""
        goal = fraction * self.tasks
        return next((mb for rows, mb in self.samples if rows >= goal), self.samples[-1][1])


def sample_rss(results: Path, tasks: int, run: Callable[[], object]) -> GrowthReport:
    """Call `run()` while sampling RSS every 0.5 s against the lines written to `results`."""
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    done = threading.Event()

    def rows() -> int:
        return results.read_bytes().count(b"\n") if results.exists() else 0

    def sample() -> None:
        while not done.wait(0.5):
            samples.append((rows(), rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    samples.append((rows(), rss_mb()))
    return GrowthReport(tasks, samples, time.perf_counter() - started, rows())
