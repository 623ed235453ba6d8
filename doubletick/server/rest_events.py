"""Validation of the REST API's event bodies (`POST /events`, `POST /batch_events`)."""

from __future__ import annotations

from typing import Any

from doubletick.protocol import frames
from doubletick.protocol.channels import Channel, ChannelKind, parse_channel
from doubletick.protocol.errors import RemoteProtocolError
from doubletick.protocol.signing import is_valid_socket_id
from doubletick.server.config import AppConfig
from doubletick.server.runtime import PublishedEvent

_RESERVED_PREFIXES = ("pusher:", "pusher_internal:")
EVENT_INFO = frozenset({"user_count", "subscription_count"})


class RestError(Exception):
    """A REST request the server refuses, with the HTTP status (and headers) to answer."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def parse_info(raw: object, allowed: set[str] | frozenset[str]) -> tuple[str, ...]:
    """The comma-separated `info` attributes; unknown ones are a 400."""
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, str):
        raise RestError(400, "info must be a comma-separated string")
    attributes = tuple(a.strip() for a in raw.split(",") if a.strip())
    unknown = [a for a in attributes if a not in allowed]
    if unknown:
        raise RestError(400, f"unknown info attribute {unknown[0]!r} (allowed: {sorted(allowed)})")
    return attributes


def parse_event(body: Any, app: AppConfig) -> tuple[PublishedEvent, tuple[str, ...]]:
    """One event of `POST /events` (or a batch item): the event and its `info` attributes."""
    if not isinstance(body, dict):
        raise RestError(400, "the event must be a JSON object")
    name = _event_name(body.get("name"), app)
    data = body.get("data")
    if data is None:
        raise RestError(400, "missing data")
    if not isinstance(data, str):
        data = frames.dumps(data)  # Pusher expects a string; accept JSON and encode it once
    size = len(data.encode())
    if size > app.max_event_payload_bytes:
        raise RestError(413, f"data is {size} bytes: the limit is {app.max_event_payload_bytes}")
    channels = _channels(body, app)
    socket_id = body.get("socket_id")
    if socket_id is not None and not is_valid_socket_id(socket_id):
        raise RestError(400, f"invalid socket_id {str(socket_id)[:40]!r}")
    info = parse_info(body.get("info"), EVENT_INFO)
    if "user_count" in info and any(c.kind is not ChannelKind.PRESENCE for c in channels):
        raise RestError(400, "info=user_count is only available for presence channels")
    return PublishedEvent(name, data, channels, socket_id), info


def parse_batch(body: Any, app: AppConfig) -> list[tuple[PublishedEvent, tuple[str, ...]]]:
    """`POST /batch_events`: at most `max_batch_size` events, each checked like one event."""
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, list) or not batch:
        raise RestError(400, "batch must be a non-empty list of events")
    if len(batch) > app.max_batch_size:
        raise RestError(400, f"batch has {len(batch)} events: the limit is {app.max_batch_size}")
    items = []
    for index, item in enumerate(batch):
        try:
            items.append(parse_event(item, app))
        except RestError as exc:
            raise RestError(exc.status, f"batch[{index}]: {exc.message}") from None
    return items


def _event_name(name: object, app: AppConfig) -> str:
    if not isinstance(name, str) or not name:
        raise RestError(400, "missing event name")
    if len(name) > app.max_event_name_length:
        raise RestError(400, f"event name is longer than {app.max_event_name_length} characters")
    if name.startswith(_RESERVED_PREFIXES):
        raise RestError(400, f"event name {name[:50]!r}: pusher: and pusher_internal: are reserved")
    return name


def _channels(body: dict[str, Any], app: AppConfig) -> tuple[Channel, ...]:
    names = body.get("channels")
    if names is None:
        single = body.get("channel")
        names = None if single is None else [single]
    if not isinstance(names, list) or not names:
        raise RestError(400, "missing channels (a list) or channel (a string)")
    if len(names) > app.max_channels_per_event:
        limit = app.max_channels_per_event
        raise RestError(400, f"{len(names)} channels: at most {limit} per event")
    try:
        channels = tuple(parse_channel(n, app.max_channel_name_length) for n in names)
    except RemoteProtocolError as exc:
        raise RestError(400, exc.message) from None
    encrypted = any(c.kind is ChannelKind.PRIVATE_ENCRYPTED for c in channels)
    if encrypted and len(channels) > 1:
        raise RestError(400, "an event for an encrypted channel must go to that channel only")
    return channels
