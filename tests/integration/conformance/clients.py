"""One small "client under test" facade over the real clients: raw pysher 1.0.8 and pusher-js 8.

Tests talk to `ClientUnderTest` only, so one scenario runs against every client. Both
facades record every frame the client decoded from the wire as a `Frame` (data JSON-decoded
when it was a JSON string, as pusher-js does; `raw` keeps the string pysher hands to its
callbacks). Recording is observation only: each client runs unchanged, with the workarounds
of CLIENTS.md for pysher (fresh object per connection, short select timeout so disconnect is
quick, subscribe inside the `connection_established` callback, callbacks that never raise).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pysher

from tests.integration.conformance.http_side import AppBackend
from tests.nodeclients import PusherJsDriver, Report

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 10.0
_names = itertools.count(1)


@dataclass(frozen=True)
class Frame:
    """One frame as the client decoded it."""

    event: str
    channel: str | None = None
    data: Any = None
    user_id: str | None = None
    raw: Any = None

    @property
    def code(self) -> int | None:
        """The error code of a `pusher:error` frame."""
        return self.data.get("code") if isinstance(self.data, dict) else None


FramePredicate = Callable[[Frame], bool]


@dataclass(frozen=True)
class Subscription:
    """How a subscription ended: `ok`, with the data the app saw."""

    channel: str
    ok: bool
    data: Any


@dataclass
class User:
    """Who a client says it is (presence channel_data, sign-in)."""

    user_id: str | int  # an int goes out as a JSON number, as Pusher's docs example does
    user_info: Any = None


def _decode(data: Any) -> Any:
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def _matches(
    frame: Frame, event: str | None, channel: str | None, where: FramePredicate | None
) -> bool:
    return (
        (event is None or frame.event == event)
        and (channel is None or frame.channel == channel)
        and (where is None or where(frame))
    )


# --- pysher -------------------------------------------------------------------------------


class PysherClient:
    """Raw pysher 1.0.8. Signs private and presence subscriptions locally with the secret."""

    kind = "pysher"

    def __init__(
        self, host: str, port: int, key: str, backend: AppBackend, user: User | None
    ) -> None:
        self.socket_id = ""
        self._key, self._host, self._port = key, host, port
        self._secret, self._backend = backend.secret, backend
        self._user = user
        self._frames: list[Frame] = []
        self._close_codes: list[int | None] = []
        self._established = 0
        self._changed = threading.Condition()
        self._initial: tuple[str, ...] = ()
        self.pusher: Any = None

    def connect(self, channels: tuple[str, ...] = ()) -> str:
        self.start(channels)
        self._wait(lambda: self._established > 0, "connection_established")
        return self.socket_id

    def start(self, channels: tuple[str, ...] = ()) -> None:
        """Start connecting; do not wait (for connections the server refuses)."""
        user_data = None
        if self._user is not None:
            user_data = {"user_id": self._user.user_id, "user_info": self._user.user_info}
        self.pusher = pysher.Pusher(
            self._key,
            secure=False,
            port=self._port,
            custom_host=self._host,
            secret=self._secret,
            user_data=user_data,
            log_level=logging.WARNING,
        )
        connection = self.pusher.connection
        connection.socket_kwargs["ping_timeout"] = 0.5  # CLIENTS.md bug 1: quick disconnect
        self._initial = channels
        on_message, on_close = connection._on_message, connection._on_close
        connection._on_message = lambda *args: self._observe(on_message, args)
        connection._on_close = lambda *args: self._observe_close(on_close, args)
        connection.bind("pusher:connection_established", self._on_established)
        self.pusher.connect()

    # Runs on pysher's thread: must never raise (CLIENTS.md bug 5).
    def _on_established(self, data: Any) -> None:
        try:
            with self._changed:
                self.socket_id = self.pusher.connection.socket_id
                self._established += 1
                self._changed.notify_all()
            for channel in self._initial:
                self.pusher.subscribe(channel)
        except Exception:
            log.exception("pysher connection_established callback failed")

    def _observe(self, on_message: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            envelope = json.loads(args[-1])
            raw = envelope.get("data")
            frame = Frame(
                envelope.get("event", ""),
                envelope.get("channel"),
                _decode(raw),
                envelope.get("user_id"),
                raw,
            )
            with self._changed:
                self._frames.append(frame)
                self._changed.notify_all()
        except Exception:
            log.exception("could not record a pysher frame")
        on_message(*args)

    def _observe_close(self, on_close: Callable[..., None], args: tuple[Any, ...]) -> None:
        code = args[1] if len(args) >= 3 else None
        with self._changed:
            self._close_codes.append(code)
            self._changed.notify_all()
        on_close(*args)

    def _wait(self, condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                recent = "\n".join(map(repr, self._frames[-10:]))
                raise AssertionError(
                    f"pysher: timed out waiting for {what}; last frames:\n{recent}"
                )

    def subscribe(self, channel: str) -> Subscription:
        """Subscribe with pysher's own local signing, or a forged auth if the test asked."""
        since = self.mark()
        auth = None
        if channel in self._backend.forgeries:
            auth = self._backend.channel_auth(self.socket_id, channel)
        self.pusher.subscribe(channel, auth=auth)
        return self._outcome(channel, since)

    def _outcome(self, channel: str, since: int) -> Subscription:
        outcomes = {"pusher_internal:subscription_succeeded", "pusher:subscription_error"}
        frame = self.wait_frame("", channel, where=lambda f: f.event in outcomes, since=since)
        return Subscription(channel, frame.event != "pusher:subscription_error", frame.data)

    def subscribed(self, channel: str) -> Subscription:
        """The outcome of a subscription made at connect time."""
        return self._outcome(channel, 0)

    def unsubscribe(self, channel: str) -> None:
        self.pusher.unsubscribe(channel)

    def trigger(self, channel: str, event: str, data: Any) -> None:
        self.pusher.channel(channel).trigger(event, data)

    def send_raw(self, event: str, data: Any, channel: str | None = None) -> None:
        self.pusher.connection.send_event(event, data, channel)

    def mark(self) -> int:
        with self._changed:
            return len(self._frames)

    def frames(self, event: str | None = None, channel: str | None = None) -> list[Frame]:
        with self._changed:
            return [f for f in self._frames if _matches(f, event, channel, None)]

    def wait_frame(
        self,
        event: str,
        channel: str | None = None,
        *,
        where: FramePredicate | None = None,
        since: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Frame:
        found: list[Frame] = []

        def seen() -> bool:
            found[:] = [
                f for f in self._frames[since:] if _matches(f, event or None, channel, where)
            ]
            return bool(found)

        self._wait(seen, f"{event or 'a frame'} on {channel}", timeout)
        return found[0]

    def is_connected(self) -> bool:
        connection = self.pusher.connection
        return bool(connection.is_alive() and connection.state == "connected")

    @property
    def close_codes(self) -> list[int | None]:
        with self._changed:
            return list(self._close_codes)

    def wait_gone(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The server closed the socket and pysher gave up (no reconnect)."""
        self._wait(lambda: bool(self._close_codes), "the socket to close", timeout)
        self.pusher.connection.join(timeout)
        assert not self.pusher.connection.is_alive(), "pysher is still reconnecting"

    def wait_reconnected(self, *, since: int, timeout: float = DEFAULT_TIMEOUT) -> str:
        self._wait(lambda: self._established > since, "a new connection", timeout)
        return str(self.pusher.connection.socket_id)

    @property
    def connections(self) -> int:
        return self._established

    def close(self) -> None:
        self.start_closing()
        self.finish_closing()

    def start_closing(self) -> None:
        """Close the socket and stop pysher from reconnecting (CLIENTS.md bug 2)."""
        if self.pusher is None:
            return
        connection = self.pusher.connection
        connection.disconnect_called = True
        connection.needs_reconnect = False
        if connection.socket is not None:
            try:
                connection.socket.close()
            except Exception:  # already gone is closed enough
                log.debug("closing pysher's socket failed", exc_info=True)

    def finish_closing(self, timeout: float = 5.0) -> None:
        """Wait for pysher's thread (its select wakes every 0.5 s at most)."""
        if self.pusher is None:
            return
        connection = self.pusher.connection
        deadline = time.monotonic() + timeout
        while connection.is_alive() and time.monotonic() < deadline:
            connection.join(0.1)
            self.start_closing()  # websocket-client resets its run flag while starting


# --- pusher-js ----------------------------------------------------------------------------


class PusherJsClient:
    """One named pusher-js client inside a shared Node driver; auth through `backend`."""

    kind = "pusher-js"

    def __init__(
        self,
        js: PusherJsDriver,
        host: str,
        port: int,
        key: str,
        backend: AppBackend,
        user: User | None,
        **options: Any,
    ) -> None:
        self.js = js
        self.name = f"js{next(_names)}"
        self.socket_id = ""
        self._host, self._port, self._key = host, port, key
        self._options = options
        headers: dict[str, str] = {}
        if user is not None:
            headers = {
                "X-User-Id": json.dumps(user.user_id),
                "X-User-Info": json.dumps(user.user_info),
            }
        self._auth = {
            "channelAuthorization": {"endpoint": backend.channel_auth_url, "headers": headers},
            "userAuthentication": {"endpoint": backend.user_auth_url, "headers": headers},
        }
        self._connected_at = js.mark()

    def connect(self, channels: tuple[str, ...] = ()) -> str:
        self._connected_at = self.js.mark()
        options = {**self._auth, **self._options}
        socket_id = self.js.connect(
            self.name, key=self._key, port=self._port, host=self._host, **options
        )
        self.socket_id = str(socket_id)
        for channel in channels:
            self.js.send("subscribe", client=self.name, channel=channel)
        return self.socket_id

    def start(self, channels: tuple[str, ...] = ()) -> None:
        """Start connecting; do not wait (for connections the server refuses)."""
        self._connected_at = self.js.mark()
        options = {**self._auth, **self._options}
        self.js.connect(
            self.name, key=self._key, port=self._port, host=self._host, wait=False, **options
        )

    def _outcome_of(self, report: Report, since: int) -> Subscription:
        """The app's outcome, once the frame behind it is recorded too (pusher-js hands the
        app the event before the driver reports the frame)."""
        ok = report["event"] == "pusher:subscription_succeeded"
        wire = "pusher_internal:subscription_succeeded" if ok else "pusher:subscription_error"
        self.wait_frame(wire, report["channel"], since=since)
        return Subscription(report["channel"], ok, report.get("data"))

    def subscribe(self, channel: str) -> Subscription:
        since = self.js.mark()
        return self._outcome_of(self.js.subscribe(self.name, channel), since)

    def subscribed(self, channel: str) -> Subscription:
        outcomes = {"pusher:subscription_succeeded", "pusher:subscription_error"}
        report = self.js.wait_for(
            lambda r: (
                r.get("type") == "event"
                and r.get("client") == self.name
                and r.get("channel") == channel
                and r.get("event") in outcomes
            ),
            since=self._connected_at,
        )
        return self._outcome_of(report, self._connected_at)

    def unsubscribe(self, channel: str) -> None:
        self.js.send("unsubscribe", client=self.name, channel=channel)

    def trigger(self, channel: str, event: str, data: Any) -> None:
        sent = self.js.send("trigger", client=self.name, channel=channel, event=event, data=data)
        assert sent, f"pusher-js refused to trigger {event} on {channel}"

    def send_raw(self, event: str, data: Any, channel: str | None = None) -> None:
        fields: dict[str, Any] = {"client": self.name, "event": event, "data": data}
        if channel is not None:
            fields["channel"] = channel
        self.js.send("send_event", **fields)

    def mark(self) -> int:
        return self.js.mark()

    def _frame(self, report: Report) -> Frame:
        data = report.get("data")
        return Frame(report["event"], report.get("channel"), data, report.get("user_id"), data)

    def _is_frame(self, report: Report) -> bool:
        return report.get("type") == "message" and report.get("client") == self.name

    def frames(self, event: str | None = None, channel: str | None = None) -> list[Frame]:
        frames = [self._frame(r) for r in self.js.reports if self._is_frame(r)]
        return [f for f in frames if _matches(f, event, channel, None)]

    def wait_frame(
        self,
        event: str,
        channel: str | None = None,
        *,
        where: FramePredicate | None = None,
        since: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Frame:
        report = self.js.wait_for(
            lambda r: self._is_frame(r) and _matches(self._frame(r), event, channel, where),
            timeout,
            since=since,
            what=f"{self.name}: {event} on {channel}",
        )
        return self._frame(report)

    def events(self, event: str | None = None, channel: str | None = None) -> list[Report]:
        """What the application saw (channel bindings and connection-level events)."""
        return self.js.events(self.name, event, channel)

    def members(self, channel: str) -> dict[str, Any]:
        members: dict[str, Any] = self.js.send("members", client=self.name, channel=channel)
        return members

    def state(self) -> str:
        return str(self.js.send("state", client=self.name)["state"])

    def is_connected(self) -> bool:
        return self.state() == "connected"

    def wait_state(self, state: str, *, since: int = 0, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.js.wait_for_state(self.name, state, since=since, timeout=timeout)

    def wait_gone(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The server closed the socket and pusher-js will not reconnect ("disconnected")."""
        self.js.wait_for_state(self.name, "disconnected", since=self._connected_at, timeout=timeout)

    def wait_reconnected(self, *, since: int, timeout: float = DEFAULT_TIMEOUT) -> str:
        report = self.js.wait_for_state(self.name, "connected", since=since, timeout=timeout)
        return str(report["socket_id"])

    def connection_errors(self) -> list[Report]:
        return [
            r
            for r in self.js.reports
            if r.get("type") == "connection_error" and r.get("client") == self.name
        ]

    def signin(self) -> Report:
        since = self.js.mark()
        self.js.send("signin", client=self.name)
        return self.js.wait_for_event(self.name, "pusher:signin_success", since=since)

    def close(self) -> None:
        try:
            self.js.send("disconnect", client=self.name)
        except Exception:  # the driver may be gone already; the process exit disconnects too
            log.debug("pusher-js disconnect failed", exc_info=True)


Client = PysherClient | PusherJsClient


@dataclass
class ClientFactory:
    """Makes connected clients of one kind for a test, and closes them all afterwards."""

    kind: str
    host: str
    port: int
    key: str
    backend: AppBackend
    js: PusherJsDriver | None = None
    made: list[Client] = field(default_factory=list)

    def new(self, user: User | None = None, **js_options: Any) -> Client:
        """A client not connected yet."""
        client: Client
        if self.kind == "pysher":
            client = PysherClient(self.host, self.port, self.key, self.backend, user)
        else:
            assert self.js is not None
            client = PusherJsClient(
                self.js, self.host, self.port, self.key, self.backend, user, **js_options
            )
        self.made.append(client)
        return client

    def connect(self, *channels: str, user: User | None = None, **js_options: Any) -> Client:
        """A connected client, subscribed to `channels` (each subscription succeeded)."""
        client = self.new(user, **js_options)
        client.connect(channels)
        for channel in channels:
            outcome = client.subscribed(channel)
            assert outcome.ok, f"{client.kind} could not subscribe to {channel}: {outcome.data}"
        return client

    def close_all(self) -> None:
        for client in self.made:
            if isinstance(client, PysherClient):
                client.start_closing()  # all at once: each may take one select timeout
            else:
                client.close()
        for client in self.made:
            if isinstance(client, PysherClient):
                client.finish_closing()


_barriers = itertools.count(1)


def barrier(client: Client, sdk: Any, channel: str) -> None:
    """Wait until every frame the server sent `client` on `channel` before now has arrived.

    Publishes a marker through the REST API and waits for it: frames on one connection
    arrive in order, so anything the server sent earlier is in `client.frames()` after this.
    """
    marker = f"barrier-{next(_barriers)}"
    since = client.mark()
    answer = sdk.trigger([channel], "test-barrier", json.dumps(marker))
    assert answer.ok, answer
    client.wait_frame("test-barrier", channel, where=lambda f: f.data == marker, since=since)
