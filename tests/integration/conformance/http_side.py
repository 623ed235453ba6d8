"""The app's side of HTTP for the conformance tests: an auth endpoint and a webhook receiver.

Both live in one aiohttp app on 127.0.0.1:0, on its own event loop in a background thread,
as a real app backend would. The auth endpoint signs with `doubletick.protocol.signing` for
the server's default app; it does not depend on the product auth server.

Who is asking comes from headers the client under test sends (`X-User-Id`, `X-User-Info`),
so one endpoint serves every user. A test can make it answer with a forged auth string for
one channel (`forge`), to see what the server does with a bad signature or a foreign key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from doubletick.protocol import signing

MASTER_KEY = bytes(range(32))  # encryption master key of the test app (32 bytes)
MASTER_KEY_BASE64 = base64.b64encode(MASTER_KEY).decode()

Forgery = str  # "signature" (valid key, wrong HMAC) or "key" (right HMAC, another app's key)


@dataclass
class Webhook:
    """One webhook POST as received: raw body and the headers a validator needs."""

    body: bytes
    headers: dict[str, str]

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.body)["events"]
        return events


@dataclass
class AppBackend:
    """Signs subscriptions and sign-ins for one app; records the webhooks it receives."""

    key: str
    secret: str
    port: int = 0
    webhooks: list[Webhook] = field(default_factory=list)
    forgeries: dict[str, Forgery] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def channel_auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pusher/auth"

    @property
    def user_auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pusher/user-auth"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pusher/webhooks"

    def forge(self, channel: str, forgery: Forgery) -> None:
        """Answer subscriptions to `channel` with a forged auth string from now on."""
        self.forgeries[channel] = forgery

    def channel_auth(self, socket_id: str, channel: str, channel_data: str | None = None) -> str:
        """The auth string for a subscription, forged if the test asked for it."""
        auth = signing.channel_auth(self.key, self.secret, socket_id, channel, channel_data)
        forgery = self.forgeries.get(channel)
        if forgery == "signature":
            other = signing.channel_auth(self.key, "not-the-secret", socket_id, channel)
            return other
        if forgery == "key":
            return "another-key:" + auth.partition(":")[2]
        return auth

    def received_webhooks(self) -> list[Webhook]:
        with self._lock:
            return list(self.webhooks)

    def webhook_events(self) -> list[dict[str, Any]]:
        return [event for hook in self.received_webhooks() for event in hook.events]

    # -- handlers --------------------------------------------------------------------------

    async def handle_channel_auth(self, request: web.Request) -> web.Response:
        form = await request.post()
        socket_id, channel = str(form["socket_id"]), str(form["channel_name"])
        answer: dict[str, str] = {}
        channel_data = None
        if channel.startswith("presence-"):
            channel_data = json.dumps(
                {"user_id": _user_id(request), "user_info": _user_info(request)}
            )
            answer["channel_data"] = channel_data
        if channel.startswith("private-encrypted-"):
            secret = signing.encrypted_channel_shared_secret(channel, MASTER_KEY)
            answer["shared_secret"] = secret
        answer["auth"] = self.channel_auth(socket_id, channel, channel_data)
        return web.json_response(answer)

    async def handle_user_auth(self, request: web.Request) -> web.Response:
        form = await request.post()
        socket_id = str(form["socket_id"])
        user = {"id": _user_id(request), "user_info": _user_info(request)}
        user_data = json.dumps(user)
        auth = signing.user_auth(self.key, self.secret, socket_id, user_data)
        return web.json_response({"auth": auth, "user_data": user_data})

    async def handle_webhook(self, request: web.Request) -> web.Response:
        hook = Webhook(await request.read(), dict(request.headers))
        with self._lock:
            self.webhooks.append(hook)
        return web.json_response({})


def _user_id(request: web.Request) -> Any:
    return json.loads(request.headers["X-User-Id"])


def _user_info(request: web.Request) -> Any:
    return json.loads(request.headers.get("X-User-Info", "null"))


class BackgroundBackend:
    """Runs an `AppBackend` in a thread until `close()`."""

    def __init__(self, backend: AppBackend) -> None:
        self.backend = backend
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="app-backend", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test app backend did not start")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/pusher/auth", self.backend.handle_channel_auth)
        app.router.add_post("/pusher/user-auth", self.backend.handle_user_auth)
        app.router.add_post("/pusher/webhooks", self.backend.handle_webhook)
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.backend.port = runner.addresses[0][1]
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    def close(self) -> None:
        assert self._loop is not None and self._stopping is not None
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
