"""Which endpoint the process-wide runtime uses, and the accounts it registers."""

from __future__ import annotations

import pytest
import requests

from auth_server import ConfigError
from doubletick.embedded import (
    EmbeddedRuntime,
    RuntimeConfigError,
    RuntimeSettings,
    SharedTable,
    ws_url_from_pusher_url,
)

HOSTED = "http://key:secret@api-eu.pusher.com/apps/123"


@pytest.mark.parametrize(
    ("pusher_url", "ws_url"),
    [
        (HOSTED, "wss://ws-eu.pusher.com/app/key"),
        ("https://k:s@api-mt1.pusher.com/apps/9", "wss://ws-mt1.pusher.com/app/k"),
        ("http://k:s@127.0.0.1:6001/apps/1", "ws://127.0.0.1:6001/app/k"),
        ("https://k:s@pusher.example.org/apps/1", "wss://pusher.example.org/app/k"),
    ],
)
def test_ws_url_is_derived_from_the_pusher_url(pusher_url: str, ws_url: str) -> None:
    assert ws_url_from_pusher_url(pusher_url) == ws_url


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({}, "embedded"),
        ({"PUSHER_URL": HOSTED}, "pusher"),
        ({"PUSHER_URL": "http://k:s@127.0.0.1:6001/apps/1"}, "external"),
        (
            {
                "DOUBLETICK_WS_URL": "ws://127.0.0.1:1/app/k",
                "DOUBLETICK_AUTH_URL": "http://127.0.0.1:2",
                "DOUBLETICK_USERS": "alice:pw,bob:pw",
            },
            "external",
        ),
    ],
)
def test_settings_from_the_environment_choose_the_endpoint(
    environ: dict[str, str], kind: str
) -> None:
    assert RuntimeSettings.from_environ(environ).kind == kind


@pytest.mark.parametrize(
    "environ",
    [
        {"DOUBLETICK_WS_URL": "ws://127.0.0.1:1/app/k"},
        {"DOUBLETICK_AUTH_URL": "http://127.0.0.1:2", "DOUBLETICK_WS_URL": "ws://h/app/k"},
        {"DOUBLETICK_USERS": "alice"},
        {"DOUBLETICK_CLIENT_EVENTS_PER_SECOND": "0"},
    ],
)
def test_inconsistent_settings_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(RuntimeConfigError):
        RuntimeSettings.from_environ(environ)


def test_a_malformed_pusher_url_is_refused() -> None:
    with pytest.raises(ConfigError):
        RuntimeSettings.from_environ({"PUSHER_URL": "http://nope"})


def test_hosted_pusher_keeps_clients_under_its_limit_with_a_local_auth_server() -> None:
    runtime = EmbeddedRuntime(RuntimeSettings(pusher_url=HOSTED)).start()
    try:
        endpoint = runtime.endpoint
        assert endpoint.ws_url == "wss://ws-eu.pusher.com/app/key"
        assert endpoint.server_limit == 10 and endpoint.client_events_per_second <= 5
        assert endpoint.auth_url.startswith("http://127.0.0.1:") and not endpoint.restartable
        assert runtime.server is None
        with pytest.raises(RuntimeError):
            runtime.restart_server()
    finally:
        runtime.stop()


def test_embedded_runtime_registers_and_forgets_session_accounts(
    runtime: EmbeddedRuntime,
) -> None:
    endpoint = runtime.endpoint
    assert endpoint.kind == "embedded" and endpoint.server_limit == 100
    assert "100/s" in endpoint.describe()
    (carol,) = runtime.create_accounts(("carol_t1", "Carol"))
    body = {"user": carol.user, "password": carol.password}
    answer = requests.post(endpoint.auth_url + "/login", json=body, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["user_data"]["user_info"]["name"] == "Carol"
    runtime.release_accounts((carol,))
    assert requests.post(endpoint.auth_url + "/login", json=body, timeout=5).status_code == 401


def test_account_names_are_checked(runtime: EmbeddedRuntime) -> None:
    with pytest.raises(ValueError, match="must match"):
        runtime.create_accounts(("Not-A-Name", "x"))


def test_shared_table_is_a_mapping() -> None:
    table = SharedTable()
    table.set("a", "1")
    table.set("b", "2")
    table.discard("a")
    table.discard("missing")
    assert dict(table) == {"b": "2"} and len(table) == 1 and "a" not in table
