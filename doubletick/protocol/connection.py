"""The per-connection state machine of the Pusher protocol, sans-I/O (h11 style).

The transport feeds it what the client sent (`receive_frame`, `receive_control_frame`),
the clock (`tick`) and the end of the socket (`connection_lost`); it answers with a list of
outputs: frames to send to this client, a close, and actions for the server's registry
(subscribe, unsubscribe, publish a client event, sign in/out). It never touches a socket,
so every rule below is tested without one.

Rules it enforces (PROTOCOL.md sections 3-11): nothing before `connection_established`;
subscription signatures (presence over the raw `channel_data`); `#server-to-user-<id>` only
for the socket signed in as `<id>`; idempotent re-subscribe; client-event rules (name,
channel kind, subscription, size, rate, app switch) answered with `pusher:error` 4301 on an
open connection; sign-in; ping/pong and server-side liveness (ping, then close 4201);
optionally "authorized connections" (PROTOCOL.md section 11): with a
`user_authentication_timeout`, a socket that has neither signed in nor subscribed to a
private, encrypted or presence channel by then is closed with 4009.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from doubletick.protocol import frames, signing
from doubletick.protocol.channels import Channel, ChannelKind, is_valid_channel_name, parse_channel
from doubletick.protocol.errors import ErrorCode, RemoteProtocolError
from doubletick.protocol.frames import ClientFrame


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one connection may do; Pusher's defaults (PROTOCOL.md section 14)."""

    activity_timeout: int = 120
    pong_timeout: float = 30.0
    max_channel_name_length: int = 200
    max_event_name_length: int = 200
    max_event_payload_bytes: int = 10_240
    client_events_enabled: bool = True
    max_client_events_per_second: int = 10  # 0 = unlimited
    max_presence_user_info_bytes: int = 1_024
    max_presence_user_id_length: int = 128
    max_user_id_length: int = 200
    max_watchlist_size: int = 100
    max_subscriptions: int = 1_000  # channels per connection; keeps memory bounded
    user_authentication_timeout: float = 0.0  # seconds to sign in or authorize; 0 = off


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"  # upgraded, `connection_established` not sent yet
    OPEN = "open"
    CLOSED = "closed"  # closing or closed: input is ignored


# --- outputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Send this frame (JSON text) to this client."""

    frame: str


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close the WebSocket with this code (after sending the frames before it)."""

    code: ErrorCode
    reason: str


@dataclass(frozen=True, slots=True)
class PresenceMember:
    """Who a socket is on a presence channel, from its signed `channel_data`."""

    user_id: str
    user_info: Any


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Add the socket to the channel and answer `subscription_succeeded` (or a limit error
    through `Connection.subscription_failed`). Also emitted for a repeated subscribe."""

    channel: Channel
    member: PresenceMember | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channel: Channel
    member: PresenceMember | None = None


@dataclass(frozen=True, slots=True)
class PublishClientEvent:
    """Relay `frame` to the channel's other subscribers (never the sender)."""

    channel: Channel
    event: str
    data: Any
    user_id: str | None
    frame: str


@dataclass(frozen=True, slots=True)
class SignIn:
    """The socket signed in as `user_id` (first time on this socket)."""

    user_id: str
    user_info: Any
    watchlist: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SignOut:
    user_id: str


@dataclass(frozen=True, slots=True)
class LogMessage:
    """Something worth a log line that needs no answer to the client."""

    level: int
    message: str


Action = Subscribe | Unsubscribe | PublishClientEvent | SignIn | SignOut
Output = SendFrame | CloseConnection | Action | LogMessage


class _SubscriptionRejected(Exception):
    def __init__(self, error_type: str, message: str, status: int) -> None:
        super().__init__(message)
        self.error_type, self.message, self.status = error_type, message, status


# --- the state machine --------------------------------------------------------------------


