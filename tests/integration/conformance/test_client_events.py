"""Client events with every real client (PROTOCOL.md section 10)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import Client, ClientFactory, User, barrier
from tests.integration.conformance.conftest import ClientsFor, credentials
from tests.integration.conformance.sdks import PythonSdk


def rejected(client: Client, since: int) -> list[int | None]:
    return [f.code for f in client.frames("pusher:error")[since:]]


def test_client_event_reaches_other_subscribers_but_not_the_sender(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    sender = clients.connect("private-chat")
    receiver = clients.connect("private-chat")

    sender.trigger("private-chat", "client-typing", {"t": 1, "nested": {"ok": True}})

    relayed = receiver.wait_frame("client-typing", "private-chat")
    assert relayed.data == {"t": 1, "nested": {"ok": True}}
    assert relayed.user_id is None
    barrier(sender, python_sdk, "private-chat")
    assert not sender.frames("client-typing")


def test_presence_client_event_carries_the_senders_user_id(clients: ClientFactory) -> None:
    sender = clients.connect("presence-chat", user=User("alice"))
    receiver = clients.connect("presence-chat", user=User("bob"))

    sender.trigger("presence-chat", "client-hello", {"user_id": "forged"})

    relayed = receiver.wait_frame("client-hello", "presence-chat")
    assert relayed.user_id == "alice"
    assert relayed.data == {"user_id": "forged"}  # the payload is not touched


def test_client_events_over_ten_per_second_get_4301_and_the_connection_stays_open(
    clients_for: ClientsFor, pusher_server_factory: Callable[..., ServerInfo]
) -> None:
    server = pusher_server_factory()  # the default: 10 client events per second
    clients = clients_for(server)
    sender = clients.connect("private-burst")
    receiver = clients.connect("private-burst")

    for n in range(15):
        sender.trigger("private-burst", "client-n", {"n": n})

    error = sender.wait_frame("pusher:error", where=lambda f: f.code == 4301)
    assert error.data["message"]
    python_sdk = PythonSdk(credentials(server))
    barrier(receiver, python_sdk, "private-burst")
    barrier(sender, python_sdk, "private-burst")
    delivered = len(receiver.frames("client-n"))
    errors = len([f for f in sender.frames("pusher:error") if f.code == 4301])
    assert delivered + errors == 15
    assert 10 <= delivered < 15
    receiver.trigger("private-burst", "client-still-there", {})
    sender.wait_frame("client-still-there", "private-burst")
    assert sender.is_connected()


def test_client_event_over_the_payload_limit_is_rejected_with_4301(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    sender = clients.connect("private-big")
    receiver = clients.connect("private-big")

    sender.trigger("private-big", "client-big", {"blob": "x" * 10_300})
    sender.trigger("private-big", "client-small", {"blob": "x" * 9_000})

    sender.wait_frame("pusher:error", where=lambda f: f.code == 4301)
    receiver.wait_frame("client-small", "private-big")
    barrier(receiver, python_sdk, "private-big")
    assert not receiver.frames("client-big")


@pytest.mark.parametrize(
    ("channel", "subscribed"),
    [
        ("public-open", True),
        ("private-encrypted-secret", True),
        ("private-elsewhere", False),
    ],
    ids=["public-channel", "encrypted-channel", "not-subscribed"],
)
def test_client_event_where_not_allowed_is_rejected_with_4301_and_not_relayed(
    clients: ClientFactory, python_sdk: PythonSdk, channel: str, subscribed: bool
) -> None:
    sender = clients.connect(*([channel] if subscribed else []))
    receiver = clients.connect(channel, "public-sync")
    since = sender.mark()

    sender.send_raw("client-sneaky", {"n": 1}, channel)

    error = sender.wait_frame("pusher:error", since=since)
    assert error.code == 4301
    barrier(receiver, python_sdk, "public-sync")
    assert not receiver.frames("client-sneaky")
    assert sender.is_connected()
