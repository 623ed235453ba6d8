"""Starting and stopping the server inside a running event loop: the aiohttp application
(WebSocket, REST API, health), the heartbeat sweep and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass

from aiohttp import web

from doubletick.protocol.errors import ErrorCode
from doubletick.server.config import ServerConfig
from doubletick.server.cors import cors
from doubletick.server.heartbeat import run_heartbeat
from doubletick.server.rest import add_routes, json_errors
from doubletick.server.state import ServerState
from doubletick.server.websocket import STATE_KEY, websocket_handler

log = logging.getLogger(__name__)

SHUTDOWN_MESSAGE = "Server is closing. Please reconnect shortly."


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Where a running server listens and how to reach its first app."""

    host: str
    port: int
    app_id: str
    key: str
    secret: str
    path_prefix: str = ""

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.path_prefix}/app/{self.key}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pusher_url(self) -> str:
        """The `PUSHER_URL` form the SDKs accept: `http://KEY:SECRET@HOST:PORT/apps/ID` (with
        the path prefix, if any, before `/apps`)."""
        base = f"http://{self.key}:{self.secret}@{self.host}:{self.port}{self.path_prefix}"
        return f"{base}/apps/{self.app_id}"


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def _health(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if state.shutting_down:
        return web.json_response({"ok": False, "status": "shutting down"}, status=503)
    connections = sum(len(r.peers) for r in state.runtimes)
    return web.json_response({"ok": True, "connections": connections})


def build_application(state: ServerState) -> web.Application:
    app = web.Application(
        middlewares=[cors, json_errors], client_max_size=state.config.max_request_body_bytes
    )
    app[STATE_KEY] = state
    prefix = state.config.path_prefix
    app.router.add_get(f"{prefix}/app/{{key}}", websocket_handler)
    for base in dict.fromkeys(("", prefix)):
        app.router.add_get(f"{base}/", _index)
        for path in ("/health", "/up", "/ready"):
            app.router.add_get(base + path, _health)
    add_routes(app, prefix)
    return app


class RunningServer:
    """A server listening inside the current event loop; `await stop()` ends it gracefully."""

    def __init__(self, state: ServerState, runner: web.AppRunner, info: ServerInfo) -> None:
        self.state = state
        self.info = info
        self._runner = runner
        self._heartbeat = asyncio.get_running_loop().create_task(run_heartbeat(state))
        self._stopped = False

    async def stop(self) -> None:
        """Graceful: stop accepting connections (a server started on the same port in the
        meantime gets every new one), then clients get `pusher:error` 4200 and close 4200
        and reconnect, and webhooks are flushed."""
        if self._stopped:
            return
        self._stopped = True
        for site in list(self._runner.sites):
            await site.stop()
        state = self.state
        state.shutting_down = True
        timeout = state.config.shutdown_timeout
        for runtime in state.runtimes:
            runtime.close_all(ErrorCode.GENERIC_RECONNECT, SHUTDOWN_MESSAGE)
        await state.wait_for_tasks(timeout)
        self._heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._heartbeat
        await state.close(timeout)
        await self._runner.cleanup()


async def start_server(
    config: ServerConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    share_port: bool = False,
) -> RunningServer:
    """Start listening on `host:port` (0: any free port) in the running loop.

    Every listening socket has SO_REUSEPORT, so that a restart can bind the new server before
    the old one lets go of the port. Only with `share_port` may the port already have a
    listener (the server being replaced); otherwise that is refused with EADDRINUSE, as a
    plain bind would.
    """
    config = config or ServerConfig()
    if not share_port:
        await _check_port_free(host, port)
    state = ServerState(config)
    runner = web.AppRunner(
        build_application(state),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=config.shutdown_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port: int = runner.addresses[0][1]
    app = config.apps[0]
    info = ServerInfo(host, bound_port, app.app_id, app.key, app.secret, config.path_prefix)
    log.info("listening on %s", info.ws_url)
    return RunningServer(state, runner, info)


async def _check_port_free(host: str, port: int) -> None:
    """Raise OSError (EADDRINUSE) when something listens on `host:port` already.

    A probe without SO_REUSEPORT cannot bind next to a listener, even one that has the
    option set; without this check a second server would silently share the port.
    """
    if port == 0:  # the kernel never hands out a port in use, even with SO_REUSEPORT
        return
    addresses = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
