"""Many raw WebSocket connections in one process, subscribed and counting frames: the load of
the fan-out and memory benchmarks. Frames are counted from their headers only (no JSON, no
copy of the payload), so one process keeps up with well over 100,000 deliveries a second.

Run as a child of the benchmark, driven by lines on stdin:

    python -m bench.swarm --url ws://HOST:PORT/app/KEY --connections 500 --channel fanout
    <- ready 500 1.23              (all connected and subscribed; seconds it took)
    -> expect 100000 30            (count from zero; report when 100000 frames have arrived)
    <- armed
    <- done 12345.678901           (time.monotonic() of the last one) | timeout 99000
    -> quit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import subprocess
import sys
import threading
import time
from typing import cast
from urllib.parse import urlsplit

from bench.common import LOAD_CORE, ROOT, child_setup, python_module, raise_fd_limit

_QUERY = "?protocol=7&client=bench&version=1.0"
_ZERO_MASK = b"\x00\x00\x00\x00"  # a masked frame with a zero key carries its payload as is
_ESTABLISHED = b"pusher:connection_established"
_SUBSCRIBED = b"pusher_internal:subscription_succeeded"


def masked_text_frame(text: str) -> bytes:
    """A client-to-server text frame (clients must mask; a zero key is a valid mask)."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = bytes((0x81, 0x80 | length))
    else:
        header = bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big")
    return header + _ZERO_MASK + payload


