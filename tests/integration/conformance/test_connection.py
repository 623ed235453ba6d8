"""The connection itself: handshake errors, protocol versions, shutdown and heartbeat
(PROTOCOL.md sections 1, 3, 4 and 9)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from doubletick.server import ServerConfig, ServerInfo, ServerThread
from tests.integration.conformance.clients import (
    Client,
    ClientFactory,
    PusherJsClient,
    PysherClient,
)
from tests.integration.conformance.conftest import ClientsFor
from tests.integration.conformance.http_side import AppBackend
from tests.nodeclients import PusherJsDriver
from tests.waiting import wait_until, within


def test_an_unknown_app_key_is_refused_with_4001_and_the_client_gives_up(
    clients_for: ClientsFor, pusher_server: ServerInfo
) -> None:
    client = clients_for(dataclasses.replace(pusher_server, key="unknown-key")).new()

    client.start()

    client.wait_gone()  # and no reconnect
    if isinstance(client, PysherClient):  # pysher reads the frame; the close code is ours
        assert [f.code for f in client.frames("pusher:error")] == [4001]
        assert client.close_codes == [4001]
        assert client.connections == 0
    else:  # pusher-js refuses on the handshake's pusher:error (a close code alone would do)
        codes = [error_code(e["error"]) for e in client.connection_errors()]
        assert codes and set(codes) == {4001}
        assert client.state() == "disconnected"


def error_code(error: dict[str, Any]) -> int | None:
    """The Pusher code in a pusher-js connection error (possibly wrapped in another)."""
    if "data" in error:
        code: int | None = error["data"].get("code")
        return code
    return error_code(error["error"]) if "error" in error else None


@pytest.fixture
def restartable() -> Iterator[ServerThread]:
    server = ServerThread(ServerConfig())
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_graceful_shutdown_sends_4200_and_the_client_reconnects(
    clients_for: ClientsFor, restartable: ServerThread
) -> None:
    clients = clients_for(restartable.info)
    client = clients.connect("public-news")
    since = client.connections if isinstance(client, PysherClient) else client.mark()
    old_socket_id = client.socket_id

    restartable.restart()

    client.wait_frame("pusher:error", where=lambda f: f.code == 4200)
    if isinstance(client, PusherJsClient):
        client.wait_state("connecting", since=since)  # at once, not "disconnected"
    # The restart binds the new server before the old one closes (SO_REUSEPORT), so the
    # immediate retry finds a listener (pusher-js would otherwise wait out 15 s).
    assert client.wait_reconnected(since=since, timeout=10) != old_socket_id
    if isinstance(client, PusherJsClient):  # pusher-js resubscribes by itself
        client.wait_frame("pusher_internal:subscription_succeeded", "public-news", since=since)


def heartbeats(client: Client) -> int:
    return len(client.frames("pusher:ping")) + len(client.frames("pusher:pong"))


def test_a_client_that_answers_server_pings_is_kept(
    clients_for: ClientsFor, pusher_server_factory: Callable[..., ServerInfo]
) -> None:
    client = clients_for(pusher_server_factory(activity_timeout=1, pong_timeout=0.5)).connect()
    if isinstance(client, PysherClient):  # pusher-js reports frames after the handshake only
        established = client.frames("pusher:connection_established")[0]
        assert established.data["activity_timeout"] == 1

    wait_until(lambda: heartbeats(client) >= 3, timeout=6, what="three heartbeats")

    assert client.is_connected()
    assert not client.frames("pusher:error")


# --- raw WebSocket: what no real client does ------------------------------------------------


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await within(ws.receive(), timeout=5)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    return frame


async def test_a_silent_client_is_pinged_then_closed_with_4201(
    pusher_server_factory: Callable[..., ServerInfo],
) -> None:
    server = pusher_server_factory(activity_timeout=1, pong_timeout=0.5)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{server.ws_url}?protocol=7") as ws,
    ):
        assert (await receive_json(ws))["event"] == "pusher:connection_established"
        assert (await receive_json(ws))["event"] == "pusher:ping"
        error = await receive_json(ws)
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == 4201
        closing = await within(ws.receive(), timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == 4201


@pytest.mark.parametrize("query", ["?protocol=5", "?protocol=6", "?protocol=7&client=js"])
async def test_protocol_versions_5_to_7_are_accepted(pusher_server: ServerInfo, query: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(pusher_server.ws_url + query) as ws,
    ):
        established = await receive_json(ws)
        assert established["event"] == "pusher:connection_established"
        assert isinstance(established["data"], str)
        assert json.loads(established["data"])["activity_timeout"] == 120


@pytest.mark.node
def test_pusher_js_behind_an_unknown_path_never_connects(
    js_driver: PusherJsDriver, pusher_server: ServerInfo, backend: AppBackend
) -> None:
    clients = ClientFactory(
        "pusher-js", pusher_server.host, pusher_server.port, pusher_server.key, backend, js_driver
    )
    client = clients.new(wsPath="/elsewhere", unavailableTimeout=300)
    assert isinstance(client, PusherJsClient)
    try:
        client.start()
        client.wait_state("unavailable", since=0)
        assert client.state() != "connected"
    finally:
        clients.close_all()


@pytest.mark.parametrize(
    ("settings", "code"),
    [({"enabled": False}, 4003), ({"max_connections": 1}, 4004)],
    ids=["app-disabled", "over-connection-quota"],
)
def test_a_refused_connection_gets_its_code_and_the_client_gives_up(
    clients_for: ClientsFor,
    pusher_server_factory: Callable[..., ServerInfo],
    settings: dict[str, Any],
    code: int,
) -> None:
    clients = clients_for(pusher_server_factory(**settings))
    if code == 4004:
        clients.connect()  # takes the only place
    client = clients.new()

    client.start()

    client.wait_gone()
    if isinstance(client, PysherClient):
        assert [f.code for f in client.frames("pusher:error")] == [code]
        assert client.close_codes == [code]
    else:
        assert {error_code(e["error"]) for e in client.connection_errors()} == {code}
