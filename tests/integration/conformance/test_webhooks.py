"""Webhooks, checked by both SDKs' validators (PROTOCOL.md section 13)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory, User
from tests.integration.conformance.conftest import SdkFor
from tests.integration.conformance.http_side import AppBackend
from tests.waiting import wait_until


@pytest.fixture
def hooked_server(
    backend: AppBackend, pusher_server_factory: Callable[..., ServerInfo]
) -> ServerInfo:
    """A server posting webhooks to the test backend at once (no vacate delay)."""
    return pusher_server_factory(webhook_urls=(backend.webhook_url,), webhook_delay_seconds=0.0)


@pytest.fixture
def subscribers(backend: AppBackend, hooked_server: ServerInfo) -> Iterator[ClientFactory]:
    clients = ClientFactory(
        "pysher", hooked_server.host, hooked_server.port, hooked_server.key, backend
    )
    yield clients
    clients.close_all()


def wait_for_events(backend: AppBackend, expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def all_there() -> list[dict[str, Any]] | None:
        events = backend.webhook_events()
        return events if all(e in events for e in expected) else None

    found = wait_until(all_there, what=f"webhooks {expected}")
    assert found is not None
    return found


def test_webhooks_describe_the_channels_life_and_both_sdks_validate_them(
    sdk_for: SdkFor,
    hooked_server: ServerInfo,
    backend: AppBackend,
    subscribers: ClientFactory,
) -> None:
    sdk = sdk_for(hooked_server)
    one = subscribers.connect("presence-hooks", user=User("1"))
    two = subscribers.connect("presence-hooks", user=User("2"))
    one.trigger("presence-hooks", "client-wave", {"hi": True})
    two.wait_frame("client-wave", "presence-hooks")
    lonely = subscribers.connect("cache-hooks")
    lonely.wait_frame("pusher:cache_miss", "cache-hooks")
    two.close()
    one.unsubscribe("presence-hooks")

    events = wait_for_events(
        backend,
        [
            {"name": "channel_occupied", "channel": "presence-hooks"},
            {"name": "member_added", "channel": "presence-hooks", "user_id": "1"},
            {"name": "member_added", "channel": "presence-hooks", "user_id": "2"},
            {"name": "channel_occupied", "channel": "cache-hooks"},
            {"name": "cache_miss", "channel": "cache-hooks"},
            {"name": "member_removed", "channel": "presence-hooks", "user_id": "2"},
            {"name": "member_removed", "channel": "presence-hooks", "user_id": "1"},
            {"name": "channel_vacated", "channel": "presence-hooks"},
        ],
    )
    client_event = next(e for e in events if e["name"] == "client_event")
    data = client_event.pop("data")
    assert client_event == {
        "name": "client_event",
        "channel": "presence-hooks",
        "event": "client-wave",
        "socket_id": one.socket_id,
        "user_id": "1",
    }
    assert (json.loads(data) if isinstance(data, str) else data) == {"hi": True}
    names = [e["name"] for e in events if e.get("channel") == "presence-hooks"]
    assert names.index("channel_occupied") < names.index("channel_vacated")

    for hook in backend.received_webhooks():
        assert hook.headers["Content-Type"].startswith("application/json")
        assert sdk.validate_webhook(hook.headers, hook.body) == hook.events
    hook = backend.received_webhooks()[0]
    tampered = hook.body.replace(b"presence-hooks", b"presence-hookz")
    assert sdk.validate_webhook(hook.headers, tampered) is None