def handshake(url: str) -> bytes:
    parts = urlsplit(url)
    return (
        f"GET {parts.path}{_QUERY} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def subscribe_frame(channel: str) -> bytes:
    return masked_text_frame(f'{{"event":"pusher:subscribe","data":{{"channel":"{channel}"}}}}')


class Counter:
    """Frames counted across every connection of the process, and the target to report."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached: asyncio.Future[float] | None = None

    def arm(self, target: int) -> asyncio.Future[float]:
        self.count = 0
        self.target = target
        self.reached = asyncio.get_running_loop().create_future()
        return self.reached

    def add(self, frames: int) -> None:
        self.count += frames
        if self.reached is not None and self.count >= self.target and not self.reached.done():
            self.reached.set_result(time.monotonic())


class Subscriber(asyncio.Protocol):
    """One connection: handshake, wait for connection_established, subscribe, then count."""

    def __init__(self, request: bytes, subscribe: bytes, counter: Counter) -> None:
        self.request = request
        self.subscribe = subscribe
        self.counter = counter
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(buffer[:200].decode(errors="replace"))
                return
            self.upgraded = True
            buffer = buffer[end + 4 :]
        self.buffer = buffer[self._frames(buffer) :]

    def _frames(self, buffer: bytes) -> int:
        """Count the complete frames in `buffer`; returns where the incomplete rest starts."""
        position, size, frames = 0, len(buffer), 0
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > size:
                break
            if not self.subscribed.done():
                self._before_subscribed(buffer[position + header : end])
            elif buffer[position] & 0x0F == 1:
                frames += 1
            position = end
        if frames:
            self.counter.add(frames)
        return position

    def _before_subscribed(self, payload: bytes) -> None:
        if _ESTABLISHED in payload and self.transport is not None:
            self.transport.write(self.subscribe)
        elif _SUBSCRIBED in payload:
            self.subscribed.set_result(None)

    def _fail(self, reason: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()


async def connect_all(
    url: str, connections: int, channels: list[str], counter: Counter, concurrency: int
) -> list[Subscriber]:
    """Open `connections` sockets, each subscribed to one of `channels` (round robin)."""
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    request = handshake(url)
    frames = [subscribe_frame(channel) for channel in channels]
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> Subscriber:
        async with gate:
            _, protocol = await loop.create_connection(
                lambda: Subscriber(request, frames[index % len(frames)], counter),
                parts.hostname,
                parts.port,
            )
            await asyncio.wait_for(protocol.subscribed, 30)
            return protocol

    return await asyncio.gather(*(one(i) for i in range(connections)))


async def _commands(counter: Counter, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    deadline = loop.time() + lifetime
    while loop.time() < deadline:
        try:
            line = await asyncio.wait_for(reader.readline(), deadline - loop.time())
        except TimeoutError:
            return
        words = line.decode().split()
        if not words or words[0] == "quit":
            return
        if words[0] == "expect":
            reached = counter.arm(int(words[1]))
            print("armed", flush=True)
            try:
                at = await asyncio.wait_for(reached, float(words[2]))
                print(f"done {at:.6f}", flush=True)
            except TimeoutError:
                print(f"timeout {counter.count}", flush=True)


async def run(args: argparse.Namespace) -> None:
    counter = Counter()
    channels = (
        [args.channel]
        if args.channels == 1
        else [f"{args.channel}-{i}" for i in range(args.channels)]
    )
    started = time.monotonic()
    try:
        subscribers = await asyncio.wait_for(
            connect_all(args.url, args.connections, channels, counter, args.concurrency),
            args.lifetime,
        )
    except (OSError, TimeoutError) as error:
        print(f"failed {type(error).__name__}: {error}", flush=True)
        return
    print(f"ready {len(subscribers)} {time.monotonic() - started:.3f}", flush=True)
    await _commands(counter, args.lifetime)
    for subscriber in subscribers:
        if subscriber.transport is not None:
            subscriber.transport.abort()


def main() -> None:
    parser = argparse.ArgumentParser(description="raw WebSocket subscribers counting frames")
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--channel", default="fanout")
    parser.add_argument("--channels", type=int, default=1, help="spread over N channels")
    parser.add_argument("--concurrency", type=int, default=64, help="handshakes in flight")
    parser.add_argument("--lifetime", type=float, default=900.0, help="exit after this")
    args = parser.parse_args()
    raise_fd_limit()
    try:
        import uvloop

        uvloop.run(run(args))
    except ImportError:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()


class Swarm:
    """The benchmark's handle on one swarm process (pinned to the load core)."""

    def __init__(
        self, url: str, connections: int, channel: str, channels: int = 1, timeout: float = 120
    ) -> None:
        command = python_module(
            "bench.swarm",
            "--url",
            url,
            "--connections",
            str(connections),
            "--channel",
            channel,
            "--channels",
            str(channels),
        )
        self.connections = connections
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: child_setup(LOAD_CORE),
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._timeout = timeout

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put("exited")

    def line(self, timeout: float | None = None) -> str:
        try:
            return self._lines.get(timeout=self._timeout if timeout is None else timeout)
        except queue.Empty:
            raise RuntimeError("swarm process did not answer in time") from None

    def wait_ready(self) -> float:
        """Seconds the swarm took to connect and subscribe everything."""
        words = self.line().split()
        if words[:1] != ["ready"]:
            raise RuntimeError(f"swarm failed: {' '.join(words)}")
        return float(words[2])

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def expect(self, frames: int, timeout: float) -> None:
        self.send(f"expect {frames} {timeout}")
        if (answer := self.line()) != "armed":
            raise RuntimeError(f"swarm did not arm: {answer}")

    def result(self, timeout: float) -> float | None:
        """time.monotonic() when the expected frames had all arrived, None on timeout."""
        words = self.line(timeout + 5).split()
        if words[:1] == ["done"]:
            return float(words[1])
        if words[:1] == ["timeout"]:
            return None
        raise RuntimeError(f"swarm answered {' '.join(words)}")

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.send("quit")
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def start_swarms(
    url: str, connections: int, processes: int, channel: str, channels: int = 1
) -> list[Swarm]:
    """`connections` subscribers split over `processes` swarms, all connected on return."""
    share = [connections // processes + (i < connections % processes) for i in range(processes)]
    swarms = [Swarm(url, n, channel, channels) for n in share if n]
    try:
        for swarm in swarms:
            swarm.wait_ready()
    except BaseException:
        for swarm in swarms:
            swarm.close()
        raise
    return swarms
