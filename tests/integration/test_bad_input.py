"""Bad input from peers, over a raw WebSocket and raw HTTP: each gets the documented answer
(PROTOCOL.md sections 1, 2, 5, 7, 11, 12) and the server keeps serving a fresh client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
import requests
import websocket

from doubletick.protocol import signing
from doubletick.server import ServerInfo
from tests.integration.conformance.sdks import Credentials, event_body, signed_request
from tests.waiting import async_wait_until, within

Frame = dict[str, Any]


def creds(server: ServerInfo) -> Credentials:
    return Credentials(server.host, server.port, server.app_id, server.key, server.secret)


async def receive_frame(ws: aiohttp.ClientWebSocketResponse) -> Frame:
    message = await within(ws.receive(), timeout=5)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    frame: Frame = json.loads(message.data)
    if isinstance(frame.get("data"), str):
        with contextlib.suppress(ValueError):
            frame["data"] = json.loads(frame["data"])
    return frame


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, event: str, channel: str | None = None
) -> Frame:
    while True:
        frame = await receive_frame(ws)
        if frame["event"] == event and (channel is None or frame.get("channel") == channel):
            return frame


class RawClient:
    """A bare WebSocket client: sends anything, sees every frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, socket_id: str) -> None:
        self.ws, self.socket_id = ws, socket_id

    async def send(self, frame: object) -> None:
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def answer_to(self, frame: object, event: str, channel: str | None = None) -> Frame:
        await self.send(frame)
        return await receive_until(self.ws, event, channel)

    async def still_serves(self) -> None:
        """This socket still answers: ping gets pong, a public subscribe succeeds."""
        await self.send({"event": "pusher:ping", "data": {}})
        await receive_until(self.ws, "pusher:pong")
        subscribe = {"event": "pusher:subscribe", "data": {"channel": "public-alive"}}
        await self.answer_to(subscribe, "pusher_internal:subscription_succeeded", "public-alive")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


Connect = Callable[..., Any]


@pytest.fixture
def connect(session: aiohttp.ClientSession, pusher_server: ServerInfo) -> Connect:
    async def open_raw(**ws_options: Any) -> RawClient:
        ws = await session.ws_connect(f"{pusher_server.ws_url}?protocol=7", **ws_options)
        established = await receive_frame(ws)
        assert established["event"] == "pusher:connection_established"
        return RawClient(ws, established["data"]["socket_id"])

    return open_raw


@pytest.fixture
def fresh_client_works(pusher_server: ServerInfo) -> Iterator[None]:
    """After each test: a new client connects and subscribes, and REST still answers."""
    yield
    ws = websocket.create_connection(f"{pusher_server.ws_url}?protocol=7", timeout=5)
    try:
        assert json.loads(ws.recv())["event"] == "pusher:connection_established"
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "public-fresh"}}))
        assert json.loads(ws.recv())["event"] == "pusher_internal:subscription_succeeded"
    finally:
        ws.close()
    answer = signed_request(creds(pusher_server), "GET", channels_path(pusher_server))
    assert answer.status_code == 200


def channels_path(server: ServerInfo) -> str:
    return f"/apps/{server.app_id}/channels"


pytestmark = pytest.mark.usefixtures("fresh_client_works")


# --- WebSocket ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "this is not JSON",
        "[1, 2, 3]",
        '"just a string"',
        {"event": 5},
        {"event": ""},
        {"data": {}},
        {"event": "pusher:subscribe", "channel": 7},
        {"event": "pusher:subscribe", "data": "{not json"},
        {"event": "pusher:subscribe", "data": [1]},
        {"event": "pusher:subscribe", "data": {"channel": 5}},
        {"event": "pusher:unsubscribe", "data": {"channel": None}},
    ],
    ids=[
        "not-json",
        "array",
        "string",
        "event-is-a-number",
        "empty-event",
        "no-event",
        "channel-is-a-number",
        "data-is-broken-json",
        "data-is-an-array",
        "subscribe-channel-is-a-number",
        "unsubscribe-channel-is-null",
    ],
)
async def test_malformed_frames_get_a_pusher_error_and_the_socket_stays_open(
    connect: Connect, frame: object
) -> None:
    client = await connect()
    error = await client.answer_to(frame, "pusher:error")
    assert isinstance(error["data"], dict)
    assert error["data"]["message"]
    await client.still_serves()


