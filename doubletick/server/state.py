"""The live state of one server: its apps' runtimes, the shutdown flag, the HTTP client for
webhooks and the few background tasks it owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp

from doubletick.server.config import ServerConfig
from doubletick.server.runtime import AppRuntime
from doubletick.server.webhooks import WebhookSender

log = logging.getLogger(__name__)


class ServerState:
    """Shared by the WebSocket handler, the REST API and the heartbeat sweep."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.shutting_down = False
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.runtimes = [
            AppRuntime(app, WebhookSender(app, config, self.http_session)) for app in config.apps
        ]
        self.by_key = {runtime.config.key: runtime for runtime in self.runtimes}
        self.by_id = {runtime.config.app_id: runtime for runtime in self.runtimes}

    def http_session(self) -> aiohttp.ClientSession:
        """The one client session webhooks go out through (made on first use)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background job (closing a socket, ...) and keep a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def wait_for_tasks(self, grace: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)

    async def close(self, grace: float) -> None:
        """Flush webhooks and release the HTTP client."""
        await asyncio.gather(*(r.webhooks.close(grace) for r in self.runtimes))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
