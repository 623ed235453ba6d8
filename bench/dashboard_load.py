"""The dashboard under load: the automatic conversation at 50 messages/s for 60 s (or more).

    .venv/bin/python -m bench.dashboard_load [--rates 10,50] [--duration 60] [--out PATH]

Serves `app/dashboard.py` with `panel serve` (its own process: the Panel server, the embedded
Pusher server, the auth server and both chat clients), opens it in Debian's chromium and
sets the rate through the URL (`?rate=50`), then presses "Automatic conversation". Measures:

- server CPU (% of one core) and RSS before and after the run;
- tick delay: from the moment a client thread observed a receipt (`data-changed-at` on the
  tick, wall clock) to the first animation frame after the browser applied that tick's
  update, over the whole run and over its first and last 60 s (growth means the page falls
  behind); a pane draws every message and keeps the newest 15 (see app/views.py);
- receipt latencies the clients measured (the exported CSV): send -> delivered and
  delivered -> read, and how many messages got through;
- the browser's JS heap (after a forced garbage collection) and the number of Bokeh models in
  the page before and after, and heap and server RSS every 30 s.

Writes `bench/results/dashboard.json` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import ROOT, cpu_seconds, machine_facts, percentile, rss_bytes
from doubletick.testing import CHROMIUM_ARGS

RESULTS = ROOT / "bench" / "results" / "dashboard.json"
WINDOW = 60.0  # seconds: tick delays of the first and of the last window are reported apart
SAMPLE_EVERY = 30  # seconds between heap and RSS samples
EXPORT_TIMEOUT = 180.0  # seconds the page may take to catch up after the conversation stops
READY_RE = re.compile(r"Bokeh app running at: (http://\S+)")
# Records, for every tick update the browser applies, how long after the client observed the
# receipt the next frame was drawn (Panel sends the HTML pane's text, escaped or not).
WATCH_TICKS = """() => {
  window.__tickDelays = [];
  const q = '(?:"|&quot;)';
  const re = new RegExp(`data-state=${q}(delivered|read)${q}[^]*?data-changed-at=${q}([0-9]+)`);
  Bokeh.documents[0].on_change((event) => {
    if (typeof event.value !== "string") return;
    const match = re.exec(event.value);
    if (match === null) return;
    const observed = Number(match[2]);
    requestAnimationFrame(() => window.__tickDelays.push([Date.now(), Date.now() - observed]));
  });
}"""


class DashboardProcess:
    """`panel serve app/dashboard.py --port 0` and the URL it reports."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "DOUBLETICK_"))}
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("panel")),
                "serve",
                str(ROOT / "app" / "dashboard.py"),
                "--address=127.0.0.1",
                "--port=0",
                "--allow-websocket-origin=127.0.0.1",
                "--check-unused-sessions=500",
                "--unused-session-lifetime=1000",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = self._wait_for_url()
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_for_url(self, timeout: float = 60.0) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise RuntimeError(f"panel serve exited with {self.process.wait()}")
            match = READY_RE.search(line)
            if match:
                return match.group(1)
        raise TimeoutError("panel serve did not report its URL")

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log = [*self.log[-50:], line.rstrip()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run(rate: float, duration: float) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium not found on PATH (apt-get install chromium)")
    server = DashboardProcess()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(f"{server.url}?rate={rate:g}")
            page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length")
            expect(page.locator('.dt-peer[data-online="true"]')).to_have_count(2, timeout=30_000)
            page.evaluate(WATCH_TICKS)
            cdp = page.context.new_cdp_session(page)
            before = snapshot(server.pid, page, cdp)
            page.get_by_role("button", name="Automatic conversation").click()
            started_ms = page.evaluate("() => Date.now()")
            started, cpu_start = time.monotonic(), cpu_seconds(server.pid)
            take = partial(snapshot, server.pid, page, cdp)
            cpu_samples, memory = sample(server.pid, duration, take)
            cpu_used = cpu_seconds(server.pid) - cpu_start
            elapsed = time.monotonic() - started
            page.get_by_role("button", name="Automatic conversation").click()
            after = snapshot(server.pid, page, cdp)
            delays = [
                ((at - started_ms) / 1000, delay)
                for at, delay in page.evaluate("() => window.__tickDelays")
            ]
            stopped = time.monotonic()
            latencies = exported_latencies(page)  # answered once the page caught up
            catch_up = time.monotonic() - stopped
            counts = [
                page.locator(f".dt-pane-{name} .dt-counts")
                .get_by_text(re.compile("^sent"))
                .inner_text()
                for name in ("alice", "bob")
            ]
            browser.close()
    finally:
        server.stop()
    return {
        "rate_per_second": rate,
        "duration_seconds": round(elapsed, 1),
        "server_cpu_percent_of_one_core": round(100 * cpu_used / elapsed, 1),
        "server_cpu_percent_max_1s": max(cpu_samples, default=0.0),
        "server_cpu_percent_per_second": cpu_samples,
        "server_rss_mb_before": before["rss_mb"],
        "server_rss_mb_after": after["rss_mb"],
        "browser_js_heap_mb_before": before["heap_mb"],
        "browser_js_heap_mb_after": after["heap_mb"],
        "bokeh_models_before": before["models"],
        "bokeh_models_after": after["models"],
        f"memory_every_{SAMPLE_EVERY}s": memory,
        "tick_delay_ms": summary([delay for _, delay in delays]),
        f"tick_delay_ms_first_{WINDOW:g}s": summary([d for at, d in delays if at < WINDOW]),
        f"tick_delay_ms_last_{WINDOW:g}s": summary(
            [d for at, d in delays if elapsed - WINDOW <= at <= elapsed]
        ),
        "receipt_latency_ms": latencies,
        "seconds_to_answer_export_after_stop": round(catch_up, 1),
        "pane_counts": dict(zip(("alice", "bob"), counts, strict=True)),
    }


PAGE_FACTS = """() => ({
  heap: performance.memory ? performance.memory.usedJSHeapSize : 0,
  models: Bokeh.documents[0]._all_models.size,
})"""


def snapshot(pid: int, page: Any, cdp: Any) -> dict[str, float]:
    """Server RSS, and the page's JS heap after a garbage collection and its Bokeh models."""
    cdp.send("HeapProfiler.collectGarbage")
    facts = page.evaluate(PAGE_FACTS)
    return {
        "rss_mb": round(rss_bytes(pid) / 2**20, 1),
        "heap_mb": round(facts["heap"] / 2**20, 1),
        "models": facts["models"],
    }


def sample(
    pid: int, duration: float, take: Callable[[], dict[str, float]]
) -> tuple[list[float], list[dict[str, float]]]:
    """CPU % of one core once a second, and `take()` every `SAMPLE_EVERY` s, for `duration`."""
    samples, memory, tick = [], [], threading.Event()
    started = time.monotonic()
    deadline = started + duration
    last_cpu, last_at = cpu_seconds(pid), started
    while time.monotonic() < deadline:
        tick.wait(min(1.0, max(0.0, deadline - time.monotonic())))  # the sampling period
        cpu, at = cpu_seconds(pid), time.monotonic()
        samples.append(round(100 * (cpu - last_cpu) / max(at - last_at, 1e-6), 1))
        last_cpu, last_at = cpu, at
        if len(samples) % SAMPLE_EVERY == 0:
            memory.append({"t": round(at - started), **take()})
    return samples, memory


def exported_latencies(page: Any) -> dict[str, Any]:
    """Press "Export latency CSV" and summarise what the clients measured."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        with page.expect_download(timeout=EXPORT_TIMEOUT * 1000) as download_info:
            page.get_by_role("button", name="Export latency CSV").click()
        text = Path(download_info.value.path()).read_text()
    except PlaywrightError as exc:
        return {"error": str(exc).splitlines()[0]}
    rows = list(csv.DictReader(io.StringIO(text)))
    kinds: dict[str, list[float]] = {}
    for row in rows:
        kinds.setdefault(row["kind"], []).append(float(row["latency_ms"]))
    return {kind: summary(values) for kind, values in kinds.items()}


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": round(percentile(values, 0.50), 1),
        "p95": round(percentile(values, 0.95), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values), 1),
    }


def markdown(runs: list[dict[str, Any]]) -> str:
    """One column per run."""
    rows: dict[str, list[str]] = {}
    for result in runs:
        for name, value in _rows(result):
            rows.setdefault(name, []).append(value)
    header = "| measure | " + " | ".join(f"{r['rate_per_second']:g} msg/s" for r in runs) + " |"
    lines = [header, "|---|" + "---|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows.items()]
    return "\n".join(lines)


def _rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    def triple(values: dict[str, Any]) -> str:
        if "error" in values:
            return f"not answered: {values['error'][:60]}"
        if not values.get("count"):
            return "none"
        return f"{values['p50']} / {values['p95']} / {values['p99']} ms (n={values['count']})"

    latencies = result["receipt_latency_ms"]
    return [
        ("duration", f"{result['duration_seconds']} s"),
        (
            "server CPU, % of one core (mean / max 1 s)",
            f"{result['server_cpu_percent_of_one_core']} / {result['server_cpu_percent_max_1s']}",
        ),
        (
            "server RSS before → after",
            f"{result['server_rss_mb_before']} → {result['server_rss_mb_after']} MB",
        ),
        (
            "browser JS heap before → after",
            f"{result['browser_js_heap_mb_before']} → {result['browser_js_heap_mb_after']} MB",
        ),
        (
            f"JS heap / server RSS every {SAMPLE_EVERY} s",
            ", ".join(
                f"{m['heap_mb']:g}/{m['rss_mb']:g}" for m in result[f"memory_every_{SAMPLE_EVERY}s"]
            )
            + " MB",
        ),
        ("receipt → tick on the page (p50 / p95 / p99)", triple(result["tick_delay_ms"])),
        (
            f"receipt → tick, first {WINDOW:g} s",
            triple(result[f"tick_delay_ms_first_{WINDOW:g}s"]),
        ),
        (f"receipt → tick, last {WINDOW:g} s", triple(result[f"tick_delay_ms_last_{WINDOW:g}s"])),
        (
            "Bokeh models in the page before → after",
            f"{result['bokeh_models_before']} → {result['bokeh_models_after']}",
        ),
        ("send → delivered (p50 / p95 / p99)", triple(latencies.get("delivered", latencies))),
        ("delivered → read (p50 / p95 / p99)", triple(latencies.get("read", latencies))),
        ("export answered after the stop", f"{result['seconds_to_answer_export_after_stop']} s"),
        ("Alice's pane", result["pane_counts"]["alice"]),
        ("Bob's pane", result["pane_counts"]["bob"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", default="50", help="messages per second, comma-separated: one run each"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = [run(float(rate), args.duration) for rate in args.rates.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"runs": runs, "machine": machine_facts()}
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(markdown(runs))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
