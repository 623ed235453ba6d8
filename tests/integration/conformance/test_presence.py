"""Presence with every real client (PROTOCOL.md sections 6 and 8)."""

from __future__ import annotations

from collections.abc import Callable

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory, PusherJsClient, User, barrier
from tests.integration.conformance.conftest import ClientsFor
from tests.integration.conformance.sdks import PythonSdk

ROOM = "presence-room"


def test_a_users_second_connection_adds_no_member_and_only_the_last_to_leave_removes_it(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    alice = clients.connect(ROOM, user=User("alice", {"name": "Alice"}))
    bob_phone = clients.connect(ROOM, user=User("bob", {"name": "Bob"}))
    added = alice.wait_frame("pusher_internal:member_added", ROOM)
    assert added.data == {"user_id": "bob", "user_info": {"name": "Bob"}}

    bob_laptop = clients.connect(ROOM, user=User("bob", {"name": "Bob"}))
    presence = bob_laptop.wait_frame("pusher_internal:subscription_succeeded", ROOM).data
    assert sorted(presence["presence"]["ids"]) == ["alice", "bob"]
    assert presence["presence"]["count"] == 2
    assert presence["presence"]["hash"] == {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}
    barrier(alice, python_sdk, ROOM)
    barrier(bob_phone, python_sdk, ROOM)
    assert len(alice.frames("pusher_internal:member_added")) == 1
    assert not bob_phone.frames("pusher_internal:member_added")  # bob is not told about bob
    assert sorted(u["id"] for u in python_sdk.users(ROOM).body["users"]) == ["alice", "bob"]
    assert python_sdk.channel(ROOM, ["user_count"]).body["user_count"] == 2
    if isinstance(alice, PusherJsClient):
        assert alice.members(ROOM)["count"] == 2

    bob_phone.close()
    barrier(alice, python_sdk, ROOM)
    assert not alice.frames("pusher_internal:member_removed")

    bob_laptop.unsubscribe(ROOM)
    removed = alice.wait_frame("pusher_internal:member_removed", ROOM)
    assert removed.data == {"user_id": "bob"}
    assert python_sdk.channel(ROOM, ["user_count"]).body["user_count"] == 1


def test_a_numeric_user_id_is_the_same_member_as_its_string_form(
    clients: ClientFactory, python_sdk: PythonSdk
) -> None:
    watcher = clients.connect(ROOM, user=User("alice"))
    clients.connect(ROOM, user=User(10))  # channel_data says "user_id": 10, a number
    added = watcher.wait_frame("pusher_internal:member_added", ROOM)
    assert added.data["user_id"] == "10"

    clients.connect(ROOM, user=User("10"))

    barrier(watcher, python_sdk, ROOM)
    assert len(watcher.frames("pusher_internal:member_added")) == 1
    assert python_sdk.channel(ROOM, ["user_count"]).body["user_count"] == 2


def test_user_info_over_the_limit_is_refused_with_a_subscription_error(
    clients: ClientFactory,
) -> None:
    client = clients.new(User("big", {"bio": "x" * 1_100}))
    client.connect()
    outcome = client.subscribe(ROOM)
    assert not outcome.ok
    assert outcome.data["type"] == "LimitReached"
    assert client.subscribe("public-after").ok


def test_a_full_presence_channel_refuses_the_next_user(
    clients_for: ClientsFor, pusher_server_factory: Callable[..., ServerInfo]
) -> None:
    clients = clients_for(pusher_server_factory(max_presence_members=2))
    clients.connect(ROOM, user=User("1"))
    clients.connect(ROOM, user=User("2"))
    clients.connect(ROOM, user=User("2"))  # the same user again does not count twice

    late = clients.new(User("3"))
    late.connect()
    outcome = late.subscribe(ROOM)

    assert not outcome.ok
    assert outcome.data["type"] == "LimitReached"
