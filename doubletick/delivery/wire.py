"""The client events that carry messages and receipts, compatible with the Pusher tutorial.

The classic tutorial page sends `client-message-added` with `{id, message}` and answers
`client-message-delivered` with `{id}`. Everything else is an extension that such a page
ignores:

    client-message-added      {id, message, sender?, seq?, sent_at?}
    client-message-delivered  {id, recipient?, sender?, up_to_seq?, at?, times?}
    client-message-read       {id, recipient?, sender?, up_to_seq?, at?, times?}
    client-typing             {sender?}

`seq` numbers a sender's messages in one conversation from 1. In a receipt, `recipient` is
who acknowledges, `sender` whose message it acknowledges, `id` the newest message covered,
`up_to_seq` covers every message of `sender` with a seq up to it (the receiver has all of
them), `times` maps each id covered to the receiver-side time it was stored or shown, and `at`
is that time for `id`. Times are the sender's or receiver's own monotonic clocks: only
comparable across the two sides when both share a clock.

Parsing accepts a dict or a string holding a JSON object (pysher hands server-published data
as a string), ignores unknown fields, and turns anything malformed into a Rejection.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any

from doubletick.delivery.states import DeliveryState, LocalProtocolError, RemoteProtocolError

MAX_ID_LENGTH = 128
MAX_EVENT_BYTES = 10_240  # Pusher's limit on one client event's payload


class WireEvent(enum.StrEnum):
    """The client event names of the delivery protocol."""

    MESSAGE_ADDED = "client-message-added"
    MESSAGE_DELIVERED = "client-message-delivered"
    MESSAGE_READ = "client-message-read"
    TYPING = "client-typing"


def _check_text(name: str, value: str | None, *, limit: int = MAX_ID_LENGTH) -> None:
    if value is not None and not 0 < len(value) <= limit:
        raise LocalProtocolError(f"{name} must be 1 to {limit} characters")


def _check_seq(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise LocalProtocolError(f"{name} must be at least 1")


def _check_time(name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise LocalProtocolError(f"{name} must be a finite number")


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class MessageAdded:
    """A chat message on the wire. Raises LocalProtocolError when built with bad values."""

    id: str
    message: str
    sender: str | None = None
    seq: int | None = None
    sent_at: float | None = None

    def __post_init__(self) -> None:
        _check_text("id", self.id)
        _check_text("sender", self.sender)
        _check_seq("seq", self.seq)
        _check_time("sent_at", self.sent_at)

    @property
    def event(self) -> WireEvent:
        """The client event name this travels under."""
        return WireEvent.MESSAGE_ADDED

    def to_data(self) -> dict[str, Any]:
        """The event's data object; optional fields are left out when unknown."""
        return _without_none(
            {
                "id": self.id,
                "message": self.message,
                "sender": self.sender,
                "seq": self.seq,
                "sent_at": self.sent_at,
            }
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivered or read receipt. `state` is DeliveryState.DELIVERED or .READ."""

    state: DeliveryState
    id: str
    recipient: str | None = None
    sender: str | None = None
    up_to_seq: int | None = None
    at: float | None = None
    times: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.state not in (DeliveryState.DELIVERED, DeliveryState.READ):
            raise LocalProtocolError("a receipt is for DELIVERED or READ")
        _check_text("id", self.id)
        _check_text("recipient", self.recipient)
        _check_text("sender", self.sender)
        _check_seq("up_to_seq", self.up_to_seq)
        _check_time("at", self.at)
        for message_id, at in self.times:
            _check_text("times id", message_id)
            _check_time("times value", at)

    @property
    def event(self) -> WireEvent:
        """The client event name this travels under."""
        if self.state is DeliveryState.READ:
            return WireEvent.MESSAGE_READ
        return WireEvent.MESSAGE_DELIVERED

    def covered_times(self) -> dict[str, float | None]:
        """Every id this receipt names, with its receiver-side time where known."""
        covered: dict[str, float | None] = dict(self.times)
        covered[self.id] = covered.get(self.id, self.at)
        return covered

    def to_data(self) -> dict[str, Any]:
        """The event's data object; `times` is sent only when it names several messages."""
        times = dict(self.times) if len(self.times) > 1 else None
        return _without_none(
            {
                "id": self.id,
                "recipient": self.recipient,
                "sender": self.sender,
                "up_to_seq": self.up_to_seq,
                "at": self.at,
                "times": times,
            }
        )


@dataclass(frozen=True, slots=True)
class Typing:
    """The sender is typing (ephemeral: never resent, dropped when the budget is spent)."""

    sender: str | None = None

    def __post_init__(self) -> None:
        _check_text("sender", self.sender)

    @property
    def event(self) -> WireEvent:
        """The client event name this travels under."""
        return WireEvent.TYPING

    def to_data(self) -> dict[str, Any]:
        """The event's data object."""
        return _without_none({"sender": self.sender})


WireData = MessageAdded | Receipt | Typing


@dataclass(frozen=True, slots=True)
class Rejection:
    """Peer data we could not use, and why. Returned, never raised."""

    event: str
    reason: str


def event_size(data: dict[str, Any]) -> int:
    """Bytes of `data` as compact JSON, to compare with MAX_EVENT_BYTES."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def parse_event(event: str, data: object) -> WireData | Rejection:
    """Turn one incoming client event into wire data, or a Rejection saying what was wrong."""
    try:
        fields = _data_object(data)
        if event == WireEvent.MESSAGE_ADDED:
            return _parse_message(fields)
        if event == WireEvent.MESSAGE_DELIVERED:
            return _parse_receipt(DeliveryState.DELIVERED, fields)
        if event == WireEvent.MESSAGE_READ:
            return _parse_receipt(DeliveryState.READ, fields)
        if event == WireEvent.TYPING:
            return Typing(sender=_optional(fields, "sender", str))
        raise RemoteProtocolError("not an event of the delivery protocol")
    except (RemoteProtocolError, LocalProtocolError) as exc:
        return Rejection(event=event, reason=str(exc))


def _data_object(data: object) -> dict[str, Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            raise RemoteProtocolError("data is not JSON") from None
    if not isinstance(data, dict):
        raise RemoteProtocolError("data must be a JSON object")
    return data


def _optional(fields: dict[str, Any], name: str, kind: type[Any]) -> Any:
    value = fields.get(name)
    if value is None:
        return None
    is_number = kind is float and isinstance(value, int | float)
    if isinstance(value, bool) or not (is_number or isinstance(value, kind)):
        raise RemoteProtocolError(f"{name} must be {_KIND_NAMES[kind]}")
    if kind is float:
        try:
            return float(value)
        except OverflowError:
            raise RemoteProtocolError(f"{name} is out of range") from None
    return value


def _required(fields: dict[str, Any], name: str, kind: type[Any]) -> Any:
    value = _optional(fields, name, kind)
    if value is None:
        raise RemoteProtocolError(f"{name} is missing")
    return value


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "an object"}


def _parse_message(fields: dict[str, Any]) -> MessageAdded:
    return MessageAdded(
        id=_required(fields, "id", str),
        message=_required(fields, "message", str),
        sender=_optional(fields, "sender", str),
        seq=_optional(fields, "seq", int),
        sent_at=_optional(fields, "sent_at", float),
    )


def _parse_receipt(state: DeliveryState, fields: dict[str, Any]) -> Receipt:
    times = _optional(fields, "times", dict) or {}
    return Receipt(
        state=state,
        id=_required(fields, "id", str),
        recipient=_optional(fields, "recipient", str),
        sender=_optional(fields, "sender", str),
        up_to_seq=_optional(fields, "up_to_seq", int),
        at=_optional(fields, "at", float),
        times=tuple((key, _required(times, key, float)) for key in times),
    )
