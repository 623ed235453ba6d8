"""The WebSocket transport: `GET /app/{key}` on aiohttp. A thin loop that feeds frames to the
protocol core and lets the app runtime carry out what it returns.

Writes go straight to the socket's transport with pre-encoded frames (see `wire`), so a
broadcast costs one `transport.write` per subscriber. The server owns flow control: a client
whose unsent data passes `max_send_buffer_bytes` is closed with 4100 and written to no more,
so memory stays bounded however slow it reads.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from doubletick.protocol import frames
from doubletick.protocol.connection import Connection
from doubletick.protocol.errors import ErrorCode
from doubletick.server.runtime import AppRuntime
from doubletick.server.state import ServerState
from doubletick.server.wire import encode_close_frame, encode_text_frame

log = logging.getLogger(__name__)

SUPPORTED_PROTOCOLS = range(5, 8)
STATE_KEY = web.AppKey("doubletick_state", ServerState)
_CLOSE_TIMEOUT = 2.0  # waiting for the client's close frame
_STUCK_AFTER = 10.0  # a closing socket that has not gone after this is aborted


class WsPeer:
    """One connected WebSocket: a few slots, no task and no timer of its own."""

    __slots__ = (
        "_close_task",
        "_closing_at",
        "_limit",
        "_state",
        "_transport",
        "_ws",
        "connection",
        "socket_id",
        "watchlist",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        connection: Connection,
        state: ServerState,
    ) -> None:
        self.socket_id = connection.socket_id
        self.connection = connection
        self.watchlist: tuple[str, ...] = ()
        self._ws = ws
        self._transport = transport
        self._state = state
        self._limit = state.config.max_send_buffer_bytes
        self._closing_at: float | None = None
        self._close_task: asyncio.Task[None] | None = None

    def write(self, wire: bytes) -> None:
        """Queue an encoded frame; a client too far behind is closed with 4100."""
        transport = self._transport
        if self._closing_at is not None or transport.is_closing():
            return
        transport.write(wire)
        if transport.get_write_buffer_size() > self._limit:
            self._overflow()

    def close(self, code: int, reason: str) -> None:
        """Close the WebSocket with `code` (frames written before this still go out first)."""
        if self._closing_at is not None:
            return
        self._closing_at = time.monotonic()
        self._close_task = self._state.spawn(self._close(code, reason))

    async def wait_closed(self) -> None:
        """Let a close we started finish writing before the handler ends."""
        if self._close_task is not None:
            await asyncio.wait({self._close_task}, timeout=_CLOSE_TIMEOUT * 2)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self._ws.close(code=code, message=reason.encode())
        except Exception as exc:  # the peer may vanish while we close
            log.debug("closing socket %s: %r", self.socket_id, exc)

    def _overflow(self) -> None:
        self._closing_at = time.monotonic()
        log.warning(
            "socket %s reads too slowly (over %d bytes unsent): closing with 4100",
            self.socket_id,
            self._limit,
        )
        message = "Over capacity: the client is not reading fast enough"
        self._transport.write(encode_close_frame(ErrorCode.OVER_CAPACITY, message))
        self._transport.close()  # flushes what is buffered (bounded), then closes

    def check_stuck(self, now: float) -> None:
        """Abort a socket that has been closing for too long (a client that never reads)."""
        if self._closing_at is not None and now - self._closing_at > _STUCK_AFTER:
            self._transport.abort()


def origin_allowed(allowed: tuple[str, ...], origin: str | None) -> bool:
    """Whether a WebSocket from `origin` may connect (`allowed_origins`; empty: any).

    An entry with a scheme matches the whole origin (`https://app.example.com`), one without
    matches its host (`localhost`, `*.example.com`); `*` matches anything. A connection
    without an Origin header only passes an empty list or `*` (as Reverb)."""
    if not allowed or "*" in allowed:
        return True
    if not origin:
        return False
    origin = origin.lower()
    host = urlsplit(origin).hostname or ""
    return any(
        fnmatch.fnmatchcase(origin if "://" in pattern else host, pattern.lower())
        for pattern in allowed
    )


def handshake_error(
    state: ServerState, key: str, query: Mapping[str, str], origin: str | None = None
) -> tuple[ErrorCode, str] | None:
    """The first failed check of PROTOCOL.md section 1, in its order (None: all passed)."""
    if state.shutting_down:
        return ErrorCode.GENERIC_RECONNECT, "Server is closing. Please reconnect shortly."
    protocol = query.get("protocol")
    if protocol is None:
        return ErrorCode.NO_PROTOCOL_VERSION, "No protocol version supplied"
    if not protocol.isdigit():
        return ErrorCode.INVALID_VERSION_FORMAT, f"Invalid protocol version {protocol[:20]!r}"
    if int(protocol) not in SUPPORTED_PROTOCOLS:
        return ErrorCode.UNSUPPORTED_PROTOCOL, f"Unsupported protocol {protocol}: use 5 to 7"
    runtime = state.by_key.get(key)
    if runtime is None:
        return ErrorCode.APP_NOT_FOUND, f"App key {key[:100]} does not exist."
    if not runtime.config.enabled:
        return ErrorCode.APP_DISABLED, "Application is disabled"
    if not origin_allowed(runtime.config.allowed_origins, origin):
        return ErrorCode.UNAUTHORIZED, "Origin not allowed"
    if runtime.is_full():
        return ErrorCode.OVER_CONNECTION_QUOTA, "Over connection quota"
    return None


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """`GET /app/{key}`: upgrade, run the handshake checks, then serve frames until close."""
    state = request.app[STATE_KEY]
    key = request.match_info["key"]
    ws = web.WebSocketResponse(
        autoping=False,
        compress=False,
        max_msg_size=state.config.max_frame_bytes,
        timeout=_CLOSE_TIMEOUT,
    )
    await ws.prepare(request)
    try:
        await _run(request, ws, state, key)
    except Exception:  # after the upgrade an HTTP error page is no answer: close the socket
        log.exception("WebSocket %s failed", request.path)
        await ws.close(code=1011, message=b"internal server error")
    return ws


async def _run(
    request: web.Request, ws: web.WebSocketResponse, state: ServerState, key: str
) -> None:
    refused = handshake_error(state, key, request.query, request.headers.get("Origin"))
    if refused is not None:
        code, message = refused
        await ws.send_str(frames.error(code, message))
        await ws.close(code=code, message=message.encode())
        return
    if request.transport is None:  # the client went away during the upgrade
        return
    transport = request.transport  # on uvloop not an asyncio.Transport subclass: duck-typed
    runtime = state.by_key[key]
    peer = WsPeer(ws, transport, runtime.new_connection(), state)
    runtime.connect(peer, time.monotonic())
    try:
        await _serve(ws, peer, runtime)
        await peer.wait_closed()
    finally:
        runtime.disconnect(peer)


async def _serve(ws: web.WebSocketResponse, peer: WsPeer, runtime: AppRuntime) -> None:
    connection = peer.connection
    async for message in ws:
        now = time.monotonic()
        kind = message.type
        try:
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                runtime.receive(peer, message.data, now)
            elif kind is WSMsgType.PING:
                connection.receive_control_frame(now)
                await ws.pong(message.data)
            elif kind is WSMsgType.PONG:
                connection.receive_control_frame(now)
        except ConnectionResetError:  # the socket is going away (e.g. closed for 4100)
            return
        except Exception:  # a bug must cost one frame, never the server
            log.exception("socket %s: error handling a frame", peer.socket_id)
            peer.write(encode_text_frame(frames.error(None, "internal server error")))
