"""The Node drivers themselves (tests/node), against a tiny Pusher-ish stub in this file.

The stub runs on its own event loop in a background thread, as a real server would in the
conformance tests; it speaks just enough of the protocol for the drivers to show that they
report what pusher-js and the Node SDK really send and receive.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from tests.nodeclients import DriverError, PusherJsDriver, node_sdk

pytestmark = pytest.mark.node

APP_ID, KEY, SECRET = "1", "app-key", "app-secret"


def sign(message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()


def expected_rest_signature(method: str, path: str, query: dict[str, str]) -> str:
    """PROTOCOL.md 12.1: METHOD, path and the sorted, unescaped query minus auth_signature."""
    params = {k.lower(): v for k, v in query.items() if k != "auth_signature"}
    ordered = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return sign(f"{method}\n{path}\n{ordered}")


@dataclass
class Stub:
    """Shared state of the stub; lists are appended on the stub's loop, read by the test."""

    port: int = 0
    frames: list[dict[str, Any]] = field(default_factory=list)  # received over WebSocket
    http: list[dict[str, Any]] = field(default_factory=list)  # received over HTTP
    sockets: dict[str, web.WebSocketResponse] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # socket -> channel -> uid
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    loop: asyncio.AbstractEventLoop | None = None
    stopping: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask the stub's loop (another thread) to shut down."""
        assert self.loop is not None and self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def broadcast(self, channel: str, frame: dict[str, Any], *, skip: str = "") -> None:
        for socket_id, ws in list(self.sockets.items()):
            if socket_id != skip and channel in self.members.get(socket_id, {}):
                await ws.send_json(frame)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        socket_id = f"{next(self.ids)}.{next(self.ids)}"
        self.sockets[socket_id] = ws
        self.members[socket_id] = {}
        data = json.dumps({"socket_id": socket_id, "activity_timeout": 120})
        await ws.send_json({"event": "pusher:connection_established", "data": data})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self.on_frame(socket_id, ws, json.loads(message.data))
        finally:
            del self.sockets[socket_id]
            del self.members[socket_id]
        return ws

    async def on_frame(self, socket_id: str, ws: web.WebSocketResponse, frame: Any) -> None:
        self.frames.append(frame)
        event, data = frame.get("event"), frame.get("data")
        if event == "pusher:ping":
            await ws.send_json({"event": "pusher:pong", "data": "{}"})
        elif event == "pusher:subscribe":
            channel = data["channel"]
            channel_data = json.loads(data.get("channel_data") or "{}")
            user_id = channel_data.get("user_id", "")
            self.members[socket_id][channel] = user_id
            reply = {}
            if channel.startswith("presence-"):
                info = channel_data.get("user_info")
                reply = {"presence": {"ids": [user_id], "hash": {user_id: info}, "count": 1}}
            await ws.send_json(
                {
                    "event": "pusher_internal:subscription_succeeded",
                    "channel": channel,
                    "data": json.dumps(reply),
                }
            )
        elif event == "pusher:signin":
            await ws.send_json(
                {"event": "pusher:signin_success", "data": {"user_data": data["user_data"]}}
            )
        elif isinstance(event, str) and event.startswith("client-"):
            channel = frame["channel"]
            relayed = {"event": event, "channel": channel, "data": data}
            if channel.startswith("presence-"):
                relayed["user_id"] = self.members[socket_id][channel]
            await self.broadcast(channel, relayed, skip=socket_id)

    async def channel_auth(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.http.append({"path": request.path, "form": form, "headers": dict(request.headers)})
        socket_id, channel = form["socket_id"], form["channel_name"]
        answer: dict[str, str] = {}
        to_sign = f"{socket_id}:{channel}"
        if channel.startswith("presence-"):
            user = request.headers.get("X-User", "anonymous")
            answer["channel_data"] = json.dumps({"user_id": user, "user_info": {"name": user}})
            to_sign += ":" + answer["channel_data"]
        answer["auth"] = f"{KEY}:{sign(to_sign)}"
        return web.json_response(answer)

    async def user_auth(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.http.append({"path": request.path, "form": form, "headers": dict(request.headers)})
        user_data = json.dumps({"id": request.headers.get("X-User", "anonymous")})
        socket_id = form["socket_id"]
        auth = f"{KEY}:{sign(f'{socket_id}::user::{user_data}')}"
        return web.json_response({"auth": auth, "user_data": user_data})

    async def rest(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.http.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "body": body,
                "headers": dict(request.headers),
            }
        )
        if request.path.endswith("/forbidden"):
            return web.json_response({"error": "nope", "code": 401}, status=401)
        if request.path == f"/apps/{APP_ID}/events":
            event = json.loads(body)
            for channel in event["channels"]:
                frame = {"event": event["name"], "channel": channel, "data": event["data"]}
                await self.broadcast(channel, frame)
        return web.json_response({})


def run_stub(stub: Stub, ready: threading.Event) -> None:
    """The stub's thread: serve until the test asks to stop."""

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/app/{key}", stub.websocket)
        app.router.add_post("/pusher/auth", stub.channel_auth)
        app.router.add_post("/pusher/user-auth", stub.user_auth)
        app.router.add_route("*", "/apps/{tail:.*}", stub.rest)
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        stub.port = runner.addresses[0][1]
        stub.loop, stub.stopping = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        await stub.stopping.wait()
        for ws in list(stub.sockets.values()):
            await ws.close()
        await runner.cleanup()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()
    ready = threading.Event()
    thread = threading.Thread(target=run_stub, args=(state, ready), daemon=True)
    thread.start()
    assert ready.wait(10), "stub server did not start"
    yield state
    state.stop()
    thread.join(10)


@pytest.fixture
def js(stub: Stub) -> Iterator[PusherJsDriver]:
    with PusherJsDriver() as driver:
        yield driver


def sdk_config(stub: Stub) -> dict[str, Any]:
    return {"appId": APP_ID, "key": KEY, "secret": SECRET, "host": "127.0.0.1", "port": stub.port}


def connect_with_auth(js: PusherJsDriver, stub: Stub, client: str, user: str) -> str | None:
    headers = {"X-User": user}
    return js.connect(
        client,
        key=KEY,
        port=stub.port,
        channelAuthorization={"endpoint": stub.url("/pusher/auth"), "headers": headers},
        userAuthentication={"endpoint": stub.url("/pusher/user-auth"), "headers": headers},
    )


def test_pusher_js_subscribes_with_browser_style_auth_and_relays_client_events(
    js: PusherJsDriver, stub: Stub
) -> None:
    socket_a = connect_with_auth(js, stub, "a", "alice")
    connect_with_auth(js, stub, "b", "bob")
    for client in ("a", "b"):
        assert js.subscribe(client, "private-room")["event"] == "pusher:subscription_succeeded"

    auth_request = next(r for r in stub.http if r["form"]["socket_id"] == socket_a)
    assert auth_request["form"] == {"socket_id": socket_a, "channel_name": "private-room"}
    assert auth_request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert auth_request["headers"]["X-User"] == "alice"
    subscribe = next(f for f in stub.frames if f["event"] == "pusher:subscribe")
    assert subscribe["data"]["auth"].startswith(f"{KEY}:")

    sent = js.send(
        "trigger", client="a", channel="private-room", event="client-typing", data={"t": 1}
    )
    assert sent is True
    got = js.wait_for_event("b", "client-typing", "private-room")
    assert got["data"] == {"t": 1}
    assert js.events("a", "client-typing") == []


def test_tutorial_client_answers_each_message_with_a_delivery_receipt(
    js: PusherJsDriver, stub: Stub
) -> None:
    for client in ("sender", "tutorial"):
        connect_with_auth(js, stub, client, client)
        js.subscribe(client, "private-chat")
    js.send("tutorial_autoack", client="tutorial", channel="private-chat")

    message = {"id": "m1", "message": "hello"}
    js.send(
        "trigger",
        client="sender",
        channel="private-chat",
        event="client-message-added",
        data=message,
    )

    receipt = js.wait_for_event("sender", "client-message-delivered", "private-chat")
    assert receipt["data"] == {"id": "m1"}
    assert js.wait_for({"type": "autoack", "client": "tutorial"})["result"] is True


def test_presence_members_user_ids_and_signin_are_reported(js: PusherJsDriver, stub: Stub) -> None:
    connect_with_auth(js, stub, "a", "alice")
    connect_with_auth(js, stub, "b", "bob")
    joined = js.subscribe("a", "presence-lobby")
    assert joined["data"]["me"] == {"id": "alice", "info": {"name": "alice"}}
    assert joined["data"]["count"] == 1
    js.subscribe("b", "presence-lobby")
    assert js.send("members", client="a", channel="presence-lobby")["members"] == [
        {"id": "alice", "info": {"name": "alice"}}
    ]

    js.send("trigger", client="b", channel="presence-lobby", event="client-hi", data={})
    assert js.wait_for_event("a", "client-hi")["user_id"] == "bob"

    js.send("signin", client="a")
    signed_in = js.wait_for_event("a", "pusher:signin_success")
    assert signed_in["channel"] is None
    assert json.loads(signed_in["data"]["user_data"]) == {"id": "alice"}
    assert js.send("user", client="a") == {"id": "alice"}


def test_driver_reports_bad_commands_as_errors_and_keeps_running(js: PusherJsDriver) -> None:
    with pytest.raises(DriverError, match="unknown client"):
        js.send("state", client="nobody")
    with pytest.raises(DriverError, match="unknown op"):
        js.send("fly")
    js.connect("a", key=KEY, port=1, wait=False)
    with pytest.raises(DriverError, match="not subscribed"):
        js.send("trigger", client="a", channel="private-x", event="client-x", data={})
    assert js.send("ping") == "pong"


def test_disconnect_is_reported_and_close_reaps_the_process(js: PusherJsDriver, stub: Stub) -> None:
    js.connect("a", key=KEY, port=stub.port)
    since = js.mark()
    js.send("disconnect", client="a")
    js.wait_for_state("a", "disconnected", since=since)
    assert js.send("state", client="a")["state"] == "disconnected"
    js.close()
    assert js._proc.returncode == 0


def test_node_sdk_trigger_is_signed_and_reaches_pusher_js(js: PusherJsDriver, stub: Stub) -> None:
    js.connect("a", key=KEY, port=stub.port)
    js.subscribe("a", "news")

    answer = node_sdk(sdk_config(stub), "trigger", "news", "headline", {"hello": "world"})

    assert answer == {"status": 200, "body": {}}
    assert js.wait_for_event("a", "headline", "news")["data"] == {"hello": "world"}
    request = stub.http[-1]
    query = request["query"]
    assert request["method"] == "POST"
    assert request["path"] == f"/apps/{APP_ID}/events"
    assert json.loads(request["body"]) == {
        "name": "headline",
        "data": '{"hello":"world"}',
        "channels": ["news"],
    }
    assert query["body_md5"] == hashlib.md5(request["body"]).hexdigest()
    assert query["auth_key"] == KEY
    assert query["auth_version"] == "1.0"
    assert abs(int(query["auth_timestamp"]) - time.time()) < 600
    assert query["auth_signature"] == expected_rest_signature("POST", request["path"], query)


def test_node_sdk_get_is_signed_and_http_errors_come_back_as_data(stub: Stub) -> None:
    config = sdk_config(stub)
    params = {"filter_by_prefix": "presence-", "info": "user_count"}
    answer = node_sdk(config, "get", {"path": "/channels", "params": params})
    assert answer == {"status": 200, "body": {}}
    request = stub.http[-1]
    assert request["method"] == "GET"
    assert "body_md5" not in request["query"]
    assert request["query"]["auth_signature"] == expected_rest_signature(
        "GET", f"/apps/{APP_ID}/channels", request["query"]
    )

    refused = node_sdk(config, "post", {"path": "/forbidden", "body": {}})
    assert refused["status"] == 401
    assert refused["body"] == {"error": "nope", "code": 401}
    assert node_sdk(config, "trigger", "bad channel!", "e", {}) == {
        "error": "Invalid channel name: 'bad channel!'"
    }


def test_node_sdk_validates_webhooks_by_their_signature() -> None:
    config = {"appId": APP_ID, "key": KEY, "secret": SECRET}
    body = json.dumps(
        {"time_ms": 1700000000000, "events": [{"name": "channel_occupied", "channel": "c"}]}
    )
    headers = {
        "Content-Type": "application/json",
        "X-Pusher-Key": KEY,
        "X-Pusher-Signature": sign(body),
    }

    valid = node_sdk(config, "webhook", {"headers": headers, "body": body})
    assert valid == {
        "isValid": True,
        "events": [{"name": "channel_occupied", "channel": "c"}],
        "time_ms": 1700000000000,
    }
    tampered = node_sdk(config, "webhook", {"headers": headers, "body": body.replace("c", "d")})
    assert tampered["isValid"] is False
