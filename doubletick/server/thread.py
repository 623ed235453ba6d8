"""The server on its own event loop in a daemon thread: for the dashboard, notebooks, tests
and benchmarks, which want a real server next to synchronous code."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from types import TracebackType

from doubletick.server.app import RunningServer, ServerInfo, start_server
from doubletick.server.config import ServerConfig

_START_TIMEOUT = 30.0


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


class ServerThread:
    """Run a server in a background thread.

    `start()` returns once it listens; `info` says where. `stop()` shuts it down gracefully
    (clients get 4200 and reconnect) and joins the thread. `restart()` is seamless: a new
    server with empty state binds the same port first (SO_REUSEPORT), then the old one stops
    listening and closes its clients with 4200, so their immediate reconnect always finds a
    listener. Also a context manager.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        use_uvloop: bool = False,
    ) -> None:
        self.config = config or ServerConfig()
        self.host = host
        self.port = port
        self.use_uvloop = use_uvloop  # the CLI's loop; faster, for benchmarks
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: RunningServer | None = None
        self._serving: RunningServer | None = None  # the loop's view of `_server`
        self._stop_event: asyncio.Event | None = None

    @property
    def info(self) -> ServerInfo:
        if self._server is None:
            raise RuntimeError("the server is not running: call start() first")
        return self._server.info

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ServerInfo:
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        started: concurrent.futures.Future[RunningServer] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="doubletick-server", daemon=True
        )
        self._thread.start()
        try:
            self._server = started.result(timeout=_START_TIMEOUT)
        except BaseException:
            self._thread.join(_START_TIMEOUT)
            self._thread = None
            raise
        self.port = self._server.info.port  # a restart binds the same port
        return self._server.info

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None:
            return
        loop.call_soon_threadsafe(stop_event.set)
        thread.join()
        self._thread = self._loop = self._server = self._stop_event = None

    def restart(self) -> ServerInfo:
        """Replace the running server by a fresh one on the same port (or start one)."""
        loop = self._loop
        if self._server is None or loop is None:
            return self.start()
        replaced = asyncio.run_coroutine_threadsafe(self._replace(self._server), loop)
        self._server = replaced.result(timeout=_START_TIMEOUT + self.config.shutdown_timeout)
        return self._server.info

    async def _replace(self, old: RunningServer) -> RunningServer:
        new = await start_server(self.config, self.host, self.port, share_port=True)
        self._serving = new
        await old.stop()
        return new

    def _run(self, started: concurrent.futures.Future[RunningServer]) -> None:
        loop = _new_loop(self.use_uvloop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(started))
        finally:
            loop.close()

    async def _serve(self, started: concurrent.futures.Future[RunningServer]) -> None:
        self._stop_event = asyncio.Event()
        try:
            server = await start_server(self.config, self.host, self.port)
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._serving = server
        started.set_result(server)
        await self._stop_event.wait()
        if self._serving is not None:
            await self._serving.stop()
            self._serving = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
