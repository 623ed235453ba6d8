"""The pysher adapter: one user's connection to any Pusher endpoint, with pysher's bugs absorbed.

pysher 1.0.8 stays the client (CLIENTS.md); this module owns what it gets wrong:

1. `disconnect()` can hang ~100 s in select(): the socket's select timeout is set to 0.5 s
   before connecting, and closing closes the socket and joins with a deadline.
2. Reconnect storms after a 42xx error: pysher is never allowed to reconnect by itself. Each
   connection attempt is a fresh `pysher.Pusher` (they cannot be restarted), and the
   supervisor thread here owns the backoff (exponential, with jitter, reset once a connection
   has stayed up).
3. `auto_sub` resubscribes without auth: it stays off; every `connection_established`
   resubscribes every wanted channel with a fresh signature.
4. websocket-client >= 1.9 is pinned in pyproject.
5. A raising channel callback kills pysher's thread: pysher's threads only ever enqueue work
   here, inside try/except; all user-visible work runs on this link's own actor thread.
6. `subscribe()` sends before it registers the channel: the adapter registers the channel
   object first and sends the subscribe frame itself.
7. `subscribe()` before `connection_established` signs an empty socket_id: subscriptions are
   only sent once the socket id is known.
8. A 40xx error makes pysher `disconnect()` on its own thread: the supervisor sees the thread
   end and, as the protocol asks, does not reconnect (state "failed").
9. pysher formats every frame at INFO: its loggers run at WARNING.

Everything a user of the link sees (events, state changes, timers) happens on the link's one
actor thread, in order, so code driven by a link needs no locks of its own.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pysher
from pysher.channel import Channel as PysherChannel

from doubletick.client.auth import AuthorizationError, Authorizer
from doubletick.client.endpoint import Endpoint
from doubletick.protocol.channels import channel_kind

log = logging.getLogger(__name__)

CHANNEL_INTERNAL_EVENTS = (
    "pusher_internal:subscription_succeeded",
    "pusher:subscription_error",
    "pusher_internal:member_added",
    "pusher_internal:member_removed",
    "pusher:cache_miss",
)
SELECT_TIMEOUT = 0.5  # bug 1: how long pysher's socket thread may block before seeing a close


# --- what a link reports --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChanged:
    previous: str
    current: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Subscribed:
    channel: str
    members: dict[str, Any] | None = None  # presence channels: user id -> user info
    me: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionFailed:
    channel: str
    reason: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class MemberAdded:
    channel: str
    user_id: str
    user_info: Any = None


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    channel: str
    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    code: int | None
    message: str


@dataclass(frozen=True, slots=True)
class FrameLogged:
    """A frame this link sent (`"out"`) or received (`"in"`), for the protocol inspector."""

    direction: str
    event: str
    channel: str | None
    data: Any
    at: float


LinkEvent = (
    StateChanged
    | Subscribed
    | SubscriptionFailed
    | MemberAdded
    | MemberRemoved
    | ChannelEvent
    | ErrorReceived
    | FrameLogged
)


@dataclass
class Backoff:
    """Reconnect delays: `first` doubling up to `cap`, +-`jitter` (a fraction), reset after a
    connection that stayed up `stable_after` seconds."""

    first: float = 0.2
    cap: float = 10.0
    jitter: float = 0.25
    stable_after: float = 2.0
    attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2.0**self.attempt)
        self.attempt += 1
        factor: float = random.uniform(1 - self.jitter, 1 + self.jitter)
        return delay * factor

    def reset(self) -> None:
        self.attempt = 0


# --- the actor thread -------------------------------------------------------------------


class Actor:
    """One thread that runs posted callables and timers in order; exceptions are logged."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def post(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the actor thread at monotonic time `when` (or soon after)."""
        self.post(lambda: heapq.heappush(self._timers, (when, next(self._counter), fn)))

    def in_actor(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 2.0) -> None:
        self._queue.put(None)
        if self._started and not self.in_actor():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _noop
            if item is None:
                return
            self._call(item)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._call(heapq.heappop(self._timers)[2])

    @staticmethod
    def _call(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("callback failed on the link's actor thread")


def _noop() -> None:
    pass


# --- the link ---------------------------------------------------------------------------


class PusherLink:
    """One connection to a Pusher endpoint through pysher, reconnecting and resubscribing.

    `on_event` receives every `LinkEvent` on the link's actor thread. Channel events are only
    reported for names passed in `events` (pysher dispatches by name). Thread-safe: every
    public method may be called from any thread.
    """

    def __init__(
        self,
        endpoint: Endpoint | str,
        on_event: Callable[[LinkEvent], None],
        *,
        authorizer: Authorizer | None = None,
        events: Iterable[str] = (),
        backoff: Backoff | None = None,
        name: str = "link",
    ) -> None:
        self.endpoint = Endpoint.from_url(endpoint) if isinstance(endpoint, str) else endpoint
        self.authorizer = authorizer
        self.name = name
        self.state = "initialized"
        self.socket_id: str | None = None
        self._on_event = on_event
        self._events = set(events)
        self._backoff = backoff or Backoff()
        self._wanted: dict[str, None] = {}
        self._subscribed: set[str] = set()
        self._actor = Actor(f"{name}-actor")
        self._closing = threading.Event()
        self._online = threading.Event()
        self._online.set()
        self._lock = threading.Lock()
        self._pusher: Any = None
        self._generation = 0
        self._fatal_error: ErrorReceived | None = None
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"{name}-link", daemon=True
        )

    # -- public API --------------------------------------------------------------------

    def start(self) -> PusherLink:
        """Connect in the background (once; later calls do nothing)."""
        if not self._supervisor.is_alive() and not self._closing.is_set():
            self._actor.start()
            self._supervisor.start()
        return self

    def subscribe(self, channel: str) -> None:
        """Join `channel` now (if connected) and after every reconnect."""
        self._actor.post(lambda: self._want(channel))

    def unsubscribe(self, channel: str) -> None:
        self._actor.post(lambda: self._unwant(channel))

    def trigger(self, channel: str, event: str, data: Any) -> bool:
        """Send a client event. Call on the actor thread (from `on_event` or `call_at`);
        returns False when the channel is not subscribed right now."""
        if channel not in self._subscribed or self._pusher is None:
            return False
        self._send(event, data, channel)
        return True

    def post(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the actor thread."""
        self._actor.post(fn)

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the actor thread at monotonic time `when`."""
        self._actor.call_at(when, fn)

    def is_subscribed(self, channel: str) -> bool:
        return channel in self._subscribed

    def drop_connection(self) -> None:
        """Close the current socket as a network failure would; the link reconnects."""
        self._close_current()

    def set_online(self, online: bool) -> None:
        """Go offline (close the socket, stay away) or come back (connect again at once)."""
        if online:
            self._backoff.reset()
            self._online.set()
        else:
            self._online.clear()
            self._close_current()

    def close(self, timeout: float = 3.0) -> None:
        """Disconnect for good; returns when pysher's and the link's threads have ended."""
        if self._closing.is_set():
            return
        with self._lock:
            self._closing.set()
            self._online.set()  # wake a supervisor that waits to come online
        self._close_current()
        if self._supervisor.is_alive() and threading.current_thread() is not self._supervisor:
            self._supervisor.join(timeout)
        self._actor.post(lambda: self._set_state("closed"))
        self._actor.stop(timeout)

    # -- supervisor thread: one pysher.Pusher per connection attempt -------------------

    def _supervise(self) -> None:
        while not self._closing.is_set():
            self._online.wait()
            if self._closing.is_set():
                return
            started = time.monotonic()
            self._run_one_connection()
            if time.monotonic() - started >= self._backoff.stable_after:
                self._backoff.reset()
            if self._closing.is_set():
                return
            if self._fatal_error is not None:
                error = self._fatal_error
                self._actor.post(functools.partial(self._set_state, "failed", error.message))
                return
            if not self._online.is_set():
                continue
            delay = self._backoff.next_delay()
            reason = f"retry in {delay:.2f}s"
            self._actor.post(functools.partial(self._set_state, "unavailable", reason))
            self._closing.wait(delay)

    def _run_one_connection(self) -> None:
        client = pysher.Pusher(
            self.endpoint.key,
            secure=self.endpoint.secure,
            port=self.endpoint.port,
            custom_host=self.endpoint.host,
            log_level=logging.WARNING,  # bug 9
            auto_sub=False,  # bug 3
            daemon=True,
        )
        connection = client.connection
        connection.socket_kwargs["ping_timeout"] = SELECT_TIMEOUT  # bug 1
        connection.disconnect_called = True  # bug 2: pysher never reconnects by itself
        with self._lock:
            if self._closing.is_set() or not self._online.is_set():
                return
            self._generation += 1
            generation = self._generation
            established = self._from_pysher(generation, self._established)
            connection.bind("pusher:connection_established", established)
            connection.bind("pusher:error", self._from_pysher(generation, self._error))
            self._actor.post(lambda: self._set_state("connecting"))
            self._pusher = client
            client.connect()
        connection.join()
        self._actor.post(lambda: self._lost(generation))

    def _close_current(self) -> None:
        with self._lock:
            client = self._pusher
        if client is not None:
            self._close_socket(client)

    def _close_socket(self, client: Any) -> None:
        """Close pysher's socket and wait for its thread, also when it is still starting
        (websocket-client resets its run flag when run_forever begins)."""
        connection = client.connection
        connection.disconnect_called = True
        connection.needs_reconnect = False
        deadline = time.monotonic() + SELECT_TIMEOUT * 6
        while True:
            app = connection.socket
            if app is not None:
                try:
                    app.close()
                except Exception:  # a socket that is already gone is closed enough
                    log.debug("closing pysher's socket failed", exc_info=True)
            if threading.current_thread() is connection or not connection.is_alive():
                return
            connection.join(0.05)
            if not connection.is_alive() or time.monotonic() > deadline:
                return

    # -- pysher threads only enqueue ------------------------------------------------

    def _from_pysher(
        self, generation: int, handler: Callable[[Any], None], channel: str | None = None
    ) -> Callable[[Any], None]:
        def callback(data: Any) -> None:  # runs on pysher's thread: must never raise (bug 5)
            try:
                self._actor.post(lambda: self._current(generation, handler, data))
            except Exception:
                log.exception("could not hand a pysher callback to the actor")

        return callback

    def _current(self, generation: int, handler: Callable[[Any], None], data: Any) -> None:
        if generation == self._generation:
            handler(data)

    # -- actor thread ----------------------------------------------------------------

    def _emit(self, event: LinkEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("%s: on_event failed for %r", self.name, event)

    def _log_frame(self, direction: str, event: str, channel: str | None, data: Any) -> None:
        self._emit(FrameLogged(direction, event, channel, data, time.monotonic()))

    def _set_state(self, state: str, reason: str = "") -> None:
        if state != self.state:
            previous, self.state = self.state, state
            self._emit(StateChanged(previous, state, reason))

    def _established(self, data: Any) -> None:
        self._log_frame("in", "pusher:connection_established", None, data)
        try:
            self.socket_id = str(json.loads(data)["socket_id"])
        except (TypeError, ValueError, KeyError):
            self._emit(ErrorReceived(None, f"bad connection_established data: {data!r}"))
            return
        self._set_state("connected")
        self._subscribed.clear()
        for channel in list(self._wanted):
            self._subscribe_now(channel)

    def _error(self, data: Any) -> None:
        self._log_frame("in", "pusher:error", None, data)
        code = data.get("code") if isinstance(data, dict) else None
        message = str(data.get("message", "")) if isinstance(data, dict) else str(data)
        error = ErrorReceived(code if isinstance(code, int) else None, message)
        if error.code is not None and 4000 <= error.code < 4100:
            self._fatal_error = error  # bug 8: pysher is closing itself; do not come back
        self._emit(error)

    def _lost(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._pusher = None
        self._subscribed.clear()
        self.socket_id = None
        if not self._closing.is_set():
            reason = "offline" if not self._online.is_set() else ""
            self._set_state("disconnected", reason)

    def _want(self, channel: str) -> None:
        if channel in self._wanted:
            return
        self._wanted[channel] = None
        if self.socket_id is not None:
            self._subscribe_now(channel)

    def _unwant(self, channel: str) -> None:
        self._wanted.pop(channel, None)
        self._subscribed.discard(channel)
        client = self._pusher
        if client is not None and self.socket_id is not None:
            client.channels.pop(channel, None)
            self._send("pusher:unsubscribe", {"channel": channel})

    def _subscribe_now(self, channel: str) -> None:
        client, socket_id = self._pusher, self.socket_id
        if client is None or socket_id is None:
            return
        data: dict[str, str] = {"channel": channel}
        if channel_kind(channel)[0].needs_auth:
            try:
                data.update(self._authorize(socket_id, channel))
            except AuthorizationError as exc:
                self._emit(SubscriptionFailed(channel, str(exc), exc.status))
                return
        pysher_channel = PysherChannel(channel, client.connection)
        for name in (*CHANNEL_INTERNAL_EVENTS, *self._events):
            handler = self._channel_handler(channel, name)
            pysher_channel.bind(name, self._from_pysher(self._generation, handler))
        client.channels[channel] = pysher_channel  # bug 6: registered before the frame goes out
        self._send("pusher:subscribe", data)

    def _authorize(self, socket_id: str, channel: str) -> dict[str, str]:
        if self.authorizer is None:
            raise AuthorizationError(f"{channel} needs an authorizer")
        answer = self.authorizer.authorize(socket_id, channel)
        return {k: answer[k] for k in ("auth", "channel_data") if k in answer}

    def _channel_handler(self, channel: str, event: str) -> Callable[[Any], None]:
        def handle(data: Any) -> None:
            self._log_frame("in", event, channel, data)
            if channel not in self._wanted:
                return
            self._dispatch(channel, event, data)

        return handle

    def _dispatch(self, channel: str, event: str, data: Any) -> None:
        if event == "pusher_internal:subscription_succeeded":
            self._subscribed.add(channel)
            presence = _loads(data).get("presence")
            members = presence.get("hash") if isinstance(presence, dict) else None
            self._emit(Subscribed(channel, members))
        elif event == "pusher:subscription_error":
            info = data if isinstance(data, dict) else _loads(data)
            status = info.get("status")
            reason = str(info.get("error") or info.get("type") or data)
            self._emit(
                SubscriptionFailed(channel, reason, status if isinstance(status, int) else None)
            )
        elif event in ("pusher_internal:member_added", "pusher_internal:member_removed"):
            member = _loads(data)
            user_id = str(member.get("user_id", ""))
            if event.endswith("added"):
                self._emit(MemberAdded(channel, user_id, member.get("user_info")))
            else:
                self._emit(MemberRemoved(channel, user_id))
        else:
            self._emit(ChannelEvent(channel, event, data))

    def _send(self, event: str, data: Any, channel: str | None = None) -> None:
        client = self._pusher
        if client is None:
            return
        self._log_frame("out", event, channel, data)
        client.connection.send_event(event, data, channel_name=channel)


def _loads(data: Any) -> dict[str, Any]:
    """Server-sent `data` arrives as a JSON string (double encoding); tolerate anything."""
    if isinstance(data, dict):
        return data
    try:
        value = json.loads(data) if isinstance(data, (str, bytes)) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
