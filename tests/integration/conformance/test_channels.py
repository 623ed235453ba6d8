"""Every channel kind with every real client (PROTOCOL.md sections 2, 6, 7)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import nacl.secret
import pytest

from doubletick.protocol import signing
from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory, Frame, PusherJsClient, User
from tests.integration.conformance.conftest import ClientsFor
from tests.integration.conformance.http_side import MASTER_KEY, AppBackend
from tests.integration.conformance.sdks import PythonSdk


def published(client: Any, channel: str, event: str, since: int = 0) -> Frame:
    return client.wait_frame(event, channel, since=since)


def test_public_channel_delivers_rest_data_verbatim(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    client = clients.connect("public-room")
    spaced_json = '{"text":  "héllo",   "n" : [1,2]}'
    not_json = "plain text, {not json"
    assert python_sdk.trigger(["public-room"], "spaced", spaced_json).ok
    assert python_sdk.trigger(["public-room"], "text", not_json).ok

    spaced = published(client, "public-room", "spaced")
    text = published(client, "public-room", "text")

    assert spaced.data == json.loads(spaced_json)
    assert text.data == not_json
    if client.kind == "pysher":  # pysher hands the wire string to the app: byte for byte
        assert spaced.raw == spaced_json


@pytest.mark.parametrize("channel", ["private-room", "presence-room"])
def test_authorised_channels_subscribe_and_receive_events(
    clients: ClientFactory, python_sdk: PythonSdk, channel: str
) -> None:
    client = clients.connect(channel, user=User("42", {"name": "Ada"}))
    assert python_sdk.trigger([channel], "news", '{"n":1}').ok
    assert published(client, channel, "news").data == {"n": 1}


def test_presence_subscription_lists_the_member_itself(clients: ClientFactory) -> None:
    client = clients.connect("presence-room", user=User("42", {"name": "Ada"}))
    succeeded = client.frames("pusher_internal:subscription_succeeded", "presence-room")[0]
    assert succeeded.data == {
        "presence": {"ids": ["42"], "hash": {"42": {"name": "Ada"}}, "count": 1}
    }
    if isinstance(client, PusherJsClient):
        members = client.members("presence-room")
        assert members["me"] == {"id": "42", "info": {"name": "Ada"}}
        assert members["count"] == 1


def decrypt(channel: str, payload: dict[str, str]) -> str:
    key = base64.b64decode(signing.encrypted_channel_shared_secret(channel, MASTER_KEY))
    box = nacl.secret.SecretBox(key)
    nonce, ciphertext = (base64.b64decode(payload[k]) for k in ("nonce", "ciphertext"))
    return box.decrypt(ciphertext, nonce).decode()


def test_encrypted_channel_relays_the_sdk_ciphertext_untouched(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    channel = "private-encrypted-room"
    client = clients.connect(channel)
    secret_message = {"text": "only the key holders read this"}
    assert python_sdk.trigger([channel], "secret", json.dumps(secret_message)).ok

    frame = published(client, channel, "secret")

    assert set(frame.data) == {"nonce", "ciphertext"}
    assert json.loads(decrypt(channel, frame.data)) == secret_message
    if isinstance(client, PusherJsClient):  # pusher-js decrypted it with the shared secret
        seen = client.js.wait_for_event(client.name, "secret", channel)
        assert seen["data"] == secret_message


def test_cache_channel_replays_the_last_event_to_a_new_subscriber(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    assert python_sdk.trigger(["cache-news"], "headline", '{"v":1}').ok
    assert python_sdk.trigger(["cache-news"], "headline", '{"v":2}').ok

    client = clients.connect("cache-news")

    replayed = published(client, "cache-news", "headline")
    assert replayed.data == {"v": 2}
    order = [f.event for f in client.frames(channel="cache-news")]
    assert order[:2] == ["pusher_internal:subscription_succeeded", "headline"]


def test_cache_channel_without_an_event_answers_cache_miss(clients: ClientFactory) -> None:
    client = clients.connect("cache-empty")
    client.wait_frame("pusher:cache_miss", "cache-empty")
    if isinstance(client, PusherJsClient):
        client.js.wait_for_event(client.name, "pusher:cache_miss", "cache-empty")


@pytest.mark.parametrize("forgery", ["signature", "key"])
def test_forged_subscription_auth_gets_a_subscription_error_and_the_socket_stays(
    clients: ClientFactory, backend: AppBackend, python_sdk: PythonSdk, forgery: str
) -> None:
    client = clients.connect()
    backend.forge("private-forged", forgery)

    outcome = client.subscribe("private-forged")

    assert not outcome.ok
    assert outcome.data["type"] == "AuthError"
    assert outcome.data["status"] == 401
    assert client.subscribe("private-fine").ok
    assert python_sdk.trigger(["private-forged"], "leak", "{}").ok
    assert python_sdk.trigger(["private-fine"], "after", "{}").ok
    client.wait_frame("after", "private-fine")
    assert not client.frames("leak")


@pytest.mark.parametrize(
    ("channel", "status"),
    [
        ("private-bad name!", 400),
        ("x" * 201, 4009),
        ("#reserved", 400),
        ("#server-to-user-someone", 403),
    ],
    ids=["bad-characters", "longer-than-200", "reserved-hash", "another-users-channel"],
)
def test_invalid_channel_names_get_a_subscription_error(
    clients: ClientFactory, channel: str, status: int
) -> None:
    client = clients.connect()
    since = client.mark()

    client.send_raw("pusher:subscribe", {"channel": channel, "auth": ""})

    error = client.wait_frame("pusher:subscription_error", channel, since=since)
    assert error.data["status"] == status
    assert client.is_connected()
    assert client.subscribe("public-after").ok


def test_subscribing_twice_is_idempotent(clients: ClientFactory, pusher_server: ServerInfo) -> None:
    client = clients.connect("presence-twice", user=User("7"))
    since = client.mark()
    client.send_raw(
        "pusher:subscribe",
        {
            "channel": "presence-twice",
            "auth": signing.channel_auth(
                pusher_server.key,
                pusher_server.secret,
                client.socket_id,
                "presence-twice",
                '{"user_id":"7"}',
            ),
            "channel_data": '{"user_id":"7"}',
        },
    )
    again = client.wait_frame(
        "pusher_internal:subscription_succeeded", "presence-twice", since=since
    )
    assert again.data["presence"]["count"] == 1
    assert not client.frames("pusher_internal:member_added")


@pytest.mark.parametrize("channel", ["private-cache-room", "presence-cache-room"])
def test_authorised_cache_channels_replay_the_last_event_too(
    clients: ClientFactory, python_sdk: PythonSdk, channel: str
) -> None:
    assert python_sdk.trigger([channel], "state", '{"v":7}').ok
    client = clients.connect(channel, user=User("1"))
    assert published(client, channel, "state").data == {"v": 7}


def test_client_events_are_not_cached(clients: ClientFactory) -> None:
    watcher = clients.connect("private-cache-chat")
    sender = clients.connect("private-cache-chat")
    sender.trigger("private-cache-chat", "client-typing", {"t": 1})
    watcher.wait_frame("client-typing", "private-cache-chat")  # the server has it
    late = clients.connect("private-cache-chat")
    late.wait_frame("pusher:cache_miss", "private-cache-chat")
    assert not late.frames("client-typing")


def test_subscription_counts_are_pushed_when_the_app_enables_them(
    clients_for: ClientsFor, pusher_server_factory: Callable[..., ServerInfo]
) -> None:
    clients = clients_for(pusher_server_factory(subscription_count_events=True))
    first = clients.connect("public-counted")
    clients.connect("public-counted")
    first.wait_frame(
        "pusher_internal:subscription_count",
        "public-counted",
        where=lambda f: f.data == {"subscription_count": 2},
    )
    if isinstance(first, PusherJsClient):
        first.js.wait_for_event(first.name, "pusher:subscription_count", "public-counted")
