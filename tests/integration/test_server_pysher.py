"""pysher 1.0.8 (protocol 6, local signing with the secret) against the local server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pysher
import pytest

from doubletick.server import ServerInfo
from tests.integration.server_support import sdk
from tests.waiting import wait_until

CHANNELS = ("news", "private-room", "presence-chat")


class PysherClient:
    """A pysher connection that subscribes to CHANNELS on every connect and records events."""

    def __init__(self, info: ServerInfo, user_id: str) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.subscribed: set[str] = set()
        self._lock = threading.Lock()
        self.pusher = pysher.Pusher(
            info.key,
            custom_host=info.host,
            port=info.port,
            secure=False,
            secret=info.secret,
            user_data={"user_id": user_id},
            log_level=logging.WARNING,
        )
        self.pusher.connection.socket_kwargs["ping_timeout"] = 0.5  # CLIENTS.md bug 1
        self.pusher.connection.bind("pusher:connection_established", self._connected)
        self.channels: dict[str, Any] = {}

    def _connected(self, _data: Any) -> None:
        for name in CHANNELS:
            channel = self.pusher.subscribe(name)
            self.channels[name] = channel
            channel.bind("pusher_internal:subscription_succeeded", self._recorder(name, "ok"))
            for event in ("client-hello", "update"):
                channel.bind(event, self._recorder(name, event))

    def _recorder(self, channel: str, event: str) -> Any:
        def record(data: Any = None) -> None:
            with self._lock:
                if event == "ok":
                    self.subscribed.add(channel)
                else:
                    self.events.append((channel, event, data))

        return record

    def received(self, event: str) -> list[Any]:
        with self._lock:
            return [data for _channel, name, data in self.events if name == event]


@pytest.fixture
def pysher_pair(pusher_server: ServerInfo) -> Iterator[tuple[PysherClient, PysherClient]]:
    clients = (PysherClient(pusher_server, "a"), PysherClient(pusher_server, "b"))
    for client in clients:
        client.pusher.connect()
    for client in clients:
        wait_until(lambda c=client: c.subscribed == set(CHANNELS), what="pysher subscriptions")
    yield clients
    for client in clients:
        client.pusher.disconnect()


def test_pysher_receives_an_sdk_event_as_the_published_string(
    pusher_server: ServerInfo, pysher_pair: tuple[PysherClient, PysherClient]
) -> None:
    sdk(pusher_server).trigger(list(CHANNELS), "update", {"n": 1})
    for client in pysher_pair:
        wait_until(lambda c=client: len(c.received("update")) == 3, what="three updates")
        assert client.received("update") == ['{"n": 1}'] * 3


@pytest.mark.parametrize("channel", ["private-room", "presence-chat"])
def test_a_pysher_client_event_reaches_the_other_client_but_not_the_sender(
    pusher_server: ServerInfo, pysher_pair: tuple[PysherClient, PysherClient], channel: str
) -> None:
    sender, receiver = pysher_pair
    sender.channels[channel].trigger("client-hello", {"x": 1})
    wait_until(lambda: receiver.received("client-hello"), what="the relayed client event")
    assert receiver.received("client-hello") == [{"x": 1}]
    sdk(pusher_server).trigger(channel, "update", json.dumps("marker"))
    wait_until(lambda: sender.received("update"), what="the marker after any echo")
    assert sender.received("client-hello") == []
