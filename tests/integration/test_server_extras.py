"""Optional server features: seamless restart, CORS, subscription_count throttling, the
Origin allow-list, a path prefix, authorized connections and the REST rate limit."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from doubletick.server import ServerConfig, ServerThread
from tests.integration.server_support import ClientFactory, sdk, ws_client
from tests.nodeclients import PusherJsDriver, Report

__all__ = ["ws_client"]


# --- seamless restart ---------------------------------------------------------------------


@pytest.fixture
def restartable() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as server:
        yield server


def states_since(js: PusherJsDriver, client: str, since: int) -> list[str]:
    reports: list[Report] = js.reports[since:]
    return [r["current"] for r in reports if r["type"] == "state" and r["client"] == client]


@pytest.mark.node
def test_pusher_js_reconnects_at_once_after_every_restart(restartable: ServerThread) -> None:
    with PusherJsDriver() as js:
        socket_ids = {js.connect("a", key=restartable.info.key, port=restartable.info.port)}
        js.subscribe("a", "news")
        for _ in range(10):
            since = js.mark()

            restartable.restart()

            connected = js.wait_for_state("a", "connected", since=since)
            js.wait_for_event("a", "pusher:subscription_succeeded", "news", since=since)
            # no "unavailable": the retry found a listener, not pusher-js's 15 s fallback
            assert states_since(js, "a", since)[:2] == ["connecting", "connected"]
            socket_ids.add(connected["socket_id"])
        assert len(socket_ids) == 11


async def test_a_restart_starts_with_empty_state(
    restartable: ServerThread, ws_client: ClientFactory
) -> None:
    before = await ws_client(restartable.info)
    await before.subscribe("cache-news")
    await before.expect("pusher:cache_miss")
    sdk(restartable.info).trigger("cache-news", "update", "cached")
    await before.expect("update")

    await asyncio.to_thread(restartable.restart)

    assert (await before.expect("pusher:error"))["data"]["code"] == 4200
    assert await before.expect_close() == 4200
    after = await ws_client(restartable.info)
    assert after.socket_id.split(".")[0] != before.socket_id.split(".")[0]
    await after.subscribe("cache-news")
    await after.expect("pusher:cache_miss")  # the old server's cached event is gone


def test_a_second_server_cannot_take_a_port_in_use(restartable: ServerThread) -> None:
    with pytest.raises(OSError) as refused:
        ServerThread(port=restartable.info.port).start()
    assert refused.value.errno is not None
    with socket.socket() as probe:  # the first server still has the port to itself
        probe.connect((restartable.info.host, restartable.info.port))
