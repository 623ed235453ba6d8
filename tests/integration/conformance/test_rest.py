"""Every REST endpoint and its errors with both server SDKs (PROTOCOL.md section 12).

pysher clients are the subscribers here: the SDK is what is under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory, User, barrier
from tests.integration.conformance.conftest import SdkFor, credentials
from tests.integration.conformance.http_side import AppBackend
from tests.integration.conformance.sdks import NodeSdk, PythonSdk, Sdk


@pytest.fixture
def subscribers(backend: AppBackend, pusher_server: ServerInfo) -> Iterator[ClientFactory]:
    clients = ClientFactory(
        "pysher", pusher_server.host, pusher_server.port, pusher_server.key, backend
    )
    yield clients
    clients.close_all()


def test_events_reach_every_listed_channel_except_the_excluded_socket(
    sdk: Sdk, subscribers: ClientFactory, python_sdk: PythonSdk
) -> None:
    excluded = subscribers.connect("public-a", "public-b")
    included = subscribers.connect("public-a", "public-b")

    answer = sdk.trigger(["public-a", "public-b"], "news", '{"n":1}', excluded.socket_id)

    assert answer.ok
    assert answer.body == {}
    for channel in ("public-a", "public-b"):
        assert included.wait_frame("news", channel).raw == '{"n":1}'
        barrier(excluded, python_sdk, channel)
    assert not excluded.frames("news")


@pytest.mark.node
def test_events_with_info_answer_the_channels_counts(
    pusher_server: ServerInfo, subscribers: ClientFactory
) -> None:
    subscribers.connect("presence-info", user=User("1"))
    subscribers.connect("presence-info", user=User("1"))
    node = NodeSdk(credentials(pusher_server))

    answer = node.trigger(["presence-info"], "news", "{}", info="user_count,subscription_count")

    assert answer.ok
    assert answer.body == {
        "channels": {"presence-info": {"user_count": 1, "subscription_count": 2}}
    }


def test_batch_events_deliver_each_item_and_info_answers_index_aligned(
    sdk: Sdk, subscribers: ClientFactory
) -> None:
    client = subscribers.connect("public-x", "presence-y", user=User("u"))
    batch = [
        {"channel": "public-x", "name": "one", "data": '{"i":1}'},
        {"channel": "presence-y", "name": "two", "data": '{"i":2}', "info": "user_count"},
    ]

    answer = sdk.trigger_batch(batch)

    assert answer.ok
    assert answer.body == {"batch": [{}, {"user_count": 1}]}
    assert client.wait_frame("one", "public-x").raw == '{"i":1}'
    assert client.wait_frame("two", "presence-y").raw == '{"i":2}'


def test_channels_lists_occupied_channels_by_prefix_with_user_counts(
    sdk: Sdk, subscribers: ClientFactory
) -> None:
    subscribers.connect("public-lobby", "presence-a", user=User("1"))
    subscribers.connect("presence-a", "presence-b", user=User("2"))

    everything = sdk.channels()
    presence = sdk.channels("presence-", ["user_count"])

    assert everything.ok and presence.ok
    assert set(everything.body["channels"]) == {"public-lobby", "presence-a", "presence-b"}
    assert presence.body == {
        "channels": {"presence-a": {"user_count": 2}, "presence-b": {"user_count": 1}}
    }
    assert sdk.channels("private-").body == {"channels": {}}


def test_channel_reports_occupied_counts_and_cache(
    sdk: Sdk, subscribers: ClientFactory, python_sdk: PythonSdk
) -> None:
    subscribers.connect("presence-room", user=User("1"))
    subscribers.connect("presence-room", user=User("1"))
    subscribers.connect("cache-room")
    assert python_sdk.trigger(["cache-room"], "last", '{"v":3}').ok

    presence = sdk.channel("presence-room", ["user_count", "subscription_count"])
    cache = sdk.channel("cache-room", ["subscription_count", "cache"])
    empty = sdk.channel("public-nobody")

    assert presence.body == {"occupied": True, "user_count": 1, "subscription_count": 2}
    assert cache.body["occupied"] is True
    assert cache.body["subscription_count"] == 1
    assert cache.body["cache"]["data"] == '{"v":3}'
    assert 0 < cache.body["cache"]["ttl"] <= 1800
    assert empty.ok and empty.body["occupied"] is False


def test_users_lists_distinct_presence_members(sdk: Sdk, subscribers: ClientFactory) -> None:
    for user_id in ("1", "2", "2"):
        subscribers.connect("presence-users", user=User(user_id))

    answer = sdk.users("presence-users")

    assert answer.ok
    assert sorted(answer.body["users"], key=lambda u: u["id"]) == [{"id": "1"}, {"id": "2"}]


@pytest.mark.parametrize(
    "request_",
    [
        lambda sdk: sdk.channels(info=["user_count"]),
        lambda sdk: sdk.channel("public-x", ["user_count"]),
        lambda sdk: sdk.users("public-x"),
        lambda sdk: sdk.trigger_batch([{"channel": "public-x", "name": "e", "data": "{}"}] * 11),
    ],
    ids=[
        "user-count-without-presence-prefix",
        "user-count-of-public",
        "users-of-public",
        "batch-of-11",
    ],
)
def test_bad_requests_get_400(sdk: Sdk, request_: Callable[[Sdk], object]) -> None:
    answer = request_(sdk)
    assert answer.status == 400, answer  # type: ignore[attr-defined]


def test_data_over_10_kb_gets_413(sdk: Sdk) -> None:
    answer = sdk.trigger(["public-x"], "big", json.dumps("x" * 10_300))
    assert answer.status == 413, answer


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"secret": "not-the-secret"}, 401),
        ({"key": "another-key"}, 401),
        ({"app_id": "999"}, 404),
    ],
    ids=["forged-signature", "wrong-key", "wrong-app-id"],
)
def test_requests_with_bad_credentials_are_refused(
    sdk_for: SdkFor, pusher_server: ServerInfo, changes: dict[str, str], status: int
) -> None:
    sdk = sdk_for(pusher_server, **changes)
    assert sdk.trigger(["public-x"], "e", "{}").status == status
    assert sdk.channels().status == status


def test_a_disabled_app_gets_403(
    sdk_for: SdkFor, pusher_server_factory: Callable[..., ServerInfo]
) -> None:
    sdk = sdk_for(pusher_server_factory(enabled=False))
    assert sdk.trigger(["public-x"], "e", "{}").status == 403
