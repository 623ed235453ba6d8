from __future__ import annotations

import json
from typing import Any

import pytest

from doubletick.delivery import (
    MAX_EVENT_BYTES,
    DeliveryState,
    LocalProtocolError,
    MessageAdded,
    Receipt,
    Rejection,
    Typing,
    WireEvent,
    parse_event,
)
from doubletick.delivery.wire import event_size


def test_the_tutorial_message_shape_parses() -> None:
    parsed = parse_event("client-message-added", {"id": "m1", "message": "hi"})
    assert parsed == MessageAdded("m1", "hi")


def test_a_message_as_a_json_string_parses_like_a_dict() -> None:
    data = {"id": "m1", "message": "hi", "sender": "bob", "seq": 3, "sent_at": 1.5}
    assert parse_event("client-message-added", json.dumps(data)) == parse_event(
        "client-message-added", data
    )


def test_unknown_extra_fields_are_ignored() -> None:
    parsed = parse_event("client-message-delivered", {"id": "m1", "colour": "blue"})
    assert parsed == Receipt(DeliveryState.DELIVERED, "m1")


def test_a_read_receipt_with_every_extension_parses() -> None:
    data = {
        "id": "m2",
        "recipient": "bob",
        "sender": "alice",
        "up_to_seq": 2,
        "at": 7,
        "times": {"m1": 6.5, "m2": 7},
    }
    parsed = parse_event("client-message-read", data)
    assert parsed == Receipt(
        DeliveryState.READ, "m2", "bob", "alice", 2, 7.0, (("m1", 6.5), ("m2", 7.0))
    )
    assert isinstance(parsed, Receipt)
    assert parsed.event is WireEvent.MESSAGE_READ
    assert parsed.to_data() == {**data, "at": 7.0, "times": {"m1": 6.5, "m2": 7.0}}


def test_a_typing_event_parses_with_or_without_sender() -> None:
    assert parse_event("client-typing", {}) == Typing()
    assert parse_event("client-typing", '{"sender": "bob"}') == Typing("bob")


@pytest.mark.parametrize(
    ("event", "data", "reason"),
    [
        ("client-message-added", "{not json", "data is not JSON"),
        ("client-message-added", "[1, 2]", "data must be a JSON object"),
        ("client-message-added", None, "data must be a JSON object"),
        ("client-message-added", {"message": "hi"}, "id is missing"),
        ("client-message-added", {"id": "m1"}, "message is missing"),
        ("client-message-added", {"id": 7, "message": "hi"}, "id must be a string"),
        ("client-message-added", {"id": "", "message": "hi"}, "id must be 1 to 128"),
        ("client-message-added", {"id": "x" * 129, "message": "hi"}, "id must be 1 to 128"),
        ("client-message-added", {"id": "m", "message": "hi", "seq": 0}, "seq must be at"),
        ("client-message-added", {"id": "m", "message": "hi", "seq": 1.5}, "seq must be an"),
        ("client-message-added", {"id": "m", "message": "hi", "seq": True}, "seq must be an"),
        ("client-message-added", {"id": "m", "message": "hi", "sent_at": "x"}, "sent_at must"),
        ("client-message-added", '{"id":"m","message":"hi","sent_at":1e999}', "finite"),
        ("client-message-added", {"id": "m", "message": "h", "sent_at": 10**400}, "range"),
        ("client-message-delivered", {"id": "m", "times": []}, "times must be an object"),
        ("client-message-delivered", {"id": "m", "times": {"a": "b"}}, "a must be a number"),
        ("client-message-read", {"id": "m", "up_to_seq": -1}, "up_to_seq must be at"),
        ("client-message-read", {"id": "m", "recipient": ""}, "recipient must be 1 to"),
        ("client-typing", {"sender": 5}, "sender must be a string"),
        ("client-something-else", {}, "not an event of the delivery protocol"),
    ],
)
def test_malformed_peer_data_becomes_a_rejection_that_says_why(
    event: str, data: Any, reason: str
) -> None:
    parsed = parse_event(event, data)
    assert isinstance(parsed, Rejection)
    assert parsed.event == event
    assert reason in parsed.reason


def test_a_message_serialises_without_the_fields_it_lacks() -> None:
    assert MessageAdded("m1", "hi").to_data() == {"id": "m1", "message": "hi"}
    assert MessageAdded("m1", "hi").event == "client-message-added"


def test_a_receipt_for_one_message_is_tutorial_shaped() -> None:
    receipt = Receipt(DeliveryState.DELIVERED, "m1", times=(("m1", 2.0),))
    assert receipt.event == "client-message-delivered"
    assert receipt.to_data() == {"id": "m1"}


def test_a_receipt_names_every_covered_message_with_its_time() -> None:
    receipt = Receipt(DeliveryState.READ, "m2", at=5.0, times=(("m1", 4.0),))
    assert receipt.covered_times() == {"m1": 4.0, "m2": 5.0}


def test_our_own_code_cannot_build_a_receipt_for_a_state_that_is_not_a_receipt() -> None:
    with pytest.raises(LocalProtocolError, match="DELIVERED or READ"):
        Receipt(DeliveryState.SENT, "m1")


def test_our_own_code_cannot_build_a_receipt_with_a_bad_time() -> None:
    with pytest.raises(LocalProtocolError, match="times value must be a finite number"):
        Receipt(DeliveryState.READ, "m1", times=(("m1", float("nan")),))


def test_typing_serialises_its_sender() -> None:
    assert Typing("alice").to_data() == {"sender": "alice"}
    assert Typing().event == "client-typing"


def test_event_size_counts_utf8_bytes_of_compact_json() -> None:
    assert event_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert MAX_EVENT_BYTES == 10_240
