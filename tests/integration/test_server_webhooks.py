"""Webhooks from the local server to a real HTTP receiver, checked with the SDK's validator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from doubletick.server import ServerInfo
from tests.integration.server_support import ClientFactory, sdk, ws_client
from tests.waiting import async_wait_until

__all__ = ["ws_client"]


@dataclass
class Receiver:
    """An aiohttp app that records webhook POSTs; it can fail the first N of them."""

    url: str = ""
    failures_left: int = 0
    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts.append((body, dict(request.headers)))
        if self.failures_left:
            self.failures_left -= 1
            return web.Response(status=500)
        self.accepted.extend(json.loads(body)["events"])
        return web.Response(text="ok")

    def names(self) -> list[str]:
        return [event["name"] for event in self.accepted]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorder = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    yield recorder
    await runner.cleanup()


def start(factory: ClientFactory, receiver: Receiver, **settings: Any) -> ServerInfo:
    info: ServerInfo = factory(webhook_urls=(receiver.url,), **settings)
    return info


async def test_webhooks_are_signed_so_the_sdk_validates_them(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory, receiver: Receiver
) -> None:
    info = start(pusher_server_factory, receiver)
    client = await ws_client(info)
    await client.subscribe("presence-room", '{"user_id":"1"}')
    await async_wait_until(lambda: len(receiver.names()) >= 2, what="two webhooks")
    body, headers = receiver.posts[0]
    validated = sdk(info).validate_webhook(
        headers["X-Pusher-Key"], headers["X-Pusher-Signature"], body.decode()
    )
    assert validated is not None and isinstance(validated["time_ms"], int)
    assert receiver.accepted == [
        {"name": "channel_occupied", "channel": "presence-room"},
        {"name": "member_added", "channel": "presence-room", "user_id": "1"},
    ]
    assert len(receiver.posts) == 1  # batched into one POST


async def test_client_events_and_cache_misses_are_reported(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory, receiver: Receiver
) -> None:
    info = start(pusher_server_factory, receiver)
    client = await ws_client(info)
    await client.subscribe("private-cache-room")
    await client.expect("pusher:cache_miss")
    await client.send("client-typing", {"t": 1}, channel="private-cache-room")
    await async_wait_until(lambda: "client_event" in receiver.names(), what="client_event")
    assert "cache_miss" in receiver.names()
    (event,) = [e for e in receiver.accepted if e["name"] == "client_event"]
    assert event == {
        "name": "client_event",
        "channel": "private-cache-room",
        "event": "client-typing",
        "data": '{"t":1}',
        "socket_id": client.socket_id,
    }


async def test_a_quick_rejoin_cancels_channel_vacated_and_the_second_occupied(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory, receiver: Receiver
) -> None:
    info = start(pusher_server_factory, receiver, webhook_delay_seconds=0.5)
    client = await ws_client(info)
    await client.subscribe("news")
    await client.send("pusher:unsubscribe", {"channel": "news"})
    await client.subscribe("news")
    await client.send("pusher:unsubscribe", {"channel": "news"})
    await async_wait_until(lambda: "channel_vacated" in receiver.names(), what="vacated")
    assert receiver.names() == ["channel_occupied", "channel_vacated"]


async def test_a_failed_delivery_is_retried_with_the_same_signed_body(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory, receiver: Receiver
) -> None:
    receiver.failures_left = 1
    info = start(pusher_server_factory, receiver)
    client = await ws_client(info)
    await client.subscribe("news")
    await async_wait_until(lambda: receiver.accepted, what="a delivered retry")
    assert len(receiver.posts) == 2
    assert receiver.posts[0][0] == receiver.posts[1][0]
    assert receiver.names() == ["channel_occupied"]
