"""Sign-in, server-to-user events and terminate_connections (PROTOCOL.md sections 9, 11).

pusher-js is the client (pysher has no sign-in); both server SDKs publish and terminate.
The Python SDK posts terminate_connections to `/users/{id}/...` without the `/apps/{id}`
prefix, the Node SDK with it: parametrising the SDK covers both paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory, PusherJsClient, User, barrier
from tests.integration.conformance.http_side import AppBackend
from tests.integration.conformance.sdks import PythonSdk, Sdk
from tests.nodeclients import PusherJsDriver

pytestmark = pytest.mark.node


@pytest.fixture
def js_clients(
    js_driver: PusherJsDriver, backend: AppBackend, pusher_server: ServerInfo
) -> Iterator[ClientFactory]:
    clients = ClientFactory(
        "pusher-js", pusher_server.host, pusher_server.port, pusher_server.key, backend, js_driver
    )
    yield clients
    clients.close_all()


def signed_in(clients: ClientFactory, user_id: str, *channels: str) -> PusherJsClient:
    client = clients.connect(*channels, user=User(user_id, {"name": user_id}))
    assert isinstance(client, PusherJsClient)
    success = client.signin()
    assert json.loads(success["data"]["user_data"])["id"] == user_id
    return client


def test_signin_is_answered_with_the_exact_user_data(js_clients: ClientFactory) -> None:
    client = signed_in(js_clients, "ada")
    assert client.js.send("user", client=client.name) == {"id": "ada", "user_info": {"name": "ada"}}


def test_send_to_user_reaches_every_connection_of_that_user_only(
    js_clients: ClientFactory, sdk: Sdk, python_sdk: PythonSdk
) -> None:
    phone = signed_in(js_clients, "ada", "public-sync")
    laptop = signed_in(js_clients, "ada")
    other = signed_in(js_clients, "bob", "public-sync")
    since = phone.mark()

    assert sdk.send_to_user("ada", "note", '{"text":"hi"}').ok

    for client in (phone, laptop):
        seen = client.js.wait_for(
            {"type": "event", "client": client.name, "event": "note", "source": "user"},
            since=since,
        )
        assert seen["data"] == {"text": "hi"}
    barrier(other, python_sdk, "public-sync")
    assert not other.events("note")


def test_only_the_signed_in_user_may_subscribe_to_their_server_to_user_channel(
    js_clients: ClientFactory,
) -> None:
    ada = signed_in(js_clients, "ada")
    since = ada.mark()
    ada.send_raw("pusher:subscribe", {"channel": "#server-to-user-bob", "auth": ""})
    error = ada.wait_frame("pusher:subscription_error", "#server-to-user-bob", since=since)
    assert error.data["status"] == 403


def test_terminate_connections_closes_the_users_sockets_with_4009_and_they_stay_closed(
    js_clients: ClientFactory, sdk: Sdk, python_sdk: PythonSdk
) -> None:
    phone = signed_in(js_clients, "ada")
    laptop = signed_in(js_clients, "ada")
    other = signed_in(js_clients, "bob", "public-sync")

    assert sdk.terminate("ada").ok

    for client in (phone, laptop):
        client.wait_frame("pusher:error", where=lambda f: f.code == 4009)
        client.wait_gone()  # "disconnected": pusher-js refuses to reconnect after 40xx
        assert client.state() == "disconnected"
    barrier(other, python_sdk, "public-sync")
    assert other.is_connected()