async def test_a_binary_frame_gets_a_pusher_error_and_the_socket_stays_open(
    connect: Connect,
) -> None:
    client = await connect()
    await client.ws.send_bytes(b'{"event":"pusher:ping","data":{}}')
    error = await receive_until(client.ws, "pusher:error")
    assert "binary" in error["data"]["message"]
    await client.still_serves()


async def test_a_one_megabyte_frame_closes_only_that_socket_with_1009(connect: Connect) -> None:
    client = await connect()
    bystander = await connect()
    await client.send({"event": "client-x", "channel": "private-a", "data": "x" * 1_048_576})
    closing = await within(client.ws.receive(), timeout=5)
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 1009
    await bystander.still_serves()


async def test_unknown_pusher_events_are_ignored_and_other_events_rejected_as_client_events(
    connect: Connect,
) -> None:
    client = await connect()
    await client.send({"event": "pusher:made_up", "data": {}})
    await client.send({"event": "pusher_internal:member_added", "data": {}})
    rejected = await client.answer_to({"event": "not-a-client-event", "data": {}}, "pusher:error")
    assert rejected["data"]["code"] == 4301
    await client.still_serves()


async def test_websocket_ping_control_frames_get_pong_frames(
    connect: Connect,
) -> None:
    client = await connect(autoping=False)
    await client.ws.ping(b"are you there")
    message = await within(client.ws.receive(), timeout=5)
    assert message.type is aiohttp.WSMsgType.PONG
    assert message.data == b"are you there"


AUTHS: dict[str, Callable[[str], str | None]] = {
    "none": lambda good: None,
    "empty": lambda good: "",
    "good": lambda good: good,
    "forged-signature": lambda good: "app-key:" + "0" * 64,
    "wrong-key-part": lambda good: "other-key:" + good.partition(":")[2],
    "garbage": lambda good: "no-colon-at-all",
}


@pytest.mark.parametrize(
    ("channel", "auth"),
    [
        ("private-bad name", "good"),
        ("private-" + "a" * 200, "good"),
        ("#not-for-clients", "none"),
        ("private-room", "none"),
        ("private-room", "empty"),
        ("private-room", "forged-signature"),
        ("private-room", "wrong-key-part"),
        ("private-room", "garbage"),
        ("presence-room", "good"),
    ],
    ids=[
        "bad-characters",
        "too-long",
        "reserved-prefix",
        "no-auth",
        "empty-auth",
        "forged-signature",
        "wrong-key-part",
        "garbage-auth",
        "presence-without-channel-data",
    ],
)
async def test_bad_subscriptions_get_a_subscription_error_and_the_socket_stays_open(
    connect: Connect, pusher_server: ServerInfo, channel: str, auth: str
) -> None:
    client = await connect()
    good = signing.channel_auth(pusher_server.key, pusher_server.secret, client.socket_id, channel)
    data: dict[str, Any] = {"channel": channel}
    if AUTHS[auth](good) is not None:
        data["auth"] = AUTHS[auth](good)

    error = await client.answer_to(
        {"event": "pusher:subscribe", "data": data}, "pusher:subscription_error", channel
    )

    assert error["data"]["status"] in {400, 401, 403, 4009}
    assert error["data"]["type"] in {"AuthError", "LimitReached"}
    await client.still_serves()


