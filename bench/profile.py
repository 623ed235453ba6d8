"""Where our server spends its core under load: py-spy samples it during a fan-out and during
receipt round trips, and the stacks are folded into the top functions by self time (the leaf
frame) and by inclusive time. Run with `python -m bench --profile`; skipped without py-spy.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fanout, receipt
from bench.common import OURS, Target

RATE = 250  # samples per second: low enough not to slow the server noticeably
TOP = 15
LOOP_LEAF = "Runner.run ("
# frames under every stack (how the process started): they say nothing
ROOT_FILES = ("<frozen runpy>", "server/__main__.py", "server/cli.py", "uvloop/", "runners.py")


def py_spy() -> str | None:
    beside_python = Path(sys.executable).with_name("py-spy")
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


def fold(raw: str) -> dict[str, Any]:
    """Top functions from py-spy's raw (collapsed) output: `frame;frame;... count` lines.

    Samples whose leaf is the event loop's own `run` are uvloop's C code, mostly waiting in
    epoll: they are counted apart (`loop_share`) and left out of the shares of the rest.
    """
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = in_loop = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        if frames[-1].startswith(LOOP_LEAF):
            in_loop += count
            continue
        total += count
        own[frames[-1]] += count
        for frame in {f for f in frames if not any(root in f for root in ROOT_FILES)}:
            inclusive[frame] += count

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(n / max(total, 1), 4)) for frame, n in counter.most_common(TOP)]

    return {
        "samples": total + in_loop,
        "loop_share": round(in_loop / max(total + in_loop, 1), 4),
        "self": share(own),
        "inclusive": share(inclusive),
    }


def record(
    target: Target, workload: Callable[[], object], output: Path, rate: int = RATE
) -> dict[str, Any]:
    command = [
        py_spy() or "py-spy",
        "record",
        "--pid",
        str(target.pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),  # blocking mode: --nonblocking tears async stacks apart on 3.11
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        workload()
    finally:
        spy.send_signal(signal.SIGINT)
        _, errors = spy.communicate(timeout=30)
    if not output.exists():
        return {"error": errors[-500:]}
    return fold(output.read_text())


def run(target: Target, workdir: Path) -> dict[str, Any]:
    if py_spy() is None:
        return {"benchmark": "profile", "skipped": "py-spy is not installed"}
    targets = {OURS: target}
    sizes = fanout.FanoutConfig(rounds=5, publishes=300)
    trips = receipt.ReceiptConfig(rounds=1)
    return {
        "benchmark": "profile",
        "rate_hz": RATE,
        "fanout": record(target, lambda: fanout.run(targets, sizes), workdir / "fanout.raw"),
        "receipt": record(
            target,
            lambda: receipt.measure_stack(targets, receipt.RawPair, 10_000, trips),
            workdir / "receipt.raw",
            rate=RATE * 4,  # the server idles between round trips: sample it harder
        ),
    }
