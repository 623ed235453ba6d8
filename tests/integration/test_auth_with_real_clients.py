"""The auth server signs for the real clients, unmodified, through the real local server:
raw pysher 1.0.8 (whose presence `channel_data` is its own `json.dumps(user_data)`) and
pusher-js 8 (which sends the server's `channel_data`)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pysher
import pytest

from auth_server import AuthConfig, AuthServerThread, hash_password
from doubletick.server import ServerThread
from tests.nodeclients import PusherJsDriver
from tests.waiting import wait_until

PASSWORD = "s3cret"
DISPLAY = {"alice": "Alice Liddell", "bob": 'Bob "the builder" Ø'}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as thread:
        yield thread


@pytest.fixture(scope="module")
def auth(server: ServerThread) -> Iterator[AuthServerThread]:
    config = AuthConfig.from_pusher_url(
        server.info.pusher_url,
        users=dict.fromkeys(DISPLAY, hash_password(PASSWORD, n=16)),
        display_names=DISPLAY,
    )
    with AuthServerThread(config) as thread:
        yield thread


class RawPysher:
    """pysher as its users write it, plus CLIENTS.md's fast-disconnect setting."""

    def __init__(self, server: ServerThread, auth: AuthServerThread, user: str) -> None:
        login = auth.login(user, PASSWORD)
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.client = pysher.Pusher(
            server.info.key,
            secure=False,
            port=server.info.port,
            custom_host="127.0.0.1",
            auth_endpoint=auth.auth_endpoint,
            auth_endpoint_headers=login.headers,
            user_data=login.user_data,
            log_level=logging.WARNING,
        )
        self.client.connection.socket_kwargs["ping_timeout"] = 0.5
        self.channels: list[str] = []
        self.client.connection.bind("pusher:connection_established", self._subscribe)

    def _subscribe(self, _data: object) -> None:  # on pysher's thread: never raise
        try:
            for name in self.channels:
                channel = self.client.subscribe(name)
                for event in (
                    "pusher_internal:subscription_succeeded",
                    "pusher:subscription_error",
                ):
                    channel.bind(event, lambda data, event=event: self._record(event, data))
        except Exception as exc:
            self._record("exception", repr(exc))

    def _record(self, event: str, data: Any) -> None:
        with self.lock:
            self.events.append((event, data))

    def seen(self, event: str) -> list[Any]:
        with self.lock:
            return [data for name, data in self.events if name == event]

    def connect(self, *channels: str) -> None:
        self.channels = list(channels)
        self.client.connect()

    def close(self) -> None:
        self.client.disconnect(timeout=5)


def test_raw_pysher_joins_private_and_presence_dm_channels_through_the_auth_server(
    server: ServerThread, auth: AuthServerThread
) -> None:
    bob = RawPysher(server, auth, "bob")
    try:
        bob.connect("private-dm-alice-bob", "presence-dm-alice-bob")
        wait_until(lambda: len(bob.seen("pusher_internal:subscription_succeeded")) == 2)
        assert not bob.seen("pusher:subscription_error") and not bob.seen("exception")
        presence = json.loads(bob.seen("pusher_internal:subscription_succeeded")[1])["presence"]
        assert presence["hash"]["bob"] == {"name": DISPLAY["bob"]}
    finally:
        bob.close()


def test_raw_pysher_is_refused_a_channel_it_does_not_belong_to(
    server: ServerThread, auth: AuthServerThread
) -> None:
    bob = RawPysher(server, auth, "bob")
    try:
        bob.connect("private-dm-alice-carol")
        # pysher asserts on the 403 inside its callback: our handler records it
        wait_until(lambda: bob.seen("exception"), what="the refusal")
        assert "Failed to get auth token" in bob.seen("exception")[0]
    finally:
        bob.close()


@pytest.mark.node
def test_pusher_js_and_pysher_meet_on_a_presence_dm_with_the_servers_user_info(
    server: ServerThread, auth: AuthServerThread
) -> None:
    bob = RawPysher(server, auth, "bob")
    login = auth.login("alice", PASSWORD)
    with PusherJsDriver() as js:
        try:
            bob.connect("presence-dm-alice-bob")
            wait_until(lambda: bob.seen("pusher_internal:subscription_succeeded"))
            js.connect(
                "alice",
                key=server.info.key,
                port=server.info.port,
                channelAuthorization={"endpoint": auth.auth_endpoint, "headers": login.headers},
            )
            report = js.subscribe("alice", "presence-dm-alice-bob")
            assert report["event"] == "pusher:subscription_succeeded"
            members = js.send("members", client="alice", channel="presence-dm-alice-bob")
            by_id = {m["id"]: m["info"] for m in members["members"]}
            assert by_id == {"alice": {"name": DISPLAY["alice"]}, "bob": {"name": DISPLAY["bob"]}}
            assert members["me"]["id"] == "alice"
        finally:
            bob.close()
