"""The per-connection state machine, without sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from doubletick.protocol.channels import ChannelKind
from doubletick.protocol.connection import (
    CloseConnection,
    Connection,
    ConnectionLimits,
    ConnectionState,
    LogMessage,
    Output,
    PresenceMember,
    PublishClientEvent,
    SendFrame,
    SignIn,
    SignOut,
    Subscribe,
    Unsubscribe,
)
from doubletick.protocol.errors import ErrorCode
from doubletick.protocol.signing import channel_auth, user_auth

KEY, SECRET, SOCKET_ID = "app-key", "app-secret", "1234.1234"


def opened(
    limits: ConnectionLimits | None = None, *, key: str = KEY, secret: str = SECRET
) -> Connection:
    connection = Connection(SOCKET_ID, key, secret, limits or ConnectionLimits())
    connection.open(now=0.0)
    return connection


def send(
    connection: Connection,
    event: str,
    data: Any = None,
    channel: str | None = None,
    now: float = 1.0,
) -> list[Output]:
    frame: dict[str, Any] = {"event": event}
    if data is not None:
        frame["data"] = data
    if channel is not None:
        frame["channel"] = channel
    return connection.receive_frame(json.dumps(frame), now)


def sent(outputs: list[Output]) -> list[dict[str, Any]]:
    """The frames among the outputs, parsed."""
    return [json.loads(o.frame) for o in outputs if isinstance(o, SendFrame)]


def only_frame(outputs: list[Output]) -> dict[str, Any]:
    assert len(outputs) == 1, outputs
    (frame,) = sent(outputs)
    return frame


def subscribe(
    connection: Connection, channel: str, channel_data: str | None = None, auth: str | None = None
) -> list[Output]:
    data: dict[str, Any] = {"channel": channel}
    if auth is None and not channel.startswith(("private-", "presence-")):
        auth = ""
    elif auth is None:
        auth = channel_auth(KEY, SECRET, SOCKET_ID, channel, channel_data)
    data["auth"] = auth
    if channel_data is not None:
        data["channel_data"] = channel_data
    return send(connection, "pusher:subscribe", data)


def sign_in(connection: Connection, user_data: str, auth: str | None = None) -> list[Output]:
    auth = auth if auth is not None else user_auth(KEY, SECRET, SOCKET_ID, user_data)
    return send(connection, "pusher:signin", {"auth": auth, "user_data": user_data})


def assert_subscription_error(outputs: list[Output], error_type: str, status: int) -> str:
    frame = only_frame(outputs)
    assert frame["event"] == "pusher:subscription_error"
    assert frame["data"]["type"] == error_type
    assert frame["data"]["status"] == status
    message: str = frame["data"]["error"]
    return message


def assert_client_event_rejected(outputs: list[Output]) -> str:
    frame = only_frame(outputs)
    assert frame["event"] == "pusher:error"
    assert frame["data"]["code"] == ErrorCode.CLIENT_EVENT_REJECTED
    message: str = frame["data"]["message"]
    return message


# --- connecting ---------------------------------------------------------------------------


def test_a_new_connection_greets_with_its_socket_id_as_a_json_string() -> None:
    connection = Connection(SOCKET_ID, KEY, SECRET, ConnectionLimits(activity_timeout=30))
    frame = only_frame(connection.open(now=0.0))
    assert frame["event"] == "pusher:connection_established"
    assert json.loads(frame["data"]) == {"socket_id": SOCKET_ID, "activity_timeout": 30}
    assert connection.state is ConnectionState.OPEN


def test_nothing_is_accepted_before_connection_established() -> None:
    connection = Connection(SOCKET_ID, KEY, SECRET, ConnectionLimits())
    outputs = send(connection, "pusher:subscribe", {"channel": "news"})
    assert only_frame(outputs)["event"] == "pusher:error"
    assert not connection.is_subscribed("news")


@pytest.mark.parametrize("data", ["", {}, None])
def test_a_ping_gets_a_pong_whatever_its_data(data: Any) -> None:
    assert only_frame(send(opened(), "pusher:ping", data)) == {"event": "pusher:pong", "data": "{}"}


def test_a_pong_is_accepted_silently() -> None:
    assert send(opened(), "pusher:pong", {}) == []


@pytest.mark.parametrize(
    "text", ["not json", "[1, 2]", '{"data": {}}', '{"event": 5}', b"\x00binary"]
)
def test_a_malformed_frame_gets_an_error_without_code_and_the_connection_stays_open(
    text: str | bytes,
) -> None:
    connection = opened()
    frame = only_frame(connection.receive_frame(text, 1.0))
    assert frame["event"] == "pusher:error"
    assert frame["data"]["code"] is None
    assert connection.state is ConnectionState.OPEN


def test_unknown_pusher_events_are_ignored_with_a_log_line() -> None:
    outputs = send(opened(), "pusher:shout", {})
    assert len(outputs) == 1 and isinstance(outputs[0], LogMessage)


def test_subscribe_data_may_arrive_as_a_json_string() -> None:
    outputs = send(opened(), "pusher:subscribe", json.dumps({"channel": "news"}))
    assert isinstance(outputs[0], Subscribe) and outputs[0].channel.name == "news"


def test_subscribe_without_a_channel_name_is_a_malformed_frame() -> None:
    frame = only_frame(send(opened(), "pusher:subscribe", {"auth": ""}))
    assert frame["event"] == "pusher:error" and frame["data"]["code"] is None


# --- subscriptions ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [{"channel": "news"}, {"channel": "news", "auth": ""}])
def test_a_public_channel_needs_no_auth(data: dict[str, str]) -> None:
    connection = opened()
    outputs = send(connection, "pusher:subscribe", data)
    assert outputs == [Subscribe(outputs[0].channel)]  # type: ignore[union-attr]
    assert connection.is_subscribed("news")


@pytest.mark.parametrize(
    "channel", ["private-room", "private-encrypted-room", "private-cache-room"]
)
def test_a_private_channel_is_joined_with_a_valid_signature(channel: str) -> None:
    outputs = subscribe(opened(), channel)
    assert isinstance(outputs[0], Subscribe) and outputs[0].member is None


def test_a_private_channel_without_auth_is_refused_with_an_auth_error() -> None:
    connection = opened()
    message = assert_subscription_error(
        subscribe(connection, "private-room", auth=""), "AuthError", 401
    )
    assert "Auth info required" in message
    assert not connection.is_subscribed("private-room")


def test_a_wrong_signature_is_refused_and_names_the_string_to_sign() -> None:
    outputs = subscribe(opened(), "private-room", auth=f"{KEY}:{'0' * 64}")
    message = assert_subscription_error(outputs, "AuthError", 401)
    assert f"{SOCKET_ID}:private-room" in message


def test_a_signature_with_another_apps_key_is_refused() -> None:
    auth = channel_auth("other-key", SECRET, SOCKET_ID, "private-room")
    assert_subscription_error(subscribe(opened(), "private-room", auth=auth), "AuthError", 401)


def test_the_presence_signature_covers_the_raw_channel_data_and_the_user_id_becomes_a_string() -> (
    None
):
    key, secret = "278d425bdf160c739803", "7ad3773142a6692b25b8"
    channel_data = '{"user_id":10,"user_info":{"name":"Mr. Pusher"}}'
    signature = "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"  # PROTOCOL.md 16
    connection = opened(key=key, secret=secret)
    outputs = send(
        connection,
        "pusher:subscribe",
        {"channel": "presence-foobar", "auth": f"{key}:{signature}", "channel_data": channel_data},
    )
    assert isinstance(outputs[0], Subscribe)
    assert outputs[0].member == PresenceMember("10", {"name": "Mr. Pusher"})


def test_a_presence_channel_without_channel_data_is_refused() -> None:
    auth = channel_auth(KEY, SECRET, SOCKET_ID, "presence-room")
    assert_subscription_error(subscribe(opened(), "presence-room", auth=auth), "AuthError", 401)


def test_presence_channel_data_without_a_user_id_is_refused() -> None:
    assert_subscription_error(
        subscribe(opened(), "presence-room", '{"user_info":{}}'), "AuthError", 400
    )


def test_presence_user_info_over_the_limit_is_refused_as_limit_reached() -> None:
    limits = ConnectionLimits(max_presence_user_info_bytes=20)
    channel_data = json.dumps({"user_id": "1", "user_info": {"name": "x" * 30}})
    assert_subscription_error(
        subscribe(opened(limits), "presence-room", channel_data), "LimitReached", 4301
    )


def test_a_presence_user_id_over_128_characters_is_refused() -> None:
    channel_data = json.dumps({"user_id": "u" * 129})
    assert_subscription_error(
        subscribe(opened(), "presence-room", channel_data), "LimitReached", 4009
    )


def test_a_channel_name_over_the_limit_is_refused_as_limit_reached() -> None:
    assert_subscription_error(subscribe(opened(), "c" * 201), "LimitReached", 4009)


def test_a_channel_name_with_bad_characters_is_refused() -> None:
    assert_subscription_error(subscribe(opened(), "news room"), "AuthError", 400)


def test_server_to_user_channel_is_only_for_the_socket_signed_in_as_that_user() -> None:
    connection = opened()
    assert_subscription_error(subscribe(connection, "#server-to-user-42"), "AuthError", 403)
    sign_in(connection, '{"id":"42"}')
    assert_subscription_error(subscribe(connection, "#server-to-user-7"), "AuthError", 403)
    outputs = subscribe(connection, "#server-to-user-42")
    assert isinstance(outputs[0], Subscribe)
    assert outputs[0].channel.kind is ChannelKind.SERVER_TO_USER


def test_subscribing_twice_is_answered_again_and_keeps_the_first_presence_identity() -> None:
    connection = opened()
    subscribe(connection, "presence-room", '{"user_id":"1"}')
    outputs = subscribe(connection, "presence-room", '{"user_id":"2"}')
    assert isinstance(outputs[0], Subscribe) and outputs[0].member == PresenceMember("1", None)
    assert connection.subscriptions == ["presence-room"]


def test_a_failed_resubscribe_keeps_the_existing_subscription() -> None:
    connection = opened()
    subscribe(connection, "private-room")
    subscribe(connection, "private-room", auth="app-key:bad")
    assert connection.is_subscribed("private-room")


def test_subscriptions_beyond_the_per_connection_limit_are_refused() -> None:
    connection = opened(ConnectionLimits(max_subscriptions=2))
    subscribe(connection, "a")
    subscribe(connection, "b")
    assert_subscription_error(subscribe(connection, "c"), "LimitReached", 4009)
    assert isinstance(subscribe(connection, "b")[0], Subscribe)  # a repeat is still fine


def test_unsubscribe_leaves_once_and_answers_nothing() -> None:
    connection = opened()
    subscribe(connection, "presence-room", '{"user_id":"1"}')
    outputs = send(connection, "pusher:unsubscribe", {"channel": "presence-room"})
    assert len(outputs) == 1 and isinstance(outputs[0], Unsubscribe)
    assert outputs[0].member == PresenceMember("1", None)
    assert send(connection, "pusher:unsubscribe", {"channel": "presence-room"}) == []


def test_a_subscription_the_registry_refuses_is_forgotten() -> None:
    connection = opened()
    subscribe(connection, "presence-room", '{"user_id":"1"}')
    outputs = connection.subscription_failed("presence-room", "LimitReached", "full", 4100)
    assert_subscription_error(outputs, "LimitReached", 4100)
    assert not connection.is_subscribed("presence-room")


# --- client events ------------------------------------------------------------------------


def test_a_client_event_is_relayed_with_its_data_as_sent() -> None:
    connection = opened()
    subscribe(connection, "private-room")
    outputs = send(connection, "client-typing", {"t": 1}, "private-room")
    assert len(outputs) == 1 and isinstance(outputs[0], PublishClientEvent)
    relayed = json.loads(outputs[0].frame)
    assert relayed == {"event": "client-typing", "channel": "private-room", "data": {"t": 1}}


def test_a_presence_client_event_carries_the_senders_user_id_from_channel_data() -> None:
    connection = opened()
    subscribe(connection, "presence-room", '{"user_id":"7"}')
    outputs = send(connection, "client-typing", {"user_id": "forged"}, "presence-room")
    assert isinstance(outputs[0], PublishClientEvent)
    assert outputs[0].user_id == "7"
    assert json.loads(outputs[0].frame)["user_id"] == "7"


def test_a_client_event_on_a_channel_not_subscribed_is_rejected() -> None:
    assert "not subscribed" in assert_client_event_rejected(
        send(opened(), "client-x", {}, "private-room")
    )


@pytest.mark.parametrize("channel", ["news", "private-encrypted-room"])
def test_client_events_are_rejected_on_public_and_encrypted_channels(channel: str) -> None:
    connection = opened()
    subscribe(connection, channel)
    assert_client_event_rejected(send(connection, "client-x", {}, channel))


def test_an_event_name_not_starting_with_client_is_rejected() -> None:
    connection = opened()
    subscribe(connection, "private-room")
    assert "client-" in assert_client_event_rejected(send(connection, "typing", {}, "private-room"))


def test_client_event_data_over_the_size_limit_is_rejected() -> None:
    connection = opened(ConnectionLimits(max_event_payload_bytes=10))
    subscribe(connection, "private-room")
    assert_client_event_rejected(send(connection, "client-x", "x" * 20, "private-room"))


def test_client_events_are_rejected_when_the_app_switches_them_off() -> None:
    connection = opened(ConnectionLimits(client_events_enabled=False))
    subscribe(connection, "private-room")
    message = assert_client_event_rejected(send(connection, "client-x", {}, "private-room"))
    assert "client messaging" in message


def test_the_eleventh_client_event_within_a_second_is_rejected_and_the_bucket_refills() -> None:
    connection = opened()
    subscribe(connection, "private-room")
    for i in range(10):
        assert isinstance(
            send(connection, "client-x", i, "private-room", now=1.0)[0], PublishClientEvent
        )
    assert_client_event_rejected(send(connection, "client-x", 10, "private-room", now=1.05))
    assert connection.state is ConnectionState.OPEN
    assert isinstance(
        send(connection, "client-x", 11, "private-room", now=1.2)[0], PublishClientEvent
    )


def test_a_zero_rate_limit_means_unlimited_client_events() -> None:
    connection = opened(ConnectionLimits(max_client_events_per_second=0))
    subscribe(connection, "private-room")
    outputs = [send(connection, "client-x", i, "private-room")[0] for i in range(50)]
    assert all(isinstance(o, PublishClientEvent) for o in outputs)


# --- sign-in ------------------------------------------------------------------------------


def test_sign_in_with_a_valid_signature_echoes_the_exact_user_data() -> None:
    key, secret = "278d425bdf160c739803", "7ad3773142a6692b25b8"
    connection = opened(key=key, secret=secret)
    signature = "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"  # PROTOCOL.md 16
    user_data = '{"id":"12345"}'
    outputs = send(
        connection, "pusher:signin", {"auth": f"{key}:{signature}", "user_data": user_data}
    )
    assert sent(outputs) == [{"event": "pusher:signin_success", "data": {"user_data": user_data}}]
    assert outputs[1] == SignIn("12345", None, ())
    assert connection.user_id == "12345"


@pytest.mark.parametrize(
    "user_data",
    [
        '{"id":12}',
        '{"id":""}',
        '{"name":"x"}',
        "[]",
        "not json",
        '{"id":"#x"}',
        '{"id":"1","watchlist":"2"}',
    ],
)
def test_sign_in_with_bad_user_data_closes_with_4009(user_data: str) -> None:
    connection = opened()
    outputs = sign_in(connection, user_data)
    assert sent(outputs)[0]["data"]["code"] == ErrorCode.UNAUTHORIZED
    assert outputs[-1] == CloseConnection(ErrorCode.UNAUTHORIZED, outputs[-1].reason)  # type: ignore[union-attr]
    assert connection.state is ConnectionState.CLOSED


def test_sign_in_with_a_bad_signature_closes_with_4009() -> None:
    outputs = sign_in(opened(), '{"id":"1"}', auth="app-key:bad")
    assert isinstance(outputs[-1], CloseConnection) and outputs[-1].code is ErrorCode.UNAUTHORIZED


def test_signing_in_again_as_the_same_user_succeeds_without_a_second_action() -> None:
    connection = opened()
    sign_in(connection, '{"id":"1"}')
    outputs = sign_in(connection, '{"id":"1","user_info":{}}')
    assert len(outputs) == 1 and isinstance(outputs[0], SendFrame)


def test_signing_in_as_another_user_closes_the_connection() -> None:
    connection = opened()
    sign_in(connection, '{"id":"1"}')
    outputs = sign_in(connection, '{"id":"2"}')
    assert isinstance(outputs[-1], CloseConnection)


def test_a_watchlist_over_the_limit_keeps_the_first_ids_and_reports_4302() -> None:
    watchlist = [str(i) for i in range(101)]
    outputs = sign_in(opened(), json.dumps({"id": "me", "watchlist": watchlist}))
    assert sent(outputs)[1]["data"]["code"] == ErrorCode.WATCHLIST_LIMIT
    sign_in_action = outputs[-1]
    assert isinstance(sign_in_action, SignIn) and sign_in_action.watchlist == tuple(watchlist[:100])


# --- liveness and closing -----------------------------------------------------------------


def test_silence_gets_a_ping_after_the_activity_timeout_then_a_4201_close() -> None:
    connection = opened(ConnectionLimits(activity_timeout=120, pong_timeout=30))
    assert connection.tick(119.0) == []
    assert sent(connection.tick(120.0)) == [{"event": "pusher:ping", "data": "{}"}]
    assert connection.tick(149.0) == []
    outputs = connection.tick(150.0)
    assert sent(outputs)[0]["data"]["code"] == ErrorCode.PONG_NOT_RECEIVED
    assert outputs[-1] == CloseConnection(ErrorCode.PONG_NOT_RECEIVED, "Pong reply not received")


def test_any_frame_after_a_ping_keeps_the_connection_alive() -> None:
    connection = opened(ConnectionLimits(activity_timeout=120, pong_timeout=30))
    connection.tick(120.0)
    send(connection, "pusher:pong", {}, now=125.0)
    assert connection.tick(150.0) == []


def test_a_websocket_control_frame_counts_as_activity() -> None:
    connection = opened(ConnectionLimits(activity_timeout=120, pong_timeout=30))
    connection.receive_control_frame(100.0)
    assert connection.tick(200.0) == []


def test_a_server_close_sends_the_error_then_closes_and_ignores_later_input() -> None:
    connection = opened()
    outputs = connection.close(ErrorCode.GENERIC_RECONNECT, "Server is closing")
    assert sent(outputs)[0]["data"] == {"code": 4200, "message": "Server is closing"}
    assert outputs[-1] == CloseConnection(ErrorCode.GENERIC_RECONNECT, "Server is closing")
    assert send(connection, "pusher:ping") == []
    assert connection.close(ErrorCode.GENERIC_RECONNECT, "again") == []
    assert connection.tick(1000.0) == []


def test_losing_the_connection_leaves_every_channel_and_signs_out_once() -> None:
    connection = opened()
    sign_in(connection, '{"id":"1"}')
    subscribe(connection, "news")
    subscribe(connection, "presence-room", '{"user_id":"1"}')
    outputs = connection.connection_lost()
    assert [type(o) for o in outputs] == [Unsubscribe, Unsubscribe, SignOut]
    assert connection.connection_lost() == []


def test_the_protocol_core_imports_no_io_library() -> None:
    code = (
        "import sys, doubletick.protocol.connection; "
        "print(sorted({'asyncio', 'aiohttp', 'websockets', 'socket'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
