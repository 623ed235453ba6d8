"""Running the auth server: in the current event loop, or in a thread with its own loop.

`AuthServer` is for async code (``async with AuthServer(config) as server``);
`AuthServerThread` is for synchronous code - tests, notebooks, the dashboard, pysher users:

    with AuthServerThread(config) as server:
        login = server.login("alice", "secret")
        pysher.Pusher(key, auth_endpoint=server.auth_endpoint,
                      auth_endpoint_headers=login.headers, user_data=login.user_data, ...)
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from auth_server.app import create_app
from auth_server.client import Login, login
from auth_server.config import AuthConfig

SHUTDOWN_TIMEOUT = 2.0  # in-flight requests (a throttled 401 may wait seconds) get this long


class _Endpoints:
    """URLs derived from `url`, shared by both runners."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def login_url(self) -> str:
        return f"{self.url}/login"

    @property
    def auth_endpoint(self) -> str:
        """Channel authorization endpoint (pysher `auth_endpoint`, pusher-js `authEndpoint`)."""
        return f"{self.url}/pusher/auth"

    @property
    def user_auth_endpoint(self) -> str:
        """Pusher user sign-in endpoint (pusher-js `userAuthentication.endpoint`)."""
        return f"{self.url}/pusher/user-auth"


class AuthServer(_Endpoints):
    """The auth server on `host`:`port` (0 = any free port) in the running event loop."""

    def __init__(self, config: AuthConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.app = create_app(config)
        self.host = host
        self.port = port
        self._url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; afterwards `url` (and `port`) name the real address. Raises `OSError`."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{shown_host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` once started; "" before."""
        return self._url

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> AuthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class AuthServerThread(_Endpoints):
    """The auth server in a daemon thread with its own event loop; `start()` returns once
    it listens (or raises what stopped it), `stop()` shuts it down and joins the thread."""

    def __init__(self, config: AuthConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = AuthServer(config, host, port)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="auth-server", daemon=True)

    @property
    def config(self) -> AuthConfig:
        return self._server.config

    @property
    def url(self) -> str:
        if not self._server.url:
            raise RuntimeError("the auth server is not running: call start() first")
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self, timeout: float = 10.0) -> AuthServerThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"auth server did not start within {timeout}s")
        if self._failure is not None:
            self._thread.join()
            raise self._failure
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread; safe to call twice or before `start`."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread.ident is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"auth server thread did not stop within {timeout}s")

    def login(self, user: str, password: str) -> Login:
        """Sign in over HTTP, as a client would (see `auth_server.client.login`)."""
        return login(self.url, user, password)

    def __enter__(self) -> AuthServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await self._server.start()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._server.stop()
