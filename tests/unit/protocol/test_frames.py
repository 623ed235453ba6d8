"""Frames: parsing what clients send, and the double-encoding of what we send."""

from __future__ import annotations

import json

import pytest

from doubletick.protocol import frames
from doubletick.protocol.errors import ErrorCode, RemoteProtocolError


def test_connection_established_data_is_a_json_string_pysher_can_load() -> None:
    frame = json.loads(frames.connection_established("1.2", 120))
    assert frame["event"] == "pusher:connection_established"
    assert isinstance(frame["data"], str)
    assert json.loads(frame["data"]) == {"socket_id": "1.2", "activity_timeout": 120}


def test_error_data_is_an_object_with_code_and_message() -> None:
    frame = json.loads(frames.error(ErrorCode.CLIENT_EVENT_REJECTED, "too fast"))
    assert frame == {"event": "pusher:error", "data": {"code": 4301, "message": "too fast"}}
    assert json.loads(frames.error(None, "bad"))["data"]["code"] is None


def test_published_data_is_forwarded_verbatim() -> None:
    data = '{"some":  "spacing", "kept": "\\u00e9"}'
    frame = json.loads(frames.channel_event("my-event", "c", data))
    assert frame["data"] == data


def test_client_event_data_stays_an_object_and_carries_user_id() -> None:
    frame = json.loads(frames.client_event("client-x", "presence-a", {"id": 1}, user_id="7"))
    assert frame == {
        "event": "client-x",
        "channel": "presence-a",
        "data": {"id": 1},
        "user_id": "7",
    }


def test_presence_subscription_data_is_double_encoded() -> None:
    members = {"1": {"name": "a"}, "2": None}
    frame = json.loads(frames.subscription_succeeded("presence-x", frames.presence_data(members)))
    presence = json.loads(frame["data"])["presence"]
    assert presence == {"ids": ["1", "2"], "hash": members, "count": 2}


def test_member_events_are_double_encoded() -> None:
    added = json.loads(frames.member_added("presence-x", "2", {"n": 1}))
    assert json.loads(added["data"]) == {"user_id": "2", "user_info": {"n": 1}}
    removed = json.loads(frames.member_removed("presence-x", "2"))
    assert json.loads(removed["data"]) == {"user_id": "2"}


def test_signin_success_echoes_user_data_exactly() -> None:
    user_data = '{"id": "42",  "user_info": {}}'
    frame = json.loads(frames.signin_success(user_data))
    assert frame["data"]["user_data"] == user_data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, {}),
        ("", {}),
        ({"channel": "a"}, {"channel": "a"}),
        ('{"channel": "a"}', {"channel": "a"}),
    ],
)
def test_client_data_may_be_an_object_a_json_string_or_empty(data: object, expected: dict) -> None:
    assert frames.ClientFrame("pusher:subscribe", data=data).data_object() == expected


@pytest.mark.parametrize("data", ["not json", "[1]", 5, ["a"]])
def test_client_data_that_is_not_an_object_is_rejected(data: object) -> None:
    with pytest.raises(RemoteProtocolError):
        frames.ClientFrame("pusher:subscribe", data=data).data_object()


def test_parse_frame_reads_the_envelope() -> None:
    frame = frames.parse_frame('{"event":"client-x","channel":"private-a","data":{"k":1}}')
    assert frame == frames.ClientFrame("client-x", "private-a", {"k": 1})


@pytest.mark.parametrize(
    "text",
    [b"binary", "nope", "[]", "{}", '{"event": 5}', '{"event": ""}', '{"event":"x","channel":1}'],
)
def test_parse_frame_rejects_malformed_input_with_a_protocol_error(text: str | bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        frames.parse_frame(text)


def test_error_code_ranges_decide_what_clients_do() -> None:
    assert not ErrorCode.APP_NOT_FOUND.client_reconnects
    assert ErrorCode.OVER_CAPACITY.client_reconnects
    assert ErrorCode.PONG_NOT_RECEIVED.client_reconnects
    assert ErrorCode.CLIENT_EVENT_REJECTED.closes_connection is False
    assert ErrorCode.UNAUTHORIZED.closes_connection is True


def test_a_short_frame_fits_the_limit_without_measuring_its_data() -> None:
    frame = frames.parse_frame('{"event":"client-x","channel":"private-a","data":{"k":1}}')
    assert frame.text_length > 0
    assert frame.data_fits(4 * frame.text_length)


def test_data_size_counts_utf8_bytes_when_the_frame_is_long() -> None:
    data = {"text": "\u00e9" * 100}  # 2 bytes each in UTF-8
    frame = frames.ClientFrame("client-x", "private-a", data, text_length=150)
    assert not frame.data_fits(210)
    assert frame.data_fits(220)
