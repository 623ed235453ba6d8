"""pysher and pusher-js on one server: each sees the other as the protocol says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory, PusherJsClient, User
from tests.integration.conformance.http_side import AppBackend
from tests.nodeclients import PusherJsDriver

pytestmark = pytest.mark.node


@pytest.fixture
def both(
    js_driver: PusherJsDriver, backend: AppBackend, pusher_server: ServerInfo
) -> Iterator[tuple[ClientFactory, ClientFactory]]:
    server = pusher_server
    pysher = ClientFactory("pysher", server.host, server.port, server.key, backend)
    js = ClientFactory("pusher-js", server.host, server.port, server.key, backend, js_driver)
    yield pysher, js
    pysher.close_all()
    js.close_all()


def test_pysher_and_pusher_js_share_a_presence_channel_and_its_client_events(
    both: tuple[ClientFactory, ClientFactory],
) -> None:
    pysher_clients, js_clients = both
    snake = pysher_clients.connect("presence-mixed", user=User("snake", {"lang": "py"}))
    node = js_clients.connect("presence-mixed", user=User("node", {"lang": "js"}))
    assert isinstance(node, PusherJsClient)

    added = snake.wait_frame("pusher_internal:member_added", "presence-mixed")
    assert added.data == {"user_id": "node", "user_info": {"lang": "js"}}
    members = node.members("presence-mixed")
    assert sorted(m["id"] for m in members["members"]) == ["node", "snake"]

    snake.trigger("presence-mixed", "client-hi", {"from": "pysher"})
    seen = node.js.wait_for_event(node.name, "client-hi", "presence-mixed")
    assert seen["data"] == {"from": "pysher"}
    assert seen["user_id"] == "snake"

    node.trigger("presence-mixed", "client-hi", {"from": "pusher-js"})
    back = snake.wait_frame("client-hi", "presence-mixed")
    assert back.data == {"from": "pusher-js"}
    assert back.user_id == "node"
