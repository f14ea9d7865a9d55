"""Kill -9 campaign: SIGKILL an offline evaluation at seeded points, resume, then audit the stores.

    python -m tests.support.reliability.kill_campaign --tasks 200 --kills 50 --seed 0

The driver imports everything once, then forks one child per attempt (a fork skips the ~4 s
import of a fresh interpreter, so 50 resumes stay cheap); each child runs (or resumes) the
evaluation of `tests.support.reliability.campaign_eval` in modes similarity and q with 4 tasks in
flight. A seeded schedule picks the kill points: most are "the N-th tool call overall, then a
random 0-100 ms more", which lands anywhere in a task (planning, a Chroma write, a Q save, a
result row); one in ten is "0-500 ms after the child starts", i.e. during recovery. After each
kill the next child resumes. When the schedule is spent the run finishes, a last child must find
nothing to do, and `store_checks.check_run` audits rows, cases, Chroma, the Q checkpoint, the
replay buffer and the SQLite files. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from memento.eval.results import read_results
from tests.support.reliability.campaign_eval import MODES, make_tasks, run_modes
from tests.support.reliability.store_checks import RunCheck, check_run

STARTUP_SHARE = 0.1
"""Share of kills timed from the child's start (recovery) instead of by tool calls."""
PRELOAD = (
    "aiosqlite",
    "chromadb.api.rust",
    "langgraph.checkpoint.sqlite.aio",
    "langgraph.prebuilt",
    "memento.graphs.builder",
    "memento.memory.q.learner",
    "memento.memory.q.selector",
    "memento.memory.similarity",
    "torch._dynamo",  # imported lazily by torch's optimizers: seconds per child otherwise
)
"""Modules each child would import lazily; the driver imports them once, before forking."""


@dataclass(frozen=True)
class KillPoint:
    """When to kill one child: after `calls` tool calls overall plus `delay_s`, or at start."""

    kind: str
    calls: int
    delay_s: float


@dataclass
class Report:
    """What the campaign did and what the audit found."""

    tasks: int
    modes: list[str]
    seed: int
    scheduled: int = 0
    kills: int = 0
    resumes: int = 0
    startup_kills: int = 0
    tool_calls: int = 0
    rerun_tool_calls: int = 0
    crashes: int = 0
    stalls: int = 0
    seconds: float = 0.0
    rows_at_kill: list[int] = field(default_factory=list)
    check: RunCheck = field(default_factory=RunCheck)

    @property
    def problems(self) -> list[str]:
        """Every failed check, in words."""
        found = list(self.check.problems)
        if self.kills < self.scheduled:
            found.append(f"only {self.kills} of {self.scheduled} scheduled kills happened")
        if self.crashes or self.stalls:
            found.append(f"{self.crashes} children crashed, {self.stalls} stalled")
        if self.rerun_tool_calls:
            found.append(f"the run after completion made {self.rerun_tool_calls} tool calls")
        return found


def schedule(seed: int, kills: int, total_calls: int, max_delay_s: float) -> list[KillPoint]:
    """`kills` kill points, in order, spread over the first 75% of the expected tool calls.

    The last quarter is left alone so the run cannot finish inside a kill's delay.
    """
    rng = random.Random(seed)
    span = max(kills + 1, int(total_calls * 0.75))
    targets = sorted(rng.sample(range(1, span), kills))
    points = []
    for calls in targets:
        if rng.random() < STARTUP_SHARE:
            points.append(KillPoint("startup", calls, rng.uniform(0.0, 0.5)))
        else:
            points.append(KillPoint("calls", calls, rng.uniform(0.0, max_delay_s)))
    return points


def _child(out: Path, tasks: int, modes: Sequence[str], concurrency: int, counter: Any) -> None:
    lock = threading.Lock()

    def tick() -> None:
        with lock:
            counter.value += 1

    code = 0
    try:
        run_modes(out, make_tasks(tasks), modes=modes, concurrency=concurrency, on_tool_call=tick)
    except BaseException:  # noqa: BLE001 - the parent counts a crash by the exit status
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _rows(out: Path) -> int:
    try:
        return len(read_results(out))
    except Exception:  # noqa: BLE001 - a row being written; counting is best effort
        return -1


