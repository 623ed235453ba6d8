"""Optional rules of the per-connection state machine: "authorized connections"."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from doubletick.protocol.connection import CloseConnection, Connection, ConnectionLimits
from doubletick.protocol.errors import ErrorCode
from doubletick.protocol.signing import channel_auth, user_auth
from tests.unit.protocol.test_connection import KEY, SECRET, SOCKET_ID, opened, send, sent

TIMEOUT = 30.0


def strict() -> Connection:
    return opened(ConnectionLimits(user_authentication_timeout=TIMEOUT))


def closed_with(outputs: Sequence[object]) -> list[int]:
    return [o.code for o in outputs if isinstance(o, CloseConnection)]


def test_without_a_timeout_an_anonymous_socket_stays() -> None:
    connection = opened()
    assert connection.tick(now=TIMEOUT * 3) == []


def test_an_anonymous_socket_is_closed_with_4009_when_the_timeout_ends() -> None:
    connection = strict()
    assert connection.tick(now=TIMEOUT - 0.1) == []

    outputs = connection.tick(now=TIMEOUT)

    assert sent(outputs) == [
        {
            "event": "pusher:error",
            "data": {"code": 4009, "message": "Connection not authorized within timeout."},
        }
    ]
    assert closed_with(outputs) == [ErrorCode.UNAUTHORIZED]
    assert connection.tick(now=TIMEOUT + 1) == []  # closed once


def test_a_socket_that_signed_in_stays() -> None:
    connection = strict()
    user_data = '{"id":"alice"}'
    auth = user_auth(KEY, SECRET, SOCKET_ID, user_data)
    send(connection, "pusher:signin", {"user_data": user_data, "auth": auth}, now=5.0)
    assert connection.tick(now=TIMEOUT + 1) == []


@pytest.mark.parametrize(
    ("channel", "channel_data"),
    [
        ("private-room", None),
        ("private-encrypted-room", None),
        ("presence-room", '{"user_id":"1"}'),
    ],
)
def test_a_socket_subscribed_to_a_channel_that_needs_auth_stays(
    channel: str, channel_data: str | None
) -> None:
    connection = strict()
    data = {"channel": channel, "auth": channel_auth(KEY, SECRET, SOCKET_ID, channel, channel_data)}
    if channel_data is not None:
        data["channel_data"] = channel_data
    send(connection, "pusher:subscribe", data, now=5.0)
    send(connection, "pusher:unsubscribe", {"channel": channel}, now=6.0)  # authorized for good
    assert connection.tick(now=TIMEOUT + 1) == []


@pytest.mark.parametrize(
    "data",
    [
        {"channel": "news"},  # public: no authorization
        {"channel": "private-room", "auth": f"{KEY}:{'0' * 64}"},  # refused signature
    ],
)
def test_a_public_or_refused_subscription_does_not_authorize(data: dict[str, str]) -> None:
    connection = strict()
    send(connection, "pusher:subscribe", data, now=5.0)
    assert closed_with(connection.tick(now=TIMEOUT)) == [ErrorCode.UNAUTHORIZED]
