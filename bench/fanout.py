"""(b) Fan-out: deliveries per second to the subscribers of one public channel, from REST
publishes. Our server (signed `POST /apps/ID/events`) against the minimal server's raw
broadcast (`POST /trigger`: one pre-encoded frame written to every subscriber's transport).

Per round and target: every swarm is told how many frames to expect, `publishes` events are
posted with `window` requests in flight, and the rate is subscribers x publishes divided by
the time from the first post to the last frame counted. The server's CPU time over the same
window tells whether its core was the bound (near 100 %) or the load generator was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.common import SERVER_CORE, Target, alternating, core_busy_seconds, summarise_rounds
from bench.swarm import Swarm, start_swarms
from doubletick.protocol.signing import sign_rest_request

CHANNEL = "fanout"
EVENT = {"name": "bench-event", "channel": CHANNEL, "data": '{"n":1,"text":"fan-out"}'}
TARGET_RATE = 100_000


@dataclass(frozen=True)
class FanoutConfig:
    subscribers: int = 1_000
    processes: int = 2
    publishes: int = 200
    window: int = 4
    rounds: int = 7
    timeout: float = 60.0


def signed_url(target: Target, body: bytes) -> str:
    """The publish URL with Pusher's REST signature (the minimal server ignores it)."""
    params = {
        "auth_key": target.key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    params["auth_signature"] = sign_rest_request(target.secret, "POST", target.publish_path, params)
    return f"{target.http_base}{target.publish_path}?{urlencode(params)}"


async def publish(url: str, body: bytes, count: int, window: int) -> None:
    """Post `count` identical events, `window` requests in flight; any non-200 raises."""
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=window)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(share: int) -> None:
            for _ in range(share):
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status != 200:
                        text = await response.text()
                        raise RuntimeError(f"publish answered {response.status}: {text}")
                    await response.read()

        shares = [count // window + (i < count % window) for i in range(window)]
        await asyncio.gather(*(worker(share) for share in shares if share))


def one_round(target: Target, swarms: list[Swarm], config: FanoutConfig) -> dict[str, float]:
    body = json.dumps(EVENT).encode()
    url = signed_url(target, body)
    for swarm in swarms:
        swarm.expect(config.publishes * swarm.connections, config.timeout)
    cpu_before = target.cpu_seconds()
    core_before = core_busy_seconds(SERVER_CORE)
    started = time.monotonic()
    asyncio.run(publish(url, body, config.publishes, config.window))
    posted = time.monotonic() - started
    finished = [swarm.result(config.timeout) for swarm in swarms]
    cpu = target.cpu_seconds() - cpu_before
    core_busy = core_busy_seconds(SERVER_CORE) - core_before
    if any(at is None for at in finished):
        raise RuntimeError(f"{target.name}: not every subscriber got every event in time")
    elapsed = max(at for at in finished if at is not None) - started
    deliveries = config.publishes * sum(swarm.connections for swarm in swarms)
    return {
        "deliveries_per_second": deliveries / elapsed,
        "publishes_per_second": config.publishes / elapsed,
        "elapsed_seconds": elapsed,
        "post_seconds": posted,
        "server_cpu_share": cpu / elapsed,
        # the server's core busy with anything else (other processes on a shared box)
        "others_on_server_core_share": max(core_busy - cpu, 0.0) / elapsed,
    }


def run(targets: dict[str, Target], config: FanoutConfig) -> dict[str, Any]:
    """Interleaved rounds over `targets`; medians per target and the ratio ours/minimal."""
    swarms = {
        name: start_swarms(t.ws_url, config.subscribers, config.processes, CHANNEL)
        for name, t in targets.items()
    }
    try:
        for name, target in targets.items():  # warm-up, not recorded
            one_round(target, swarms[name], config)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for index in range(config.rounds):
            for name in alternating(list(targets), index):
                rounds[name].append(one_round(targets[name], swarms[name], config))
    finally:
        for group in swarms.values():
            for swarm in group:
                swarm.close()
    return summarise(rounds, config)


def summarise(rounds: dict[str, list[dict[str, float]]], config: FanoutConfig) -> dict[str, Any]:
    keys = ("deliveries_per_second", "server_cpu_share", "others_on_server_core_share")
    summary = summarise_rounds(rounds, keys)
    return {
        "benchmark": "fanout",
        "config": config.__dict__,
        "target_deliveries_per_second": TARGET_RATE,
        "results": summary,
    }
