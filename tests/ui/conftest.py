"""Serve the real dashboard script in this process (so tests can look at its threads and at
the embedded server it starts) and drive it with Debian's chromium through Playwright."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doubletick.testing import CHROMIUM_ARGS
from tests.requirements import require

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "dashboard.py"
ENDPOINT_VARIABLES = ("PUSHER_URL", "DOUBLETICK_WS_URL", "DOUBLETICK_AUTH_URL")


class ServedDashboard:
    """`panel serve app/dashboard.py` on 127.0.0.1 and a free port, in a thread with its own
    IOLoop. Closed tabs are destroyed after about a second (not Bokeh's 15-30 s)."""

    def __init__(self, script: Path = APP_SCRIPT) -> None:
        self.script = script
        self.port = 0
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, name="ui-dashboard", daemon=True)
        self._ready: concurrent.futures.Future[Any] = concurrent.futures.Future()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dashboard"

    def start(self) -> ServedDashboard:
        self._thread.start()
        self._server = self._ready.result(timeout=30)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        server = self._server
        if server is not None:
            server.io_loop.add_callback(server.io_loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        from panel.io.server import get_server
        from tornado.ioloop import IOLoop

        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            server = get_server(
                {"dashboard": str(self.script)},
                port=0,
                address="127.0.0.1",
                websocket_origin="127.0.0.1",
                loop=loop,
                start=False,
                check_unused_sessions_milliseconds=300,
                unused_session_lifetime_milliseconds=500,
            )
            server.start()
        except BaseException as exc:
            self._ready.set_exception(exc)
            raise
        self._ready.set_result(server)
        loop.start()
        server.stop()


@pytest.fixture(scope="module")
def dashboard() -> Iterator[ServedDashboard]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ENDPOINT_VARIABLES:  # the embedded default, whatever the shell says
            patch.delenv(name, raising=False)
        served = ServedDashboard().start()
        yield served
        served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = require("chromium", why="the dashboard tests drive a real browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or executable, args=list(CHROMIUM_ARGS)
        )
        yield launched
        launched.close()
