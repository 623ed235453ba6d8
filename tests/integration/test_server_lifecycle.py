"""The server's life: graceful shutdown, restart, heartbeat, slow consumers, the CLI."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import struct
import sys

import pytest

from doubletick.server import AppConfig, ServerConfig, ServerInfo, ServerThread
from tests.integration.server_support import ClientFactory, sdk, ws_client

__all__ = ["ws_client"]

READY_RE = re.compile(
    r"doubletick server ready: ws://127\.0\.0\.1:(\d+)/app/app-key "
    r"PUSHER_URL=http://app-key:app-secret@127\.0\.0\.1:\1/apps/1\n"
)


async def test_graceful_shutdown_sends_4200_and_closes_with_4200(ws_client: ClientFactory) -> None:
    server = ServerThread()
    info = server.start()
    client = await ws_client(info)
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    error = await client.expect("pusher:error")
    assert error["data"]["code"] == 4200
    assert await client.expect_close() == 4200
    await stopping
    assert not server.running


async def test_a_restart_listens_on_the_same_port_again(ws_client: ClientFactory) -> None:
    with ServerThread() as server:
        port = server.info.port
        await asyncio.to_thread(server.restart)
        assert server.info.port == port
        client = await ws_client(server.info)
        await client.assert_nothing_pending()


async def test_a_silent_client_is_pinged_then_closed_with_4201(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory
) -> None:
    info = pusher_server_factory(activity_timeout=1, pong_timeout=0.5)
    client = await ws_client(info)
    await client.expect("pusher:ping")
    assert (await client.expect("pusher:error"))["data"]["code"] == 4201
    assert await client.expect_close() == 4201


async def test_a_client_that_answers_pings_stays_connected(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory
) -> None:
    info = pusher_server_factory(activity_timeout=1, pong_timeout=0.5)
    client = await ws_client(info)
    for _ in range(2):
        await client.expect("pusher:ping")
        await client.send("pusher:pong")
    await client.assert_nothing_pending()


# --- slow consumers -----------------------------------------------------------------------


def raw_websocket(info: ServerInfo) -> socket.socket:
    """A WebSocket over a plain socket with a tiny receive buffer, so it can stop reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((info.host, info.port))
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /app/{info.key}?protocol=7 HTTP/1.1\r\nHost: {info.host}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def send_masked(sock: socket.socket, text: str) -> None:
    payload, mask = text.encode(), os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + masked)


def read_frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame until the server closes the socket: (opcode, payload)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames, offset = [], 0
    while offset < len(data):
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, offset)
            offset += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, offset)
            offset += 8
        frames.append((opcode, data[offset : offset + length]))
        offset += length
    return frames


def test_a_client_that_stops_reading_is_closed_with_4100(
    pusher_server_factory: ClientFactory,
) -> None:
    config = ServerConfig(
        apps=(AppConfig(max_event_payload_bytes=30_000),), max_send_buffer_bytes=65_536
    )
    info = pusher_server_factory(config)
    sock = raw_websocket(info)
    with sock:
        send_masked(sock, json.dumps({"event": "pusher:subscribe", "data": {"channel": "feed"}}))
        client = sdk(info)
        client.trigger("feed", "first", "x")  # answered after the subscription: it is active
        for _ in range(200):
            client.trigger("feed", "flood", "x" * 20_000)
        frames = read_frames(sock)
    close_frames = [payload for opcode, payload in frames if opcode == 8]
    assert close_frames and struct.unpack("!H", close_frames[0][:2])[0] == 4100
    texts = [json.loads(payload) for opcode, payload in frames if opcode == 1]
    assert len([t for t in texts if t["event"] == "flood"]) < 200


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["-m", "doubletick.server"], ["-m", "doubletick.cli", "server"]]
)
async def test_the_cli_prints_one_ready_line_serves_and_exits_zero_on_sigterm(
    command: list[str], ws_client: ClientFactory
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    match = READY_RE.fullmatch(line)
    assert match, line
    info = ServerInfo("127.0.0.1", int(match.group(1)), "1", "app-key", "app-secret")
    client = await ws_client(info)  # the CLI runs on uvloop when it is installed
    await client.subscribe("news")
    await asyncio.to_thread(sdk(info).trigger, "news", "update", "x")
    assert (await client.expect("update"))["data"] == "x"
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert await process.stdout.read() == b""


async def test_the_cli_rejects_a_bad_config_with_one_line_and_status_2() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "doubletick.server",
        "--config",
        os.devnull,
        "--app-id",
        "abc",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert stdout == b""
    assert stderr.decode().count("\n") == 1 and "app_id" in stderr.decode()
