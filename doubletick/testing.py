"""pytest plugin: a real, local Pusher-compatible server for your tests, offline.

Installed with doubletick (entry point `pytest11`), so any project can use the fixtures::

    def test_my_code_publishes(pusher_server):
        client = pusher.Pusher(app_id=pusher_server.app_id, key=pusher_server.key,
                               secret=pusher_server.secret, host=pusher_server.host,
                               port=pusher_server.port, ssl=False)
        client.trigger("my-channel", "my-event", {"hello": "world"})

    def test_rate_limit(pusher_server_factory):
        info = pusher_server_factory(max_client_events_per_second=2)

`pusher_server` yields a `ServerInfo` (host, port, app_id, key, secret, ws_url, http_url,
pusher_url) of a server on 127.0.0.1 with a free port and the default app (id `1`, key
`app-key`, secret `app-secret`). `pusher_server_factory(config=None, **app_overrides)` starts
more servers, from a `ServerConfig` or with settings of the default `AppConfig` changed. Every
server is stopped at the end of the test.

Importing this module is cheap: the server is imported when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

# Flags for a headless Debian chromium on a machine without network (Playwright's own browser
# downloads are not used): the UI tests and the dashboard benchmark launch it with these.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

if TYPE_CHECKING:
    from doubletick.server import ServerConfig, ServerInfo, ServerThread

ServerFactory = Callable[..., "ServerInfo"]


def _start(config: ServerConfig | None, overrides: dict[str, Any]) -> ServerThread:
    from doubletick.server import AppConfig, ServerConfig, ServerThread

    if overrides:
        if config is not None:
            raise TypeError("pass either a ServerConfig or app settings, not both")
        config = ServerConfig(apps=(AppConfig(**overrides),))
    server = ServerThread(config, host="127.0.0.1", port=0)
    server.start()
    return server


@pytest.fixture
def pusher_server_factory() -> Iterator[ServerFactory]:
    """Start local Pusher servers: `factory(config=None, **app_settings) -> ServerInfo`."""
    servers: list[ServerThread] = []

    def factory(config: ServerConfig | None = None, **app_settings: Any) -> ServerInfo:
        server = _start(config, app_settings)
        servers.append(server)
        return server.info

    yield factory
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def pusher_server(pusher_server_factory: ServerFactory) -> ServerInfo:
    """A local Pusher server with the default app, for one test."""
    return pusher_server_factory()
