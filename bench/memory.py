"""(c) Memory per idle connection: the server's RSS growth divided by the connections it holds,
each connected, subscribed to one of 100 public channels and idle. Every round starts a fresh
server (RSS never shrinks back, so a reused one would blur the baseline); the baseline is read
after a warm-up of 100 connections that come and go, so code paths and caches are loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Target, alternating, summarise_rounds
from bench.swarm import start_swarms

CHANNEL = "idle"
CHANNELS = 100
WARMUP_CONNECTIONS = 100
TARGET_KB = 20.0
_SETTLE_SECONDS = 1.0  # let the server finish its last writes and frees before reading RSS


@dataclass(frozen=True)
class MemoryConfig:
    connections: int = 10_000
    processes: int = 2
    rounds: int = 3


def one_round(start: Callable[[], Target], config: MemoryConfig) -> dict[str, float]:
    target = start()
    try:
        for swarm in start_swarms(target.ws_url, WARMUP_CONNECTIONS, 1, CHANNEL, CHANNELS):
            swarm.close()
        time.sleep(_SETTLE_SECONDS)
        baseline = target.rss_bytes()
        started = time.monotonic()
        swarms = start_swarms(
            target.ws_url, config.connections, config.processes, CHANNEL, CHANNELS
        )
        connect_seconds = time.monotonic() - started
        try:
            time.sleep(_SETTLE_SECONDS)
            loaded = target.rss_bytes()
        finally:
            for swarm in swarms:
                swarm.close()
    finally:
        target.stop()
    return {
        "baseline_mb": baseline / 2**20,
        "loaded_mb": loaded / 2**20,
        "kb_per_connection": (loaded - baseline) / config.connections / 1024,
        "connect_seconds": connect_seconds,
    }


def run(
    starters: dict[str, Callable[[Path], Target]], workdir: Path, config: MemoryConfig
) -> dict[str, Any]:
    """Fresh servers, interleaved rounds; medians per server and the ratio ours/minimal."""
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in starters}
    for index in range(config.rounds):
        for name in alternating(list(starters), index):
            rounds[name].append(one_round(lambda n=name: starters[n](workdir), config))
    summary = summarise_rounds(rounds, ("kb_per_connection", "baseline_mb", "connect_seconds"))
    return {
        "benchmark": "memory",
        "config": config.__dict__,
        "target_kb_per_connection": TARGET_KB,
        "channels": CHANNELS,
        "results": summary,
    }
