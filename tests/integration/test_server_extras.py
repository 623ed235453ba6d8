"""Optional server features: seamless restart, CORS, subscription_count throttling, the
Origin allow-list, a path prefix, authorized connections and the REST rate limit."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from doubletick.protocol.signing import sign_rest_request
from doubletick.server import (
    AppConfig,
    ConfigError,
    ServerConfig,
    ServerInfo,
    ServerThread,
    load_config,
)
from doubletick.server.cli import add_arguments, build_config
from doubletick.server.ratelimit import RateDecision, RateLimiter
from tests.integration.server_support import (
    PUSHER_JS_QUERY,
    ClientFactory,
    WsClient,
    sdk,
    ws_client,
)
from tests.integration.test_server_webhooks import Receiver, receiver
from tests.nodeclients import PusherJsDriver, Report
from tests.waiting import async_wait_until

__all__ = ["receiver", "ws_client"]


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


# --- subscription_count webhook throttling ------------------------------------------------


def counts(receiver: Receiver) -> list[int]:
    return [e["subscription_count"] for e in receiver.accepted if e["name"] == "subscription_count"]


async def subscribed_clients(
    number: int,
    ws_client: ClientFactory,
    pusher_server_factory: ServerFactory,
    receiver: Receiver,
    *,
    threshold: int,
    interval: float,
) -> list[WsClient]:
    """`number` clients subscribed to `news`, one by one, on a server counting subscribers."""
    info = pusher_server_factory(
        webhook_urls=(receiver.url,),
        subscription_count_events=True,
        subscription_count_webhook_threshold=threshold,
        subscription_count_webhook_interval=interval,
    )
    clients = [await ws_client(info) for _ in range(number)]
    for client in clients:
        await client.subscribe("news")
    return clients  # kept: a dropped client's socket closes


async def test_a_busy_channels_subscription_counts_are_throttled(
    pusher_server_factory: ServerFactory, ws_client: ClientFactory, receiver: Receiver
) -> None:
    clients = await subscribed_clients(
        5, ws_client, pusher_server_factory, receiver, threshold=2, interval=60
    )
    await async_wait_until(lambda: 3 in counts(receiver), what="the first busy count")

    for client in clients[2:]:  # 5 -> 4 -> 3 -> 2
        await client.send("pusher:unsubscribe", {"channel": "news"})

    # 4, 5, 4 and 3 came within the interval; 2 is not busy and goes out at once
    await async_wait_until(lambda: counts(receiver).count(2) == 2, what="count 2 again")
    assert sorted(counts(receiver)) == [1, 2, 2, 3]


async def test_the_end_of_a_throttle_interval_sends_the_latest_count(
    pusher_server_factory: ServerFactory, ws_client: ClientFactory, receiver: Receiver
) -> None:
    clients = await subscribed_clients(
        4, ws_client, pusher_server_factory, receiver, threshold=1, interval=0.5
    )

    await async_wait_until(lambda: 4 in counts(receiver), what="the latest count")
    assert counts(receiver)[:2] == [1, 2]  # the first busy count is not held back
    assert set(counts(receiver)) <= {1, 2, 3, 4}
    seen = [await clients[0].expect("pusher_internal:subscription_count") for _ in range(4)]
    assert [json.loads(f["data"])["subscription_count"] for f in seen] == [1, 2, 3, 4]


# --- the Origin allow-list ----------------------------------------------------------------


async def open_with_origin(
    http: aiohttp.ClientSession, info: ServerInfo, origin: str | None
) -> aiohttp.ClientWebSocketResponse:
    headers = {} if origin is None else {"Origin": origin}
    return await http.ws_connect(f"{info.ws_url}?{PUSHER_JS_QUERY}", headers=headers)


async def first_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    return frame


@pytest.mark.parametrize("origin", ["http://evil.example", "http://good.example:8080", None])
async def test_a_websocket_from_an_origin_not_allowed_is_refused_with_4009(
    pusher_server_factory: ServerFactory, http: aiohttp.ClientSession, origin: str | None
) -> None:
    info = pusher_server_factory(allowed_origins=("http://good.example",))
    ws = await open_with_origin(http, info, origin)

    error = await first_frame(ws)

    assert error["event"] == "pusher:error"
    assert error["data"] == {"code": 4009, "message": "Origin not allowed"}
    closing = await ws.receive(timeout=5)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4009)


@pytest.mark.parametrize(
    ("allowed", "origin"),
    [
        (("http://good.example",), "http://good.example"),
        (("HTTP://Good.Example",), "http://good.example"),
        (("localhost",), "http://localhost:5006"),
        (("*.example.com",), "https://app.example.com"),
        (("https://*.example.com",), "https://app.example.com"),
        (("*",), None),
    ],
)
async def test_a_websocket_from_an_allowed_origin_connects(
    pusher_server_factory: ServerFactory,
    http: aiohttp.ClientSession,
    allowed: tuple[str, ...],
    origin: str | None,
) -> None:
    info = pusher_server_factory(allowed_origins=allowed)
    ws = await open_with_origin(http, info, origin)
    assert (await first_frame(ws))["event"] == "pusher:connection_established"


def test_an_origin_pattern_with_a_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="allowed_origins"):
        AppConfig(allowed_origins=("https://app.example.com/page",))
    with pytest.raises(ConfigError, match="cors_origins"):
        ServerConfig(cors_origins=("app.example.com",))


# --- a path prefix ------------------------------------------------------------------------


@pytest.fixture
def prefixed(pusher_server_factory: ServerFactory) -> ServerInfo:
    return pusher_server_factory(ServerConfig(path_prefix="/pusher"))


async def post_event(
    http: aiohttp.ClientSession, info: ServerInfo, *, signed_path: str, channel: str = "news"
) -> int:
    """POST one event to `{prefix}/apps/ID/events`, signed over `signed_path`."""
    body = json.dumps({"name": "update", "channel": channel, "data": "x"}).encode()
    params = signed_params(info, "POST", signed_path, body)
    url = f"{info.http_url}{info.path_prefix}/apps/{info.app_id}/events"
    async with http.post(url, params=params, data=body) as answer:
        return answer.status


async def test_a_prefixed_server_serves_websockets_and_rest_under_the_prefix(
    prefixed: ServerInfo, ws_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    assert prefixed.ws_url.endswith("/pusher/app/app-key")
    assert prefixed.pusher_url.endswith("/pusher/apps/1")
    client = await ws_client(prefixed)
    await client.subscribe("news")

    status = await post_event(http, prefixed, signed_path=f"/apps/{prefixed.app_id}/events")

    assert status == 200
    assert (await client.expect("update"))["data"] == "x"


async def test_a_prefixed_server_checks_signatures_over_the_path_without_the_prefix(
    prefixed: ServerInfo, http: aiohttp.ClientSession
) -> None:
    full_path = f"/pusher/apps/{prefixed.app_id}/events"
    assert await post_event(http, prefixed, signed_path=full_path) == 401


async def test_a_prefixed_server_serves_nothing_outside_the_prefix_but_health(
    prefixed: ServerInfo, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{prefixed.http_url}/app/{prefixed.key}?{PUSHER_JS_QUERY}")
    assert refused.value.status == 404
    unprefixed = dataclasses.replace(prefixed, path_prefix="")
    assert await post_event(http, unprefixed, signed_path=f"/apps/{prefixed.app_id}/events") == 404
    for path in ("/health", "/pusher/health"):
        async with http.get(prefixed.http_url + path) as health:
            assert health.status == 200


@pytest.mark.node
def test_pusher_js_connects_with_its_ws_path_option(prefixed: ServerInfo) -> None:
    with PusherJsDriver() as js:
        js.connect("a", key=prefixed.key, port=prefixed.port, wsPath="/pusher")
        subscribed = js.subscribe("a", "news")
        assert subscribed["event"] == "pusher:subscription_succeeded"


@pytest.mark.parametrize("prefix", ["pusher", "/pusher/", "/pu sher", "/"])
def test_a_malformed_path_prefix_is_a_config_error(prefix: str) -> None:
    with pytest.raises(ConfigError, match="path_prefix"):
        ServerConfig(path_prefix=prefix)


# --- authorized connections ---------------------------------------------------------------


async def test_a_socket_that_neither_signs_in_nor_authorizes_is_closed_with_4009(
    pusher_server_factory: ServerFactory, ws_client: ClientFactory
) -> None:
    info = pusher_server_factory(user_authentication_timeout=1.0)
    signed_in = await ws_client(info)
    await signed_in.sign_in('{"id":"alice"}')
    authorized = await ws_client(info)
    await authorized.subscribe("private-room")
    anonymous = await ws_client(info)
    await anonymous.subscribe("news")

    error = await anonymous.expect("pusher:error")

    assert error["data"] == {"code": 4009, "message": "Connection not authorized within timeout."}
    assert await anonymous.expect_close() == 4009
    for client in (signed_in, authorized):  # older than the anonymous one, and still here
        await client.assert_nothing_pending()


# --- REST rate limits ---------------------------------------------------------------------


def test_a_rate_window_admits_its_limit_then_refuses_until_it_ends() -> None:
    limiter = RateLimiter(3)
    assert limiter.consume(2, now=10.0) == RateDecision(True, 3, 1, 1)
    assert limiter.consume(2, now=10.5) == RateDecision(False, 3, 1, 1)  # nothing consumed
    assert limiter.consume(1, now=10.9) == RateDecision(True, 3, 0, 1)
    assert limiter.consume(1, now=11.0) == RateDecision(True, 3, 2, 1)  # a new window
    assert RateDecision(False, 3, 0, 1).headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "Retry-After": "1",
    }


async def rest_call(
    http: aiohttp.ClientSession, info: ServerInfo, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str]]:
    """One signed REST request: its status and headers."""
    params = signed_params(info, method, path, body)
    async with http.request(method, info.http_url + path, params=params, data=body) as answer:
        await answer.read()
        return answer.status, dict(answer.headers)


async def test_backend_events_over_the_limit_get_429_with_rate_limit_headers(
    pusher_server_factory: ServerFactory, http: aiohttp.ClientSession
) -> None:
    info = pusher_server_factory(max_backend_events_per_second=2)
    events_path, batch_path = f"/apps/{info.app_id}/events", f"/apps/{info.app_id}/batch_events"
    three = json.dumps({"name": "e", "channels": ["a", "b", "c"], "data": "x"}).encode()
    batch = json.dumps({"batch": [{"name": "e", "channel": "a", "data": "x"}] * 2}).encode()

    status, headers = await rest_call(http, info, "POST", events_path, three)  # 3 channels > 2
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Limit"] == "2"

    status, headers = await rest_call(http, info, "POST", batch_path, batch)  # 2 events
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "0")
    assert "Retry-After" not in headers


async def test_read_requests_over_the_limit_get_429(
    pusher_server_factory: ServerFactory, http: aiohttp.ClientSession
) -> None:
    info = pusher_server_factory(max_read_requests_per_second=3)
    path = f"/apps/{info.app_id}/channels"

    answers = await asyncio.gather(*(rest_call(http, info, "GET", path) for _ in range(20)))

    statuses = [status for status, _headers in answers]
    assert statuses.count(200) >= 3 and 429 in statuses
    refused = next(headers for status, headers in answers if status == 429)
    assert refused["X-RateLimit-Limit"] == "3"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert int(refused["Retry-After"]) >= 1


async def test_without_rate_limits_there_are_no_rate_limit_headers(
    pusher_server: ServerInfo, http: aiohttp.ClientSession
) -> None:
    status, headers = await rest_call(http, pusher_server, "GET", "/apps/1/channels")
    assert status == 200
    assert "X-RateLimit-Limit" not in headers


# --- the command line and the config file -------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_the_command_line_sets_the_new_options() -> None:
    config = build_config(
        parse(
            "--cors-origin=http://a.example",
            "--cors-origin=http://b.example",
            "--allowed-origin=localhost",
            "--path-prefix=/pusher",
            "--user-authentication-timeout=30",
        )
    )
    assert config.cors_origins == ("http://a.example", "http://b.example")
    assert config.path_prefix == "/pusher"
    assert config.apps[0].allowed_origins == ("localhost",)
    assert config.apps[0].user_authentication_timeout == 30.0
    with pytest.raises(ConfigError, match="command line: path_prefix"):
        build_config(parse("--path-prefix=pusher/"))


def test_a_config_file_sets_the_new_options(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text(
        '[server]\ncors_origins = []\npath_prefix = "/pusher"\n\n'
        '[[apps]]\nallowed_origins = ["https://app.example.com"]\n'
        "user_authentication_timeout = 30\nsubscription_count_webhook_threshold = 10\n"
        "subscription_count_webhook_interval = 1\nmax_backend_events_per_second = 100\n"
        "max_read_requests_per_second = 50\n"
    )
    config = load_config(path)
    assert (config.cors_origins, config.path_prefix) == ((), "/pusher")
    app = config.apps[0]
    assert app.allowed_origins == ("https://app.example.com",)
    assert (app.user_authentication_timeout, app.subscription_count_webhook_interval) == (30, 1)
    assert app.subscription_count_webhook_threshold == 10
    assert (app.max_backend_events_per_second, app.max_read_requests_per_second) == (100, 50)


async def test_the_cli_serves_under_its_prefix_for_allowed_origins(
    http: aiohttp.ClientSession,
) -> None:
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "doubletick.server", "--port", "0", "--path-prefix", "/pusher"],
        *["--allowed-origin", "http://good.example", "--cors-origin", "http://page.example"],
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.search(r"(ws://\S+/pusher/app/app-key) PUSHER_URL=(\S+/pusher/apps/1)\n", line)
        assert match, line
        ws = await http.ws_connect(
            f"{match.group(1)}?{PUSHER_JS_QUERY}", headers={"Origin": "http://good.example"}
        )
        assert (await first_frame(ws))["event"] == "pusher:connection_established"
        preflight = {"Origin": "http://page.example", "Access-Control-Request-Method": "POST"}
        api = match.group(1).replace("ws://", "http://").replace("/app/app-key", "/apps/1/events")
        async with http.options(api, headers=preflight) as answer:
            assert answer.headers["Access-Control-Allow-Origin"] == "http://page.example"
        await ws.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
