"""What every benchmark shares: the servers under test (each its own process, pinned to core
0), CPU pinning of the load generator (core 1), statistics and machine facts.

A benchmark talks to a `Target`: a running server, ours or the minimal one written for the
benchmarks, with the same clients. Ratios between targets measured side by side in one run are
what the numbers mean on a shared, noisy box; absolute figures are this box only.
"""

from __future__ import annotations

import collections
import ctypes
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE = 0
LOAD_CORE = 1
READY_TIMEOUT = 30.0
OURS = "ours"
MINIMAL = "minimal"

_PR_SET_PDEATHSIG = 1
_OUR_READY = re.compile(r"ready: (ws://\S+/app/(\S+)) PUSHER_URL=(\S+)")
_MINIMAL_READY = re.compile(r"ready: (ws://\S+/app/(\S+)) TRIGGER_URL=(\S+)")


# --- CPU pinning and process limits -------------------------------------------------------


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin_to(core: int) -> None:
    """Pin this process to `core` when the machine has it (a 1-core box runs unpinned)."""
    if core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_setup(core: int) -> None:
    """`preexec_fn` of every process we start: pinned, many fds, ends when we end."""
    pin_to(core)
    raise_fd_limit()
    _die_with_parent()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


# --- the servers under test ---------------------------------------------------------------


@dataclass
class Target:
    """A running server under test and how clients reach it."""

    name: str
    process: subprocess.Popen[str]
    ws_url: str
    key: str
    secret: str
    app_id: str
    http_base: str
    publish_path: str
    stderr_path: Path
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=50))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def host(self) -> str:
        return urlsplit(self.ws_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.ws_url).port or 80

    @property
    def ws_path(self) -> str:
        return urlsplit(self.ws_url).path

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def describe_failure(self) -> str:
        tail = self.stderr_path.read_text(errors="replace")[-2000:]
        return f"{self.name} server (exit {self.process.poll()}): {tail}"


def _drain(stream: object, lines: collections.deque[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line.rstrip("\n"))


def _start(
    name: str, command: list[str], ready: re.Pattern[str], workdir: Path
) -> tuple[subprocess.Popen[str], re.Match[str], Path, collections.deque[str]]:
    stderr_path = workdir / f"{name}-{os.getpid()}-{time.monotonic_ns()}.stderr"
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        text=True,
        preexec_fn=lambda: child_setup(SERVER_CORE),
    )
    lines: collections.deque[str] = collections.deque(maxlen=50)
    assert process.stdout is not None
    line = _readline_with_timeout(process, READY_TIMEOUT)
    match = ready.search(line)
    if match is None:
        process.kill()
        process.wait()
        tail = stderr_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{name} server did not get ready (first line {line!r}): {tail}")
    threading.Thread(target=_drain, args=(process.stdout, lines), daemon=True).start()
    return process, match, stderr_path, lines


def _readline_with_timeout(process: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    if not result:
        process.kill()
        reader.join(5)
        return result[0] if result else ""
    return result[0]


def start_ours(workdir: Path, loop: str = "uvloop") -> Target:
    """Our server (`python -m doubletick.server`), client events unlimited."""
    command = python_module(
        "doubletick.server" if loop == "uvloop" else "bench.asyncio_server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--max-client-events-per-second",
        "0",
    )
    process, match, stderr_path, lines = _start(OURS, command, _OUR_READY, workdir)
    ws_url, key, pusher_url = match.group(1), match.group(2), match.group(3)
    parts = urlsplit(pusher_url)
    app_id = parts.path.rstrip("/").rsplit("/", 1)[-1]
    http_base = f"http://{parts.hostname}:{parts.port}"
    return Target(
        name=OURS,
        process=process,
        ws_url=ws_url,
        key=key,
        secret=parts.password or "",
        app_id=app_id,
        http_base=http_base,
        publish_path=f"/apps/{app_id}/events",
        stderr_path=stderr_path,
        lines=lines,
    )


def start_minimal(workdir: Path, loop: str = "uvloop") -> Target:
    """The minimal relay and broadcaster of `bench.minimal`, same transport (aiohttp)."""
    command = python_module("bench.minimal", "--host", "127.0.0.1", "--port", "0", "--loop", loop)
    process, match, stderr_path, lines = _start(MINIMAL, command, _MINIMAL_READY, workdir)
    ws_url, key, trigger_url = match.group(1), match.group(2), match.group(3)
    parts = urlsplit(trigger_url)
    return Target(
        name=MINIMAL,
        process=process,
        ws_url=ws_url,
        key=key,
        secret="minimal-secret",  # clients sign as for our server; nothing checks it
        app_id="1",
        http_base=f"http://{parts.hostname}:{parts.port}",
        publish_path=parts.path,
        stderr_path=stderr_path,
        lines=lines,
    )


STARTERS = {OURS: start_ours, MINIMAL: start_minimal}


# --- /proc readings ----------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_busy_seconds(core: int) -> float:
    """CPU time `core` spent on anything but idling, by every process (from /proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(value) for value in line.split()[1:]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return 0.0


# --- statistics -------------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 200 samples is the 198th)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def alternating(names: Sequence[str], round_index: int) -> list[str]:
    """Interleave targets: the order flips every round so neither always goes first."""
    return list(names) if round_index % 2 == 0 else list(reversed(names))


# --- machine facts ----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> dict[str, object]:
    """What the numbers depend on: the box, the pinning, the library versions."""
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cores_available": cores(),
        "server_core": SERVER_CORE,
        "load_core": LOAD_CORE,
        "memory_total_mb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("doubletick", "aiohttp", "websocket-client", "Pysher", "pusher")
        },
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
        "load_average": os.getloadavg(),
    }


def ratios(results: dict[str, object], key: str, name: str) -> dict[str, float]:
    """`{name: median over rounds of ours[key][i] / minimal[key][i]}` when both were run."""
    ours, minimal = results.get(OURS), results.get(MINIMAL)
    if not isinstance(ours, dict) or not isinstance(minimal, dict):
        return {}
    pairs = zip(ours[key], minimal[key], strict=True)
    return {name: median([o / m for o, m in pairs])}


def summarise_rounds(
    rounds: dict[str, list[dict[str, float]]], keys: Sequence[str]
) -> dict[str, object]:
    """Per target: the median of each of `keys` over its rounds, the per-round values, the
    raw rounds; then `ratio_ours_to_minimal` of the first key (median of per-round ratios)."""
    summary: dict[str, object] = {}
    for name, measured in rounds.items():
        entry: dict[str, object] = {}
        for key in keys:
            values = [r[key] for r in measured]
            entry[key] = median(values)
            entry[f"{key}_rounds"] = values
        summary[name] = {**entry, "rounds": measured}
    summary.update(ratios(summary, f"{keys[0]}_rounds", "ratio_ours_to_minimal"))
    return summary
