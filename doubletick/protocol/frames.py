"""Frames of the Pusher protocol: parsing what clients send, serialising what we send.

The "double encoding" rule (PROTOCOL.md section 2): server-to-client `data` of channel
events, `pusher:connection_established` and every `pusher_internal:*` event is a
JSON-encoded *string*; `pusher:error` and `pusher:subscription_error` carry an object (pysher
indexes `data['code']`); data published through the REST API is forwarded verbatim; client
events are relayed with `data` as received (an object stays an object).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from doubletick.protocol.errors import ErrorCode, RemoteProtocolError

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: object) -> str:
    """Compact JSON, as Pusher's service writes it."""
    return _compact(value)


@dataclass(frozen=True, slots=True)
class ClientFrame:
    """One frame a client sent: the envelope parsed, `data` exactly as received."""

    event: str
    channel: str | None = None
    data: Any = None
    # characters of the frame's text (0 when unknown): a cheap bound on the data's size
    text_length: int = field(default=0, compare=False)

    def data_fits(self, limit: int) -> bool:
        """Whether `data`, serialised, is at most `limit` bytes (UTF-8).

        A frame whose whole text is short enough cannot hold more (4 bytes per character at
        most), which spares serialising small payloads a second time just to measure them.
        """
        if self.text_length > 0 and self.text_length * 4 <= limit:
            return True
        return len(dumps(self.data).encode()) <= limit

    def data_object(self) -> dict[str, Any]:
        """`data` as an object: accepts an object, a string holding a JSON object, or nothing.

        Raises RemoteProtocolError when `data` is anything else.
        """
        data = self.data
        if data is None or data == "":
            return {}
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise RemoteProtocolError(f"{self.event}: data is not JSON") from None
        if not isinstance(data, dict):
            raise RemoteProtocolError(f"{self.event}: data must be an object")
        return data


def parse_frame(text: str | bytes) -> ClientFrame:
    """Parse one client frame. Raises RemoteProtocolError (no close) for anything malformed."""
    if isinstance(text, bytes):
        raise RemoteProtocolError("binary frames are not supported: send UTF-8 JSON text")
    try:
        envelope = json.loads(text)
    except ValueError:
        raise RemoteProtocolError("invalid frame: not JSON") from None
    if not isinstance(envelope, dict):
        raise RemoteProtocolError("invalid frame: expected a JSON object")
    event = envelope.get("event")
    if not isinstance(event, str) or not event:
        raise RemoteProtocolError("invalid frame: 'event' must be a non-empty string")
    channel = envelope.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise RemoteProtocolError("invalid frame: 'channel' must be a string")
    return ClientFrame(event, channel, envelope.get("data"), text_length=len(text))


# --- frames the server sends --------------------------------------------------------------


def event_frame(
    event: str, data: object = None, channel: str | None = None, user_id: str | None = None
) -> str:
    """A frame with `data` as given (pass a str for double-encoded data)."""
    frame: dict[str, object] = {"event": event}
    if channel is not None:
        frame["channel"] = channel
    if data is not None:
        frame["data"] = data
    if user_id is not None:
        frame["user_id"] = user_id
    return dumps(frame)


def connection_established(socket_id: str, activity_timeout: int) -> str:
    data = dumps({"socket_id": socket_id, "activity_timeout": activity_timeout})
    return event_frame("pusher:connection_established", data)


def error(code: ErrorCode | None, message: str, channel: str | None = None) -> str:
    """`pusher:error` with an object `{code, message}` (code null when Pusher gives none)."""
    return event_frame(
        "pusher:error", {"code": None if code is None else int(code), "message": message}, channel
    )


def pong() -> str:
    return event_frame("pusher:pong", "{}")


def ping() -> str:
    return event_frame("pusher:ping", "{}")


def subscription_succeeded(channel: str, presence: dict[str, Any] | None = None) -> str:
    data = "{}" if presence is None else dumps({"presence": presence})
    return event_frame("pusher_internal:subscription_succeeded", data, channel)


def presence_data(members: dict[str, Any]) -> dict[str, Any]:
    """The `presence` object of a presence subscription: ids, hash, count."""
    return {"ids": list(members), "hash": members, "count": len(members)}


def subscription_error(channel: str, error_type: str, message: str, status: int) -> str:
    """soketi-style `pusher:subscription_error`: the channel fails, the connection stays."""
    data = {"type": error_type, "error": message, "status": status}
    return event_frame("pusher:subscription_error", data, channel)


def member_added(channel: str, user_id: str, user_info: object) -> str:
    data: dict[str, object] = {"user_id": user_id}
    if user_info is not None:
        data["user_info"] = user_info
    return event_frame("pusher_internal:member_added", dumps(data), channel)


def member_removed(channel: str, user_id: str) -> str:
    return event_frame("pusher_internal:member_removed", dumps({"user_id": user_id}), channel)


def subscription_count(channel: str, count: int) -> str:
    data = dumps({"subscription_count": count})
    return event_frame("pusher_internal:subscription_count", data, channel)


def cache_miss(channel: str) -> str:
    return event_frame("pusher:cache_miss", None, channel)


def signin_success(user_data: str) -> str:
    return event_frame("pusher:signin_success", {"user_data": user_data})


def watchlist_events(events: list[dict[str, object]]) -> str:
    return event_frame("pusher_internal:watchlist_events", dumps({"events": events}))


def channel_event(event: str, channel: str, data: str, user_id: str | None = None) -> str:
    """An event published through the REST API: `data` forwarded verbatim."""
    return event_frame(event, data, channel, user_id)


def client_event(event: str, channel: str, data: object, user_id: str | None = None) -> str:
    """A relayed client event: `data` as received, `user_id` added on presence channels."""
    return event_frame(event, data, channel, user_id)
