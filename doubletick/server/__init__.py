"""The local Pusher Channels-compatible server: WebSocket `/app/{key}` (protocols 5-7), the
REST API and webhooks on one port, all limits configurable.

    from doubletick.server import ServerThread
    with ServerThread() as server:
        print(server.info.ws_url, server.info.pusher_url)
"""

from __future__ import annotations

from doubletick.server.app import RunningServer, ServerInfo, start_server
from doubletick.server.config import AppConfig, ConfigError, ServerConfig, load_config
from doubletick.server.thread import ServerThread

__all__ = [
    "AppConfig",
    "ConfigError",
    "RunningServer",
    "ServerConfig",
    "ServerInfo",
    "ServerThread",
    "load_config",
    "start_server",
]
