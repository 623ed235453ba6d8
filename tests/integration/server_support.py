"""A small raw Pusher client over aiohttp for the server's own integration tests: it sends
frames as pusher-js does and reads every frame strictly in order (no skipping)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pusher
import pytest

from doubletick.protocol.signing import channel_auth, user_auth
from doubletick.server import ServerInfo

PUSHER_JS_QUERY = "protocol=7&client=js&version=8.6.0&flash=false"
TIMEOUT = 5.0


class WsClient:
    """One WebSocket connection speaking the Pusher protocol."""

    def __init__(self, info: ServerInfo, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.info = info
        self.ws = ws
        self.socket_id = ""

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.receive(timeout=TIMEOUT)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {message.type.name} {message.data!r}")
        frame: dict[str, Any] = json.loads(message.data)
        return frame

    async def expect(self, event: str) -> dict[str, Any]:
        """The next frame, which must be `event`."""
        frame = await self.receive()
        assert frame["event"] == event, frame
        return frame

    async def expect_close(self) -> int | None:
        """Read until the server closes; returns the code of the server's close frame.

        (aiohttp's server drops TCP right after a close frame it sends from another task, so
        the client's `close_code` may say 1006 when its own close answer could not be sent:
        the code the server sent is what pusher-js and pysher see.)"""
        message = await self.ws.receive(timeout=TIMEOUT)
        assert message.type is aiohttp.WSMsgType.CLOSE, message
        code: int = message.data
        return code

    async def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": {} if data is None else data}
        if channel is not None:
            frame["channel"] = channel
        await self.ws.send_str(json.dumps(frame))

    async def subscribe(self, channel: str, channel_data: str | None = None) -> dict[str, Any]:
        """Subscribe as pusher-js does (auth signed locally) and return the answer frame."""
        data: dict[str, Any] = {"channel": channel, "auth": ""}
        if channel.startswith(("private-", "presence-")):
            data["auth"] = channel_auth(
                self.info.key, self.info.secret, self.socket_id, channel, channel_data
            )
        if channel_data is not None:
            data["channel_data"] = channel_data
        await self.send("pusher:subscribe", data)
        return await self.receive()

    async def sign_in(self, user_data: str) -> dict[str, Any]:
        auth = user_auth(self.info.key, self.info.secret, self.socket_id, user_data)
        await self.send("pusher:signin", {"auth": auth, "user_data": user_data})
        return await self.receive()

    async def assert_nothing_pending(self) -> None:
        """Nothing else was sent before this point: a ping's pong is the next frame."""
        await self.send("pusher:ping")
        await self.expect("pusher:pong")


ClientFactory = Callable[..., Any]


@pytest.fixture
async def ws_client() -> AsyncIterator[ClientFactory]:
    """`await ws_client(info, query=...)`: a connected client (established frame read)."""
    session = aiohttp.ClientSession()

    async def connect(
        info: ServerInfo, query: str = PUSHER_JS_QUERY, *, established: bool = True
    ) -> WsClient:
        ws = await session.ws_connect(f"{info.ws_url}?{query}" if query else info.ws_url)
        client = WsClient(info, ws)
        if established:
            frame = await client.expect("pusher:connection_established")
            client.socket_id = json.loads(frame["data"])["socket_id"]
        return client

    yield connect
    await session.close()


def sdk(info: ServerInfo) -> pusher.Pusher:
    """The official Python HTTP SDK pointed at a local server."""
    return pusher.Pusher(
        app_id=info.app_id,
        key=info.key,
        secret=info.secret,
        host=info.host,
        port=info.port,
        ssl=False,
    )