def _attempt(
    out: Path,
    args: argparse.Namespace,
    counter: Synchronized[int],
    point: KillPoint | None,
    report: Report,
) -> bool:
    """One child: run it, kill it at `point`; True when it finished the run by itself."""
    pid = os.fork()
    if pid == 0:
        _child(out, args.tasks, args.modes, args.concurrency, counter)
    started, first = time.monotonic(), counter.value
    last_progress, last_count = started, first
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                report.crashes += 1
                return False
            return True
        now, count = time.monotonic(), counter.value
        if count != last_count:
            last_progress, last_count = now, count
        due = point is not None and (
            (point.kind == "startup" and now - started >= point.delay_s)
            or (point.kind == "calls" and count >= max(point.calls, first + 1))
        )
        if due and point is not None:
            if point.kind == "calls":
                time.sleep(point.delay_s)
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                report.kills += 1
                report.startup_kills += point.kind == "startup"
                report.rows_at_kill.append(_rows(out))
                return False
            return os.waitstatus_to_exitcode(status) == 0
        if now - last_progress > args.stall_s:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            report.stalls += 1
            return False
        time.sleep(0.002)


def run_campaign(args: argparse.Namespace, out: Path) -> Report:
    """Run the schedule against the evaluation in `out`, then audit it."""
    for name in PRELOAD:  # imports only: no threads or open stores may exist at fork time
        importlib.import_module(name)
    report = Report(tasks=args.tasks, modes=list(args.modes), seed=args.seed)
    counter: Synchronized[int] = multiprocessing.Value(ctypes.c_long, 0, lock=False)  # type: ignore[assignment]
    points = schedule(args.seed, args.kills, args.tasks * len(args.modes), args.max_delay_ms / 1e3)
    report.scheduled = len(points)
    started = time.monotonic()
    finished = False
    for i, point in enumerate(points):
        report.resumes += i > 0
        if _attempt(out, args, counter, point, report):
            finished = True
            break
    while not finished and report.crashes + report.stalls <= 3:
        report.resumes += report.kills > 0
        finished = _attempt(out, args, counter, None, report)
    report.tool_calls = counter.value
    if finished:
        _attempt(out, args, counter, None, report)  # a finished run must find nothing to do
        report.rerun_tool_calls = counter.value - report.tool_calls
    report.seconds = time.monotonic() - started
    report.check = check_run(out, make_tasks(args.tasks), args.modes)
    return report


def render(report: Report, argv: Sequence[str]) -> str:
    """The summary table, the problems found and the command that reproduces the run."""
    c = report.check
    head = ["kills", "(at start)", "resumes", "tool calls", "rows", "duplicates", "missing",
            "cases", "transitions", "lost", "seconds"]  # fmt: skip
    vals = [report.kills, report.startup_kills, report.resumes, report.tool_calls, c.rows,
            c.duplicates, c.missing, c.cases, c.transitions, c.lost,
            f"{report.seconds:.1f}"]  # fmt: skip
    lines = [
        f"kill -9 campaign: {report.tasks} tasks x modes {','.join(report.modes)}, "
        f"seed {report.seed}",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        "| " + " | ".join(str(v) for v in vals) + " |",
        "problems: " + ("; ".join(report.problems) or "none"),
        "reproduce: python -m tests.support.reliability.kill_campaign " + " ".join(argv),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.reliability.kill_campaign")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-delay-ms", type=float, default=100.0)
    parser.add_argument("--stall-s", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the campaign; exit status 1 when any check failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kill-campaign-") as tmp:
        out = args.out or Path(tmp) / "run"
        report = run_campaign(args, out)
    if args.json:
        data = {**asdict(report), "lost": report.check.lost, "problems": report.problems}
        print(json.dumps(data))
    else:
        print(render(report, argv))
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