class Connection:
    """One client's view of the protocol. Cheap: a few slots and a dict of subscriptions."""

    __slots__ = (
        "_authorized",
        "_key",
        "_last_activity",
        "_limits",
        "_opened_at",
        "_pinged_at",
        "_secret",
        "_subscriptions",
        "_tokens",
        "_tokens_at",
        "socket_id",
        "state",
        "user_id",
    )

    def __init__(self, socket_id: str, key: str, secret: str, limits: ConnectionLimits) -> None:
        self.socket_id = socket_id
        self.state = ConnectionState.CONNECTING
        self.user_id: str | None = None
        self._key = key
        self._secret = secret
        self._limits = limits
        self._subscriptions: dict[str, tuple[Channel, PresenceMember | None]] = {}
        self._tokens = float(limits.max_client_events_per_second)
        self._tokens_at = 0.0
        self._last_activity = 0.0
        self._pinged_at: float | None = None
        self._opened_at = 0.0
        self._authorized = False  # signed in, or subscribed to a channel that needs auth

    # -- what the transport calls ----------------------------------------------------------

    def open(self, now: float) -> list[Output]:
        """The upgrade is done: greet the client with its socket id."""
        self.state = ConnectionState.OPEN
        self._last_activity = self._tokens_at = self._opened_at = now
        established = frames.connection_established(self.socket_id, self._limits.activity_timeout)
        return [SendFrame(established)]

    def receive_frame(self, text: str | bytes, now: float) -> list[Output]:
        """One text (or binary) frame from the client. Never raises for bad input."""
        if self.state is not ConnectionState.OPEN:
            return self._not_open()
        self._last_activity = now
        self._pinged_at = None
        try:
            frame = frames.parse_frame(text)
            handler = _HANDLERS.get(frame.event) or _fallback_handler(frame.event)
            return handler(self, frame, now)
        except RemoteProtocolError as exc:
            return [SendFrame(frames.error(exc.code, exc.message))]

    def receive_control_frame(self, now: float) -> None:
        """A WebSocket ping/pong arrived: that counts as activity too."""
        self._last_activity = now
        self._pinged_at = None

    def tick(self, now: float) -> list[Output]:
        """Liveness: ping after `activity_timeout` of inbound silence, close 4201 if the
        client stays silent for `pong_timeout` more. With `user_authentication_timeout`, close
        4009 a socket still unauthorized after it."""
        if self.state is not ConnectionState.OPEN:
            return []
        if self._authorization_expired(now):
            return self.close(ErrorCode.UNAUTHORIZED, "Connection not authorized within timeout.")
        if self._pinged_at is None:
            if now - self._last_activity >= self._limits.activity_timeout:
                self._pinged_at = now
                return [SendFrame(frames.ping())]
            return []
        if now - self._pinged_at >= self._limits.pong_timeout:
            return self.close(ErrorCode.PONG_NOT_RECEIVED, "Pong reply not received")
        return []

    def _authorization_expired(self, now: float) -> bool:
        timeout = self._limits.user_authentication_timeout
        return timeout > 0 and not self._authorized and now - self._opened_at >= timeout

    def close(self, code: ErrorCode, message: str) -> list[Output]:
        """The server ends the connection: `pusher:error` with `code`, then close `code`."""
        if self.state is ConnectionState.CLOSED:
            return []
        self.state = ConnectionState.CLOSED
        return [SendFrame(frames.error(code, message)), CloseConnection(code, message)]

    def connection_lost(self) -> list[Output]:
        """The socket is gone: leave every channel and sign out (idempotent)."""
        self.state = ConnectionState.CLOSED
        outputs: list[Output] = [
            Unsubscribe(channel, member) for channel, member in self._subscriptions.values()
        ]
        self._subscriptions.clear()
        if self.user_id is not None:
            outputs.append(SignOut(self.user_id))
            self.user_id = None
        return outputs

    def subscription_failed(
        self, channel: str, error_type: str, message: str, status: int
    ) -> list[Output]:
        """The registry refused a `Subscribe` (e.g. presence channel full): forget it."""
        self._subscriptions.pop(channel, None)
        return [SendFrame(frames.subscription_error(channel, error_type, message, status))]

    def is_subscribed(self, channel: str) -> bool:
        return channel in self._subscriptions

    @property
    def subscriptions(self) -> list[str]:
        return list(self._subscriptions)

    # -- handlers --------------------------------------------------------------------------

    def _not_open(self) -> list[Output]:
        if self.state is ConnectionState.CLOSED:
            return []
        message = "connection not established yet: wait for pusher:connection_established"
        return [SendFrame(frames.error(None, message))]

    def _on_ping(self, frame: ClientFrame, now: float) -> list[Output]:
        return [SendFrame(frames.pong())]

    def _on_pong(self, frame: ClientFrame, now: float) -> list[Output]:
        return []

    def _on_ignored(self, frame: ClientFrame, now: float) -> list[Output]:
        message = f"socket {self.socket_id}: ignored unknown event {frame.event[:100]!r}"
        return [LogMessage(logging.INFO, message)]

    def _on_subscribe(self, frame: ClientFrame, now: float) -> list[Output]:
        data = frame.data_object()
        name = data.get("channel")
        if not isinstance(name, str):
            raise RemoteProtocolError("pusher:subscribe: data.channel must be a string")
        try:
            channel, member = self._authorize(name, data)
        except _SubscriptionRejected as exc:
            error = frames.subscription_error(name, exc.error_type, exc.message, exc.status)
            return [SendFrame(error)]
        previous = self._subscriptions.get(name)
        if previous is None and len(self._subscriptions) >= self._limits.max_subscriptions:
            message = f"at most {self._limits.max_subscriptions} channels per connection"
            return [SendFrame(frames.subscription_error(name, "LimitReached", message, 4009))]
        if previous is not None and previous[1] is not None:
            member = previous[1]  # a repeated subscribe keeps the first identity
        self._subscriptions[name] = (channel, member)
        self._authorized = self._authorized or channel.kind.needs_auth
        return [Subscribe(channel, member)]

    def _on_unsubscribe(self, frame: ClientFrame, now: float) -> list[Output]:
        name = frame.data_object().get("channel")
        if not isinstance(name, str):
            raise RemoteProtocolError("pusher:unsubscribe: data.channel must be a string")
        entry = self._subscriptions.pop(name, None)
        return [] if entry is None else [Unsubscribe(*entry)]

    def _on_signin(self, frame: ClientFrame, now: float) -> list[Output]:
        data = frame.data_object()
        user_data, auth = data.get("user_data"), data.get("auth")
        if not isinstance(user_data, str):
            return self.close(ErrorCode.UNAUTHORIZED, "pusher:signin: user_data must be a string")
        expected = signing.user_auth(self._key, self._secret, self.socket_id, user_data)
        if not signing.verify_auth(expected, auth):
            return self.close(ErrorCode.UNAUTHORIZED, "Invalid signature for pusher:signin")
        try:
            user_id, user_info, watchlist = self._parse_user_data(user_data)
        except RemoteProtocolError as exc:
            return self.close(ErrorCode.UNAUTHORIZED, exc.message)
        if self.user_id is not None and self.user_id != user_id:
            return self.close(ErrorCode.UNAUTHORIZED, "socket is already signed in as another user")
        outputs: list[Output] = [SendFrame(frames.signin_success(user_data))]
        self._authorized = True
        limit = self._limits.max_watchlist_size
        if len(watchlist) > limit:
            message = f"watchlist has {len(watchlist)} user ids: only the first {limit} are kept"
            outputs.append(SendFrame(frames.error(ErrorCode.WATCHLIST_LIMIT, message)))
        if self.user_id is None:
            self.user_id = user_id
            outputs.append(SignIn(user_id, user_info, tuple(watchlist[:limit])))
        return outputs

    def _on_client_event(self, frame: ClientFrame, now: float) -> list[Output]:
        try:
            channel, member = self._check_client_event(frame)
            if not self._take_token(now):
                limit = self._limits.max_client_events_per_second
                raise RemoteProtocolError(
                    f"client event rate limit reached: at most {limit} events per second",
                    ErrorCode.CLIENT_EVENT_REJECTED,
                )
        except RemoteProtocolError as exc:
            return [SendFrame(frames.error(exc.code, exc.message, frame.channel))]
        user_id = None if member is None else member.user_id
        relayed = frames.client_event(frame.event, channel.name, frame.data, user_id)
        return [PublishClientEvent(channel, frame.event, frame.data, user_id, relayed)]

    # -- rules -----------------------------------------------------------------------------

    def _authorize(self, name: str, data: dict[str, Any]) -> tuple[Channel, PresenceMember | None]:
        limit = self._limits.max_channel_name_length
        if len(name) > limit:
            message = f"The channel name is longer than the allowed {limit} characters."
            raise _SubscriptionRejected("LimitReached", message, 4009)
        try:
            channel = parse_channel(name, limit)
        except RemoteProtocolError as exc:
            raise _SubscriptionRejected("AuthError", exc.message, 400) from None
        if channel.kind is ChannelKind.SERVER_TO_USER:
            if channel.server_to_user_id != self.user_id:
                message = f"{name} is only for the socket signed in as that user"
                raise _SubscriptionRejected("AuthError", message, 403)
            return channel, None
        if not channel.kind.needs_auth:
            return channel, None
        channel_data = data.get("channel_data")
        if channel.kind is ChannelKind.PRESENCE:
            if not isinstance(channel_data, str):
                message = "presence channels need channel_data: a JSON string with user_id"
                raise _SubscriptionRejected("AuthError", message, 401)
            self._check_signature(name, data.get("auth"), channel_data)
            return channel, self._parse_member(channel_data)
        self._check_signature(name, data.get("auth"), None)
        return channel, None

    def _check_signature(self, name: str, auth: object, channel_data: str | None) -> None:
        if not isinstance(auth, str) or not auth:
            raise _SubscriptionRejected(
                "AuthError", f"Auth info required to subscribe to {name}", 401
            )
        key, _, received = auth.partition(":")
        if not signing.constant_time_equal(key, self._key):
            raise _SubscriptionRejected("AuthError", "Invalid key in auth: not this app's key", 401)
        expected = signing.channel_auth(self._key, self._secret, self.socket_id, name, channel_data)
        if not signing.verify_auth(expected, auth):
            signed = signing.channel_string_to_sign(self.socket_id, name, channel_data)
            message = (
                f"Invalid signature: Expected HMAC SHA256 hex digest of {signed}, "
                f"but got {received}"
            )
            raise _SubscriptionRejected("AuthError", message, 401)

    def _parse_member(self, channel_data: str) -> PresenceMember:
        try:
            parsed = json.loads(channel_data)
        except ValueError:
            parsed = None
        user_id = parsed.get("user_id") if isinstance(parsed, dict) else None
        if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
            message = "channel_data must be a JSON object with a user_id (string or number)"
            raise _SubscriptionRejected("AuthError", message, 400)
        user_id = str(user_id)
        if len(user_id) > self._limits.max_presence_user_id_length:
            limit = self._limits.max_presence_user_id_length
            raise _SubscriptionRejected("LimitReached", f"user_id is longer than {limit}", 4009)
        assert isinstance(parsed, dict)
        user_info = parsed.get("user_info")
        size = len(frames.dumps(user_info).encode())
        if size > self._limits.max_presence_user_info_bytes:
            limit = self._limits.max_presence_user_info_bytes
            message = f"user_info is {size} bytes: the limit is {limit} bytes"
            raise _SubscriptionRejected("LimitReached", message, 4301)
        return PresenceMember(user_id, user_info)

    def _parse_user_data(self, user_data: str) -> tuple[str, Any, list[str]]:
        try:
            parsed = json.loads(user_data)
        except ValueError:
            raise RemoteProtocolError("pusher:signin: user_data is not JSON") from None
        if not isinstance(parsed, dict):
            raise RemoteProtocolError("pusher:signin: user_data must be a JSON object")
        user_id = parsed.get("id")
        limit = self._limits.max_user_id_length
        if not isinstance(user_id, str) or user_id.startswith("#"):
            raise RemoteProtocolError("pusher:signin: user_data.id must be a non-empty string")
        if not is_valid_channel_name(user_id, limit):
            raise RemoteProtocolError(
                f"pusher:signin: user_data.id must be 1-{limit} characters of A-Z a-z 0-9 _-=@,.;"
            )
        watchlist = parsed.get("watchlist", [])
        if not isinstance(watchlist, list) or not all(isinstance(w, str) for w in watchlist):
            raise RemoteProtocolError("pusher:signin: watchlist must be a list of user ids")
        return user_id, parsed.get("user_info"), watchlist

    def _check_client_event(self, frame: ClientFrame) -> tuple[Channel, PresenceMember | None]:
        limits = self._limits
        if not limits.client_events_enabled:
            raise _client_error("The app does not have client messaging enabled.")
        if not frame.event.startswith("client-"):
            raise _client_error(
                f"unknown event {frame.event[:100]!r}: client events start with client-"
            )
        if len(frame.event) > limits.max_event_name_length:
            raise _client_error(f"event name is longer than {limits.max_event_name_length}")
        entry = None if frame.channel is None else self._subscriptions.get(frame.channel)
        if entry is None:
            raise _client_error(f"client event on {frame.channel!r}: not subscribed to it")
        channel, member = entry
        if not channel.kind.allows_client_events:
            raise _client_error("client events are only allowed on private and presence channels")
        if not frame.data_fits(limits.max_event_payload_bytes):
            size = len(frames.dumps(frame.data).encode())
            limit = limits.max_event_payload_bytes
            raise _client_error(f"client event data is {size} bytes: the limit is {limit}")
        return channel, member

    def _take_token(self, now: float) -> bool:
        """Token bucket: `max_client_events_per_second` per second, bursts of the same size."""
        rate = self._limits.max_client_events_per_second
        if rate <= 0:
            return True
        tokens = min(float(rate), self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


def _client_error(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, ErrorCode.CLIENT_EVENT_REJECTED)


_Handler = Callable[[Connection, ClientFrame, float], list[Output]]

# Which handler answers which event (the transition table of an OPEN connection).
_HANDLERS: dict[str, _Handler] = {
    "pusher:ping": Connection._on_ping,
    "pusher:pong": Connection._on_pong,
    "pusher:subscribe": Connection._on_subscribe,
    "pusher:unsubscribe": Connection._on_unsubscribe,
    "pusher:signin": Connection._on_signin,
}


def _fallback_handler(event: str) -> _Handler:
    """Unknown `pusher:*`/`pusher_internal:*` events are ignored (logged); anything else is
    treated as a client event and checked as one."""
    if event.startswith(("pusher:", "pusher_internal:")):
        return Connection._on_ignored
    return Connection._on_client_event
