"""(a) Receipt round trip: client A sends `client-message-added` on a private channel, client B
answers `client-message-delivered`; the time from A's send to A holding the answer.

Two client stacks, the same against every target: raw websocket-client (blocking sockets, low
noise: the servers' own latency shows) and pysher 1.0.8, the client the product uses (its
threads and per-frame timers dominate). Every pair stays connected for the whole run; rounds
alternate between targets.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pysher
import websocket

from bench.common import MINIMAL, OURS, Target, alternating, median, percentile, ratios
from doubletick.protocol.signing import channel_auth

CHANNEL = "private-receipts"
ADDED = "client-message-added"
DELIVERED = "client-message-delivered"
QUERY = "?protocol=7&client=bench&version=1.0"
TARGET_P50_RATIO = 1.1
_TIMEOUT = 10.0


@dataclass(frozen=True)
class ReceiptConfig:
    rounds: int = 15  # many short rounds pair the targets closely in time on a noisy box
    raw_samples: int = 300
    pysher_samples: int = 120
    warmup: int = 30


def message(seq: int) -> dict[str, Any]:
    """A chat message of the product's shape (RECEIPTS.md: {id, message, sender, seq})."""
    return {"id": f"m-{seq}", "message": "hello, are you there?", "sender": "a", "seq": seq}


# --- raw websocket-client pair --------------------------------------------------------------


def _raw_client(target: Target) -> websocket.WebSocket:
    """Connected and subscribed to CHANNEL, signed as a private channel needs."""
    ws = websocket.create_connection(target.ws_url + QUERY, timeout=_TIMEOUT)
    established = json.loads(ws.recv())
    socket_id = json.loads(established["data"])["socket_id"]
    auth = channel_auth(target.key, target.secret, socket_id, CHANNEL)
    ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL, "auth": auth}}))
    while True:
        frame = json.loads(ws.recv())
        if frame.get("event") == "pusher_internal:subscription_succeeded":
            return ws
        if frame.get("event") in ("pusher:error", "pusher:subscription_error"):
            raise RuntimeError(f"{target.name}: subscribe failed: {frame}")


def _answer_forever(ws: websocket.WebSocket) -> None:
    """Client B: answer every `client-message-added` until the socket closes."""
    while True:
        try:
            text = ws.recv()
        except (websocket.WebSocketException, OSError):
            return
        if not text:
            return
        frame = json.loads(text)
        if frame.get("event") == ADDED:
            receipt = {"id": frame["data"]["id"], "status": "delivered"}
            ws.send(json.dumps({"event": DELIVERED, "channel": CHANNEL, "data": receipt}))


class RawPair:
    """A and B as raw websocket-client sockets; B answers on its own thread."""

    def __init__(self, target: Target) -> None:
        self.a = _raw_client(target)
        self.b = _raw_client(target)
        self.answerer = threading.Thread(target=_answer_forever, args=(self.b,), daemon=True)
        self.answerer.start()

    def round_trip(self, seq: int) -> float:
        frame = json.dumps({"event": ADDED, "channel": CHANNEL, "data": message(seq)})
        started = time.perf_counter()
        self.a.send(frame)
        while DELIVERED not in self.a.recv():
            pass
        return time.perf_counter() - started

    def close(self) -> None:
        for ws in (self.a, self.b):
            ws.close(timeout=1)
        self.answerer.join(2)


# --- pysher pair --------------------------------------------------------------------------


def _pysher_client(target: Target, on_channel: Callable[[Any], None]) -> Any:
    """A pysher.Pusher that subscribes on connection_established (CLIENTS.md's pattern)."""
    client = pysher.Pusher(
        target.key,
        secure=False,
        custom_host=target.host,
        port=target.port,
        secret=target.secret,
        log_level=logging.WARNING,
        auto_sub=False,
    )
    client.connection.socket_kwargs["ping_timeout"] = 0.5  # bug 1: disconnect hangs in select
    subscribed = threading.Event()

    def established(_data: Any) -> None:
        channel = client.subscribe(CHANNEL)
        channel.bind("pusher_internal:subscription_succeeded", lambda _d: subscribed.set())
        on_channel(channel)

    client.connection.bind("pusher:connection_established", established)
    client.connect()
    if not subscribed.wait(_TIMEOUT):
        raise RuntimeError(f"{target.name}: pysher did not subscribe within {_TIMEOUT}s")
    return client


