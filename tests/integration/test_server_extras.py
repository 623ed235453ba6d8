"""Optional server features: seamless restart, CORS, subscription_count throttling, the
Origin allow-list, a path prefix, authorized connections and the REST rate limit."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from doubletick.protocol.signing import sign_rest_request
from doubletick.server import ServerConfig, ServerInfo, ServerThread
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


# --- REST requests by hand ----------------------------------------------------------------

ServerFactory = Callable[..., ServerInfo]


def signed_params(info: ServerInfo, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    """The query of a REST request signed over `path`, as the SDKs sign it."""
    params = {
        "auth_key": info.key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    params["auth_signature"] = sign_rest_request(info.secret, method, path, params)
    return params


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --- CORS ---------------------------------------------------------------------------------


async def test_the_rest_api_allows_any_origin_by_default(
    pusher_server: ServerInfo, http: aiohttp.ClientSession
) -> None:
    path = f"/apps/{pusher_server.app_id}/channels"
    preflight_headers = {
        "Origin": "http://page.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with http.options(pusher_server.http_url + path, headers=preflight_headers) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in answer.headers["Access-Control-Allow-Methods"]
        assert answer.headers["Access-Control-Allow-Headers"] == "content-type"
    params = signed_params(pusher_server, "GET", path)
    origin = {"Origin": "http://page.example"}
    async with http.get(pusher_server.http_url + path, params=params, headers=origin) as answer:
        assert answer.status == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
    async with http.get(pusher_server.http_url + path, headers=origin) as refused:
        assert refused.status == 401  # errors carry the header too, so a page can read them
        assert refused.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_cors_list_allows_only_its_origins(
    pusher_server_factory: ServerFactory, http: aiohttp.ClientSession
) -> None:
    info = pusher_server_factory(ServerConfig(cors_origins=("http://good.example",)))
    url = f"{info.http_url}/apps/{info.app_id}/events"
    preflight = {"Access-Control-Request-Method": "POST"}

    async with http.options(url, headers={**preflight, "Origin": "http://good.example"}) as ok:
        assert ok.status == 204
        assert ok.headers["Access-Control-Allow-Origin"] == "http://good.example"
        assert ok.headers["Vary"] == "Origin"
    async with http.options(url, headers={**preflight, "Origin": "http://evil.example"}) as no:
        assert no.status == 403
        assert "Access-Control-Allow-Origin" not in no.headers
    async with http.post(url, data=b"{}", headers={"Origin": "http://evil.example"}) as post:
        assert post.status == 401
        assert "Access-Control-Allow-Origin" not in post.headers


async def test_no_cors_headers_when_cors_is_off(
    pusher_server_factory: ServerFactory, http: aiohttp.ClientSession
) -> None:
    info = pusher_server_factory(ServerConfig(cors_origins=()))
    path = f"/apps/{info.app_id}/channels"
    params = signed_params(info, "GET", path)
    origin = {"Origin": "http://page.example"}
    async with http.get(info.http_url + path, params=params, headers=origin) as answer:
        assert answer.status == 200
        assert "Access-Control-Allow-Origin" not in answer.headers
