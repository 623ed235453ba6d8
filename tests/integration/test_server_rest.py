"""The REST API, driven by the official `pusher` Python SDK and by hand-signed requests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import aiohttp
import pytest

from doubletick.protocol.signing import sign_rest_request
from doubletick.server import ServerInfo
from tests.integration.server_support import ClientFactory, sdk, ws_client

__all__ = ["ws_client"]


async def signed_request(
    info: ServerInfo,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: float | None = None,
    secret: str | None = None,
) -> tuple[int, Any]:
    """A REST request signed like the SDKs sign it; returns (status, JSON body)."""
    params = {
        "auth_key": info.key,
        "auth_timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    params["auth_signature"] = sign_rest_request(secret or info.secret, method, path, params)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, info.http_url + path, params=params, data=body) as response,
    ):
        return response.status, await response.json()


def event_body(**fields: Any) -> bytes:
    return json.dumps({"name": "my-event", "channel": "news", "data": "{}", **fields}).encode()


async def test_an_sdk_trigger_reaches_the_subscriber_with_data_verbatim(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server)
    await client.subscribe("my-channel")
    answer = await asyncio.to_thread(
        sdk(pusher_server).trigger, "my-channel", "my-event", {"from": "python"}
    )
    assert answer == {}
    frame = await client.expect("my-event")
    assert frame == {"event": "my-event", "channel": "my-channel", "data": '{"from": "python"}'}


async def test_a_trigger_with_a_socket_id_skips_that_socket(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    sender, other = await ws_client(pusher_server), await ws_client(pusher_server)
    for client in (sender, other):
        await client.subscribe("news")
    await asyncio.to_thread(
        sdk(pusher_server).trigger, "news", "update", "x", socket_id=sender.socket_id
    )
    await other.expect("update")
    await sender.assert_nothing_pending()


async def test_batch_events_and_info_answer_per_item(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    client = await ws_client(pusher_server)
    await client.subscribe("presence-room", '{"user_id":"1"}')
    batch = [
        {
            "channel": "presence-room",
            "name": "a",
            "data": "1",
            "info": "user_count,subscription_count",
        },
        {"channel": "news", "name": "b", "data": "2"},
    ]
    status, answer = await signed_request(
        pusher_server, "POST", "/apps/1/batch_events", json.dumps({"batch": batch}).encode()
    )
    assert status == 200
    assert answer == {"batch": [{"user_count": 1, "subscription_count": 1}, {}]}
    assert (await client.expect("a"))["data"] == "1"


async def test_channel_queries_report_occupied_channels_counts_and_users(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    first, second = await ws_client(pusher_server), await ws_client(pusher_server)
    await first.subscribe("presence-room", '{"user_id":"1"}')
    await second.subscribe("presence-room", '{"user_id":"1"}')
    await first.subscribe("news")
    client = sdk(pusher_server)
    channels = await asyncio.to_thread(client.channels_info)
    assert channels == {"channels": {"presence-room": {}, "news": {}}}
    presence = await asyncio.to_thread(client.channels_info, "presence-", ["user_count"])
    assert presence == {"channels": {"presence-room": {"user_count": 1}}}
    info = await asyncio.to_thread(
        client.channel_info, "presence-room", ["user_count", "subscription_count"]
    )
    assert info == {"occupied": True, "user_count": 1, "subscription_count": 2}
    assert await asyncio.to_thread(client.users_info, "presence-room") == {"users": [{"id": "1"}]}
    assert await asyncio.to_thread(client.channel_info, "empty") == {"occupied": False}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/apps/1/events", event_body(name="pusher:forged"), 400),
        ("/apps/1/events", event_body(name="pusher_internal:member_added"), 400),
        ("/apps/1/events", event_body(data="x" * 10_241), 413),
        ("/apps/1/events", event_body(channel="bad channel"), 400),
        ("/apps/1/events", b"not json", 400),
        ("/apps/9/events", event_body(), 404),
        ("/apps/1/nowhere", b"", 404),
    ],
)
async def test_bad_rest_requests_get_a_json_error_with_their_status(
    pusher_server: ServerInfo, path: str, body: bytes, status: int
) -> None:
    answer_status, answer = await signed_request(pusher_server, "POST", path, body)
    assert answer_status == status
    assert answer["code"] == status and answer["error"]


async def test_a_wrong_signature_and_an_old_timestamp_are_refused_with_401(
    pusher_server: ServerInfo,
) -> None:
    status, answer = await signed_request(
        pusher_server, "POST", "/apps/1/events", event_body(), secret="wrong"
    )
    assert status == 401 and "signature" in answer["error"]
    status, answer = await signed_request(
        pusher_server, "POST", "/apps/1/events", event_body(), timestamp=time.time() - 601
    )
    assert status == 401 and "timestamp" in answer["error"]


async def test_send_to_user_reaches_every_socket_signed_in_as_that_user(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    tabs = [await ws_client(pusher_server) for _ in range(2)]
    stranger = await ws_client(pusher_server)
    for tab in tabs:
        assert (await tab.sign_in('{"id":"42"}'))["event"] == "pusher:signin_success"
    await tabs[0].subscribe("#server-to-user-42")
    await asyncio.to_thread(sdk(pusher_server).send_to_user, "42", "notice", {"n": 1})
    for tab in tabs:
        assert (await tab.expect("notice"))["channel"] == "#server-to-user-42"
    await stranger.assert_nothing_pending()


@pytest.mark.parametrize("with_app_prefix", [False, True])
async def test_terminate_connections_closes_the_users_sockets_with_4009(
    pusher_server: ServerInfo, ws_client: ClientFactory, with_app_prefix: bool
) -> None:
    user, other = await ws_client(pusher_server), await ws_client(pusher_server)
    await user.sign_in('{"id":"7"}')
    if with_app_prefix:
        status, _ = await signed_request(
            pusher_server, "POST", "/apps/1/users/7/terminate_connections", b"{}"
        )
        assert status == 200
    else:  # the Python SDK posts to /users/{id}/terminate_connections
        await asyncio.to_thread(sdk(pusher_server).terminate_user_connections, "7")
    assert (await user.expect("pusher:error"))["data"]["code"] == 4009
    assert await user.expect_close() == 4009
    await other.assert_nothing_pending()
