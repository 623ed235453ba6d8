"""Fixtures of the conformance suite: the app backend, the clients and SDKs under test.

`clients` is parametrised over the real WebSocket clients (raw pysher, pusher-js in Node)
and `sdk` over the real server SDKs (Python, Node), uvicorn style: one scenario, every
client. The pusher-js driver process is shared by all tests of a module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from doubletick.server import ServerInfo
from tests.integration.conformance.clients import ClientFactory
from tests.integration.conformance.http_side import AppBackend, BackgroundBackend
from tests.integration.conformance.sdks import Credentials, NodeSdk, PythonSdk, Sdk
from tests.nodeclients import PusherJsDriver

CLIENT_KINDS = ["pysher", pytest.param("pusher-js", marks=pytest.mark.node)]
SDK_KINDS = ["python", pytest.param("node", marks=pytest.mark.node)]


@pytest.fixture
def backend() -> Iterator[AppBackend]:
    """Auth endpoint and webhook receiver of the default app, on a free port."""
    running = BackgroundBackend(AppBackend(key="app-key", secret="app-secret"))
    yield running.backend
    running.close()


@pytest.fixture(scope="module")
def js_driver() -> Iterator[PusherJsDriver]:
    with PusherJsDriver(timeout=10.0) as driver:
        yield driver


ClientsFor = Callable[[ServerInfo], ClientFactory]


@pytest.fixture(params=CLIENT_KINDS)
def clients_for(
    request: pytest.FixtureRequest, backend: AppBackend, pusher_server_factory: object
) -> Iterator[ClientsFor]:
    """`clients_for(server)`: a factory of connected clients of the kind under test.

    Depends on `pusher_server_factory` so that its clients close before the servers stop
    (a pusher-js client of a stopped server would keep reconnecting in the shared driver).
    """
    made: list[ClientFactory] = []
    js = request.getfixturevalue("js_driver") if request.param == "pusher-js" else None

    def factory(server: ServerInfo) -> ClientFactory:
        clients = ClientFactory(request.param, server.host, server.port, server.key, backend, js)
        made.append(clients)
        return clients

    yield factory
    for clients in made:
        clients.close_all()


@pytest.fixture
def clients(clients_for: ClientsFor, pusher_server: ServerInfo) -> ClientFactory:
    """Clients of the kind under test, for the default server."""
    return clients_for(pusher_server)


def credentials(server: ServerInfo, **changes: Any) -> Credentials:
    values = {
        "host": server.host,
        "port": server.port,
        "app_id": server.app_id,
        "key": server.key,
        "secret": server.secret,
        **changes,
    }
    return Credentials(**values)


SdkFor = Callable[..., Sdk]


@pytest.fixture(params=SDK_KINDS)
def sdk_for(request: pytest.FixtureRequest) -> SdkFor:
    """`sdk_for(server, **credential_changes)`: the server SDK under test."""
    kind = PythonSdk if request.param == "python" else NodeSdk

    def make(server: ServerInfo, **changes: Any) -> Sdk:
        return kind(credentials(server, **changes))

    return make


@pytest.fixture
def sdk(sdk_for: SdkFor, pusher_server: ServerInfo) -> Sdk:
    return sdk_for(pusher_server)


@pytest.fixture
def python_sdk(pusher_server: ServerInfo) -> PythonSdk:
    """The Python SDK for publishing in scenarios about the clients."""
    return PythonSdk(credentials(pusher_server))