def _close_pysher(client: Any) -> None:
    connection = client.connection
    connection.disconnect_called = True
    connection.needs_reconnect = False
    if connection.socket is not None:
        connection.socket.close()
    connection.join(2)


class PysherPair:
    """A and B as pysher clients; B answers inside its callback, on pysher's thread."""

    def __init__(self, target: Target) -> None:
        self.answered = threading.Event()
        self.a = _pysher_client(
            target, lambda ch: ch.bind(DELIVERED, lambda _data: self.answered.set())
        )
        self.b = _pysher_client(target, self._bind_answer)

    @staticmethod
    def _bind_answer(channel: Any) -> None:
        def answer(data: Any) -> None:  # on pysher's thread: must never raise (bug 5)
            receipt_id = data.get("id") if isinstance(data, dict) else None
            channel.trigger(DELIVERED, {"id": receipt_id, "status": "delivered"})

        channel.bind(ADDED, answer)

    def round_trip(self, seq: int) -> float:
        self.answered.clear()
        channel = self.a.channels[CHANNEL]
        started = time.perf_counter()
        channel.trigger(ADDED, message(seq))
        if not self.answered.wait(_TIMEOUT):
            raise RuntimeError("no receipt within the timeout")
        return time.perf_counter() - started

    def close(self) -> None:
        for client in (self.a, self.b):
            _close_pysher(client)


# --- rounds -------------------------------------------------------------------------------


def _sample(pair: RawPair | PysherPair, count: int, first_seq: int) -> list[float]:
    gc.collect()
    gc.disable()  # the client's collector would add noise to either target alike
    try:
        return [pair.round_trip(first_seq + i) for i in range(count)]
    finally:
        gc.enable()


def _summary(samples_by_round: list[list[float]], cpu_seconds: float) -> dict[str, Any]:
    p50s = [percentile(s, 0.50) * 1e6 for s in samples_by_round]
    p99s = [percentile(s, 0.99) * 1e6 for s in samples_by_round]
    trips = sum(len(s) for s in samples_by_round)
    return {
        "p50_us": median(p50s),
        "p99_us": median(p99s),
        # over all rounds: /proc counts CPU time in 10 ms ticks, too coarse for one round
        "server_cpu_us_per_trip": cpu_seconds / trips * 1e6,
        "p50_us_rounds": p50s,
        "p99_us_rounds": p99s,
    }


def measure_stack(
    targets: dict[str, Target],
    make_pair: Callable[[Target], RawPair | PysherPair],
    samples: int,
    config: ReceiptConfig,
) -> dict[str, Any]:
    """One client stack against every target, interleaved rounds. Besides the latency, the
    server's CPU time per round trip: its cost, which box noise hardly moves."""
    pairs = {name: make_pair(target) for name, target in targets.items()}
    try:
        for pair in pairs.values():
            _sample(pair, config.warmup, 0)
        rounds: dict[str, list[list[float]]] = {name: [] for name in targets}
        cpu = dict.fromkeys(targets, 0.0)
        for index in range(config.rounds):
            for name in alternating(list(targets), index):
                before = targets[name].cpu_seconds()
                rounds[name].append(_sample(pairs[name], samples, (index + 1) * 100_000))
                cpu[name] += targets[name].cpu_seconds() - before
    finally:
        for pair in pairs.values():
            pair.close()
    result: dict[str, Any] = {name: _summary(rounds[name], cpu[name]) for name in targets}
    result.update(ratios(result, "p50_us_rounds", "p50_ratio_ours_to_minimal"))
    result.update(ratios(result, "p99_us_rounds", "p99_ratio_ours_to_minimal"))
    if cpu.get(OURS) and cpu.get(MINIMAL):
        result["cpu_ratio_ours_to_minimal"] = cpu[OURS] / cpu[MINIMAL]
    return result


def run(targets: dict[str, Target], config: ReceiptConfig) -> dict[str, Any]:
    return {
        "benchmark": "receipt",
        "config": config.__dict__,
        "target_p50_ratio": TARGET_P50_RATIO,
        "results": {
            "websocket-client": measure_stack(targets, RawPair, config.raw_samples, config),
            "pysher": measure_stack(targets, PysherPair, config.pysher_samples, config),
        },
    }
