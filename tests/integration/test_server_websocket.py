"""The local server's WebSocket side with a raw client over real sockets."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from doubletick.protocol.errors import ErrorCode
from doubletick.server import AppConfig, ServerConfig, ServerInfo
from tests.integration.server_support import ClientFactory, sdk, ws_client

__all__ = ["ws_client"]


async def test_a_client_gets_connection_established_with_string_data(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server, established=False)
    frame = await client.expect("pusher:connection_established")
    data = json.loads(frame["data"])
    assert data["activity_timeout"] == 120
    assert all(part.isdigit() for part in data["socket_id"].split("."))


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("client=js", ErrorCode.NO_PROTOCOL_VERSION),
        ("protocol=seven", ErrorCode.INVALID_VERSION_FORMAT),
        ("protocol=8", ErrorCode.UNSUPPORTED_PROTOCOL),
    ],
)
async def test_a_bad_protocol_version_is_refused_with_error_and_close(
    pusher_server: ServerInfo, ws_client: ClientFactory, query: str, code: ErrorCode
) -> None:
    client = await ws_client(pusher_server, query, established=False)
    assert (await client.expect("pusher:error"))["data"]["code"] == code
    assert await client.expect_close() == code


@pytest.mark.parametrize("protocol", [5, 6, 7])
async def test_protocols_five_to_seven_are_accepted(
    pusher_server: ServerInfo, ws_client: ClientFactory, protocol: int
) -> None:
    await ws_client(pusher_server, f"protocol={protocol}")


async def test_an_unknown_app_key_is_refused_with_4001(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    info = ServerInfo(pusher_server.host, pusher_server.port, "1", "nope", "x")
    client = await ws_client(info, established=False)
    assert (await client.expect("pusher:error"))["data"]["code"] == 4001
    assert await client.expect_close() == 4001


async def test_a_disabled_app_and_a_full_app_are_refused_in_order(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory
) -> None:
    config = ServerConfig(
        apps=(
            AppConfig(app_id="1", key="off", enabled=False),
            AppConfig(app_id="2", key="small", max_connections=1),
        )
    )
    info = pusher_server_factory(config)
    disabled = await ws_client(ServerInfo(info.host, info.port, "1", "off", ""), established=False)
    assert (await disabled.expect("pusher:error"))["data"]["code"] == ErrorCode.APP_DISABLED
    assert await disabled.expect_close() == ErrorCode.APP_DISABLED
    small = ServerInfo(info.host, info.port, "2", "small", "")
    first = await ws_client(small)
    second = await ws_client(small, established=False)
    assert (await second.expect("pusher:error"))["data"]["code"] == ErrorCode.OVER_CONNECTION_QUOTA
    await first.assert_nothing_pending()


async def test_private_channels_need_a_valid_signature(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server)
    succeeded = await client.subscribe("private-room")
    assert succeeded == {
        "event": "pusher_internal:subscription_succeeded",
        "channel": "private-room",
        "data": "{}",
    }
    await client.send("pusher:subscribe", {"channel": "private-other", "auth": "app-key:bad"})
    error = await client.expect("pusher:subscription_error")
    assert error["data"]["type"] == "AuthError" and error["data"]["status"] == 401
    await client.assert_nothing_pending()


async def test_presence_members_are_announced_once_per_user_to_the_others(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    alice, alice_tab, bob = [await ws_client(pusher_server) for _ in range(3)]
    joined = await alice.subscribe("presence-room", '{"user_id":"a","user_info":{"n":1}}')
    assert json.loads(joined["data"])["presence"] == {
        "ids": ["a"],
        "hash": {"a": {"n": 1}},
        "count": 1,
    }
    await alice_tab.subscribe("presence-room", '{"user_id":"a","user_info":{"n":1}}')
    joined = await bob.subscribe("presence-room", '{"user_id":"b"}')
    assert json.loads(joined["data"])["presence"]["count"] == 2
    for client in (alice, alice_tab):
        added = await client.expect("pusher_internal:member_added")
        assert json.loads(added["data"]) == {"user_id": "b"}
    await alice_tab.ws.close()
    await bob.assert_nothing_pending()  # alice still has a socket: no member_removed
    await alice.send("pusher:unsubscribe", {"channel": "presence-room"})
    removed = await bob.expect("pusher_internal:member_removed")
    assert json.loads(removed["data"]) == {"user_id": "a"}


async def test_a_full_presence_channel_refuses_a_new_user_with_limit_reached(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory
) -> None:
    info = pusher_server_factory(max_presence_members=1)
    first, second = await ws_client(info), await ws_client(info)
    await first.subscribe("presence-room", '{"user_id":"1"}')
    refused = await second.subscribe("presence-room", '{"user_id":"2"}')
    assert refused["event"] == "pusher:subscription_error"
    assert refused["data"]["type"] == "LimitReached" and refused["data"]["status"] == 4100


async def test_client_events_reach_the_others_but_never_the_sender(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    sender, receiver = await ws_client(pusher_server), await ws_client(pusher_server)
    await sender.subscribe("presence-chat", '{"user_id":"s"}')
    await receiver.subscribe("presence-chat", '{"user_id":"r"}')
    await sender.expect("pusher_internal:member_added")
    await sender.send("client-typing", {"t": 1}, channel="presence-chat")
    relayed = await receiver.expect("client-typing")
    assert relayed == {
        "event": "client-typing",
        "channel": "presence-chat",
        "data": {"t": 1},
        "user_id": "s",
    }
    await sender.assert_nothing_pending()


async def test_client_events_over_the_rate_get_4301_and_the_connection_stays_open(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory
) -> None:
    info = pusher_server_factory(max_client_events_per_second=2)
    client = await ws_client(info)
    await client.subscribe("private-room")
    for _ in range(3):
        await client.send("client-x", {}, channel="private-room")
    error = await client.expect("pusher:error")
    assert error["data"]["code"] == 4301
    await client.assert_nothing_pending()


async def test_a_cache_channel_replays_the_last_event_or_reports_a_cache_miss(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server)
    await client.subscribe("cache-news")
    assert await client.expect("pusher:cache_miss") == {
        "event": "pusher:cache_miss",
        "channel": "cache-news",
    }
    await asyncio.to_thread(sdk(pusher_server).trigger, "cache-news", "headline", {"n": 1})
    published = await client.expect("headline")
    late = await ws_client(pusher_server)
    await late.subscribe("cache-news")
    assert await late.expect("headline") == published


async def test_a_malformed_frame_gets_an_error_and_the_connection_stays_open(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server)
    await client.ws.send_str("{not json")
    error = await client.expect("pusher:error")
    assert error["data"]["code"] is None
    await client.ws.send_bytes(b"\x01\x02")
    await client.expect("pusher:error")
    await client.assert_nothing_pending()


async def test_a_websocket_ping_is_answered_with_a_pong(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server)
    await client.ws.ping(b"hello")
    await client.assert_nothing_pending()  # autoping hides the pong; the socket still works


async def test_health_endpoints_answer_plain_http_on_the_same_port(
    pusher_server: ServerInfo,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(pusher_server.http_url + "/") as response:
            assert await response.text() == "OK"
        for path in ("/health", "/up", "/ready"):
            async with session.get(pusher_server.http_url + path) as response:
                assert (await response.json())["ok"] is True