@pytest.mark.parametrize(
    ("user_data", "secret"),
    [
        ('{"id":"mallory"}', "guessed-secret"),
        ("not json", None),
        ('{"name":"no id"}', None),
        ('{"id":""}', None),
        ('{"id":42}', None),
        ('{"id":"has space"}', None),
    ],
    ids=["forged-signature", "not-json", "no-id", "empty-id", "numeric-id", "bad-characters"],
)
async def test_a_bad_signin_is_refused_with_4009_and_closed(
    connect: Connect, pusher_server: ServerInfo, user_data: str, secret: str | None
) -> None:
    client = await connect()
    auth = signing.user_auth(
        pusher_server.key, secret or pusher_server.secret, client.socket_id, user_data
    )
    error = await client.answer_to(
        {"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}},
        "pusher:error",
    )
    assert error["data"]["code"] == 4009
    closing = await within(client.ws.receive(), timeout=5)
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 4009


async def test_signing_in_again_as_another_user_is_refused_with_4009(
    connect: Connect, pusher_server: ServerInfo
) -> None:
    client = await connect()

    async def signin(user_id: str, answer: str) -> Frame:
        user_data = json.dumps({"id": user_id})
        auth = signing.user_auth(
            pusher_server.key, pusher_server.secret, client.socket_id, user_data
        )
        return await client.answer_to(
            {"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}}, answer
        )

    assert (await signin("ada", "pusher:signin_success"))["data"]["user_data"] == '{"id": "ada"}'
    assert (await signin("bob", "pusher:error"))["data"]["code"] == 4009


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/app/unknown-key?protocol=7", 4001),
        ("/app/app-key", 4008),
        ("/app/app-key?protocol=x", 4006),
        ("/app/app-key?protocol=99", 4007),
    ],
    ids=["unknown-key", "no-protocol", "protocol-not-a-number", "unsupported-protocol"],
)
async def test_refused_handshakes_send_the_error_and_close_with_its_code(
    session: aiohttp.ClientSession, pusher_server: ServerInfo, path: str, expected: int
) -> None:
    async with session.ws_connect(pusher_server.http_url.replace("http", "ws") + path) as ws:
        error = await receive_frame(ws)
        assert error == {
            "event": "pusher:error",
            "data": {"code": expected, "message": error["data"]["message"]},
        }
        closing = await within(ws.receive(), timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == expected


async def test_a_websocket_on_an_unknown_path_is_refused(
    session: aiohttp.ClientSession, pusher_server: ServerInfo
) -> None:
    url = pusher_server.http_url.replace("http", "ws") + "/socket/app-key?protocol=7"
    try:
        async with session.ws_connect(url) as ws:
            error = await receive_frame(ws)
            assert error["data"]["code"] == 4005
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 404


# --- 1,000 connections dropped abruptly ---------------------------------------------------


async def read_ws_frame(reader: asyncio.StreamReader) -> Frame:
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    frame: Frame = json.loads(await reader.readexactly(length))
    return frame


def ws_text_frame(text: str) -> bytes:
    """A masked (client-to-server) text frame."""
    payload, mask = text.encode(), os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
    return header + mask + masked


async def open_and_subscribe(server: ServerInfo, index: int) -> asyncio.StreamWriter:
    """A bare-socket client subscribed to one public and one presence channel."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /app/{server.key}?protocol=7 HTTP/1.1\r\nHost: {server.host}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101"), response
    established = await read_ws_frame(reader)
    socket_id = json.loads(established["data"])["socket_id"]
    channel_data = json.dumps({"user_id": str(index % 50)})
    auth = signing.channel_auth(
        server.key, server.secret, socket_id, "presence-crowd", channel_data
    )
    for data in (
        {"channel": f"public-crowd-{index % 20}"},
        {"channel": "presence-crowd", "auth": auth, "channel_data": channel_data},
    ):
        writer.write(ws_text_frame(json.dumps({"event": "pusher:subscribe", "data": data})))
    succeeded = 0
    while succeeded < 2:
        frame = await read_ws_frame(reader)
        succeeded += frame["event"] == "pusher_internal:subscription_succeeded"
    return writer


def drop_abruptly(writer: asyncio.StreamWriter) -> None:
    """Reset the TCP connection: no close frame, no FIN (SO_LINGER 0, then abort)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.slow
async def test_a_thousand_connections_dropped_abruptly_leave_nothing_behind(
    pusher_server: ServerInfo,
) -> None:
    writers: list[asyncio.StreamWriter] = []
    for start in range(0, 1_000, 100):
        batch = [open_and_subscribe(pusher_server, i) for i in range(start, start + 100)]
        writers += await within(asyncio.gather(*batch), timeout=30)
    answer = await asyncio.to_thread(
        signed_request, creds(pusher_server), "GET", channels_path(pusher_server)
    )
    assert len(answer.json()["channels"]) == 21

    for writer in writers:
        drop_abruptly(writer)

    def registry_is_empty() -> bool:
        response = signed_request(creds(pusher_server), "GET", channels_path(pusher_server))
        return response.status_code == 200 and response.json() == {"channels": {}}

    await async_wait_until(
        registry_is_empty, timeout=20, what="every dropped socket to leave its channels"
    )
    users = signed_request(
        creds(pusher_server), "GET", f"/apps/{pusher_server.app_id}/channels/presence-crowd/users"
    )
    assert users.json() == {"users": []}


# --- REST ---------------------------------------------------------------------------------


def events_path(server: ServerInfo) -> str:
    return f"/apps/{server.app_id}/events"


@pytest.mark.parametrize(
    ("forgery", "status"),
    [
        ({"timestamp": -610}, 401),  # seconds from now
        ({"timestamp": +610}, 401),
        ({"secret": "guessed-secret"}, 401),
        ({"key": "another-key"}, 401),
        ({"body_md5": "0" * 32}, 401),
    ],
    ids=[
        "stale-timestamp",
        "future-timestamp",
        "forged-signature",
        "wrong-key",
        "body-md5-mismatch",
    ],
)
def test_rest_requests_with_bad_auth_get_401(
    pusher_server: ServerInfo, forgery: dict[str, Any], status: int
) -> None:
    body = event_body("public-x")
    if "timestamp" in forgery:
        forgery = {"timestamp": time.time() + forgery["timestamp"]}
    response = signed_request(
        creds(pusher_server), "POST", events_path(pusher_server), body, **forgery
    )
    assert response.status_code == status, response.text
    assert response.text


def test_rest_requests_to_another_app_id_get_404(pusher_server: ServerInfo) -> None:
    response = signed_request(creds(pusher_server), "POST", "/apps/999/events", event_body("x"))
    assert response.status_code == 404


def test_unsigned_rest_requests_get_401(pusher_server: ServerInfo) -> None:
    response = requests.post(
        pusher_server.http_url + events_path(pusher_server), data=event_body("x"), timeout=10
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"name": "e", "data": "{}"}).encode(),
        json.dumps({"name": 5, "channels": ["a"], "data": "{}"}).encode(),
        json.dumps({"name": "e", "channels": "a", "data": "{}"}).encode(),
        json.dumps({"name": "e", "channels": ["bad name"], "data": "{}"}).encode(),
        json.dumps({"name": "e", "channels": [f"c{i}" for i in range(101)], "data": "{}"}).encode(),
        json.dumps({"name": "e", "channels": ["a"], "data": "{}", "socket_id": "abc"}).encode(),
        json.dumps(
            {"name": "pusher_internal:member_added", "channels": ["a"], "data": "{}"}
        ).encode(),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-channels",
        "name-is-a-number",
        "channels-is-a-string",
        "bad-channel-name",
        "101-channels",
        "bad-socket-id",
        "reserved-event-name",
    ],
)
def test_malformed_rest_events_get_400(pusher_server: ServerInfo, body: bytes) -> None:
    response = signed_request(creds(pusher_server), "POST", events_path(pusher_server), body)
    assert response.status_code == 400, response.text


def test_an_oversized_rest_body_gets_413(pusher_server: ServerInfo) -> None:
    body = event_body("public-x", data=json.dumps("x" * 2_000_000))
    response = signed_request(creds(pusher_server), "POST", events_path(pusher_server), body)
    assert response.status_code == 413


def test_unknown_rest_routes_get_404(pusher_server: ServerInfo) -> None:
    response = signed_request(creds(pusher_server), "GET", f"/apps/{pusher_server.app_id}/nope")
    assert response.status_code == 404
