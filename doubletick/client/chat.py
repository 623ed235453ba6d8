"""`ChatClient`: one user in one or more conversations over any Pusher endpoint.

It glues three things together: a `PusherLink` (pysher, reconnects, subscriptions), one
`Conversation` per channel (the delivery rules, sans-I/O) and, optionally, the SQLite event
log. Every decision about sent / delivered / read is the `Conversation`'s; this class only
moves events between it and the link, on the link's actor thread, and tells observers.

Observers get, on that thread, in order: the delivery core's `StatusChange`,
`ReceivedMessage` and `PeerTyping` records, the link's events (`StateChanged`,
`FrameLogged`, `MemberAdded`, ...), and `PresenceChanged` for a conversation's peers.
They must be quick and must not block; the dashboard queues what it gets.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from doubletick.client.auth import AuthorizationError, Authorizer, AuthServerClient
from doubletick.client.endpoint import Endpoint
from doubletick.client.link import (
    Backoff,
    ChannelEvent,
    LinkEvent,
    MemberAdded,
    MemberRemoved,
    PusherLink,
    StateChanged,
    Subscribed,
    SubscriptionFailed,
)
from doubletick.delivery import Conversation, DeliveryState, TokenBucket, WireEvent
from doubletick.delivery.records import MessageInfo, Output, StatusChange

log = logging.getLogger(__name__)

WIRE_EVENTS = tuple(event.value for event in WireEvent)
PUSHER_CLIENT_EVENTS_PER_SECOND = 10  # Pusher's limit per connection
SNAPSHOT_SLACK = 2  # snapshots are pruned when they hold twice what the conversation keeps


class StatusSink(Protocol):
    """Where status changes are recorded (the SQLite event log implements this)."""

    def append(self, change: StatusChange) -> None: ...


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """A conversation peer came online or went offline (presence channels only)."""

    conversation: str
    user_id: str
    online: bool


@dataclass
class NetworkConditions:
    """Injected delay for one user's network, both ways: `delay` +- `jitter` seconds."""

    delay: float = 0.0
    jitter: float = 0.0

    def sample(self) -> float:
        if self.delay <= 0 and self.jitter <= 0:
            return 0.0
        sampled: float = random.uniform(self.delay - self.jitter, self.delay + self.jitter)
        return max(0.0, sampled)


@dataclass
class _Joined:
    conversation: Conversation
    presence: str | None
    online: set[str] = field(default_factory=set)


Observer = Callable[[Any], None]


class ChatClient:
    """One user's chat over a Pusher endpoint (thread-safe; see the module docstring).

    `client_events_per_second`: the budget of this connection, shared by messages and
    receipts. Pusher allows 10; the default stays safely below it. The embedded server can
    be configured with more, and then so can this. `keep_settled`: how many delivered
    messages per conversation stay in `messages()`, so memory stays bounded.
    """

    def __init__(
        self,
        user: str,
        ws_url: str | Endpoint,
        authorizer: Authorizer,
        *,
        event_log: StatusSink | None = None,
        client_events_per_second: float = PUSHER_CLIENT_EVENTS_PER_SECOND / 2,
        shared_clock: bool = False,
        read_receipts: bool = True,
        give_up_after: float | None = None,
        keep_settled: int = 1_000,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user = user
        self.event_log = event_log
        self.shared_clock = shared_clock
        self.network = NetworkConditions()
        self._clock = clock
        self._authorizer = authorizer
        rate = client_events_per_second
        self._bucket = TokenBucket(rate=rate, burst=max(1.0, min(rate, 5.0)))
        self._read_receipts = read_receipts
        self._give_up_after = give_up_after
        self._keep_settled = keep_settled
        self._joined: dict[str, _Joined] = {}
        self._by_presence: dict[str, str] = {}
        self._observers: list[Observer] = []
        self._lock = threading.Lock()  # guards snapshots read from other threads
        self._infos: dict[str, dict[str, MessageInfo]] = {}  # channel -> id -> snapshot
        self._next_wake: float | None = None
        self.link = PusherLink(
            ws_url,
            self._on_link_event,
            authorizer=authorizer,
            events=WIRE_EVENTS,
            backoff=backoff,
            name=f"chat-{user}",
        )

    @classmethod
    def login(
        cls, user: str, password: str, *, ws_url: str | Endpoint, auth_url: str, **options: Any
    ) -> ChatClient:
        """Log in to doubletick's auth server, then return a client signed by it."""
        auth = AuthServerClient(auth_url)
        auth.login(user, password)
        return cls(user, ws_url, auth, **options)

    # -- public API (any thread) -----------------------------------------------------

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def start(self) -> ChatClient:
        self.link.start()
        return self

    def join(self, channel: str, peers: Iterable[str], *, presence: str | None = None) -> None:
        """Take part in a conversation on `channel` with `peers`. `presence`: a presence
        channel whose members tell when peers are online (the conversation channel itself
        when it is a presence channel)."""
        peers = tuple(peers)
        if channel.startswith("presence-") and presence is None:
            presence = channel
        self.link.post(lambda: self._join(channel, peers, presence))

    def send(self, channel: str, text: str) -> str:
        """Queue a message; returns its id at once (the state changes arrive via observers)."""
        message_id = uuid.uuid4().hex
        self._after_delay(lambda: self._compose(channel, text, message_id), outgoing=False)
        return message_id

    def mark_read(self, channel: str, message_ids: Iterable[str] | None = None) -> None:
        """The user saw these received messages (all unread ones when None)."""
        ids = None if message_ids is None else tuple(message_ids)
        self.link.post(lambda: self._with(channel, lambda c: c.mark_read(self._clock(), ids)))

    def typing(self, channel: str) -> None:
        self.link.post(lambda: self._with(channel, lambda c: c.typing(self._clock())))

    def retry(self, channel: str, message_id: str) -> None:
        self.link.post(lambda: self._with(channel, lambda c: c.retry(message_id, self._clock())))

    def set_read_receipts(self, enabled: bool) -> None:
        """Send read receipts (and see others'), or neither: WhatsApp's reciprocity."""
        self._read_receipts = enabled

        def apply() -> None:
            for joined in self._joined.values():
                joined.conversation.set_read_receipts(enabled)

        self.link.post(apply)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the client's thread after `delay` seconds."""
        self.link.call_at(self._clock() + delay, fn)

    def set_online(self, online: bool) -> None:
        """Go offline (disconnect; messages wait as SENT) or come back online."""
        self.link.set_online(online)

    def messages(self, channel: str) -> tuple[MessageInfo, ...]:
        """Our messages in a conversation with their states (a snapshot; any thread)."""
        with self._lock:
            return tuple(self._infos.get(channel, {}).values())

    def message_state(self, channel: str, message_id: str) -> DeliveryState | None:
        for info in self.messages(channel):
            if info.id == message_id:
                return info.state
        return None

    @property
    def state(self) -> str:
        return self.link.state

    def close(self) -> None:
        """Disconnect and stop every thread this client started."""
        self.link.close()
        if isinstance(self._authorizer, AuthServerClient):
            self._authorizer.close()

    def __enter__(self) -> ChatClient:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- actor thread ----------------------------------------------------------------

    def _notify(self, event: object) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                log.exception("%s: an observer failed on %r", self.user, event)

    def _after_delay(self, fn: Callable[[], None], *, outgoing: bool) -> None:
        delay = self.network.sample() if outgoing else 0.0
        if delay > 0:
            self.link.call_at(self._clock() + delay, fn)
        else:
            self.link.post(fn)

    def _join(self, channel: str, peers: tuple[str, ...], presence: str | None) -> None:
        if channel in self._joined:
            return
        conversation = Conversation(
            self.user,
            channel,
            peers,
            bucket=self._bucket,
            read_receipts=self._read_receipts,
            shared_clock=self.shared_clock,
            give_up_after=self._give_up_after,
            keep_settled=self._keep_settled,
        )
        self._joined[channel] = _Joined(conversation, presence)
        if presence is not None:
            self._by_presence[presence] = channel
            self.link.subscribe(presence)
        self.link.subscribe(channel)

    def _with(self, channel: str, action: Callable[[Conversation], object]) -> None:
        joined = self._joined.get(channel)
        if joined is None:
            log.warning("%s: no conversation on %s", self.user, channel)
            return
        action(joined.conversation)
        self._pump()

    def _compose(self, channel: str, text: str, message_id: str) -> None:
        def compose(conversation: Conversation) -> None:
            conversation.compose(text, self._clock(), message_id)
            self._refresh(channel, conversation, (message_id,))

        self._with(channel, compose)

    def _refresh(self, channel: str, conversation: Conversation, ids: Iterable[str]) -> None:
        """Update the snapshots of these messages (only those: the history can be long)."""
        infos = {message_id: conversation.message_info(message_id) for message_id in ids}
        with self._lock:
            known = self._infos.setdefault(channel, {})
            known.update(infos)
            if len(known) > SNAPSHOT_SLACK * conversation.keep_settled:
                # the conversation forgot its oldest settled messages: so do we (amortised)
                self._infos[channel] = {info.id: info for info in conversation.messages()}

    def _on_link_event(self, event: LinkEvent) -> None:
        self._notify(event)
        if isinstance(event, ChannelEvent):
            self._after_delay(lambda: self._receive(event), outgoing=True)
        elif isinstance(event, Subscribed):
            self._subscribed(event)
        elif isinstance(event, (MemberAdded, MemberRemoved)):
            self._member(event.channel, event.user_id, isinstance(event, MemberAdded))
        elif isinstance(event, StateChanged) and event.current != "connected":
            self._disconnected()
        elif isinstance(event, SubscriptionFailed):
            log.warning("%s: subscription to %s failed: %s", self.user, event.channel, event.reason)
        self._pump()

    def _disconnected(self) -> None:
        """Away from the endpoint we cannot know who is online: say so, and learn it again
        from the presence channel after reconnecting."""
        for channel, joined in self._joined.items():
            joined.conversation.unsubscribed()
            for peer in sorted(joined.online):
                self._set_presence(joined, channel, peer, False)

    def _receive(self, event: ChannelEvent) -> None:
        joined = self._joined.get(event.channel)
        if joined is None:
            return
        rejection = joined.conversation.receive_event(event.event, event.data, self._clock())
        if rejection is not None:
            self._notify(rejection)
        self._pump()

    def _subscribed(self, event: Subscribed) -> None:
        now = self._clock()
        channel = self._by_presence.get(event.channel)
        if channel is not None and event.members is not None:
            joined = self._joined[channel]
            online = set(event.members) - {self.user}
            for peer in joined.conversation.peers:
                self._set_presence(joined, channel, peer, peer in online)
        joined_here = self._joined.get(event.channel)
        if joined_here is not None:
            members = None
            if joined_here.presence is not None and joined_here.presence != event.channel:
                presence_joined = self.link.is_subscribed(joined_here.presence)
                members = [self.user, *joined_here.online] if presence_joined else None
            elif event.members is not None:
                members = list(event.members)
            joined_here.conversation.subscribed(now, members=members)

    def _member(self, presence: str, user_id: str, online: bool) -> None:
        channel = self._by_presence.get(presence)
        if channel is None or user_id == self.user:
            return
        self._set_presence(self._joined[channel], channel, user_id, online)

    def _set_presence(self, joined: _Joined, channel: str, peer: str, online: bool) -> None:
        if peer not in joined.conversation.peers or (peer in joined.online) == online:
            return
        if online:
            joined.online.add(peer)
            joined.conversation.peer_online(peer, self._clock())
        else:
            joined.online.discard(peer)
            joined.conversation.peer_offline(peer)
        self._notify(PresenceChanged(channel, peer, online))

    def _pump(self) -> None:
        """Poll every conversation, act on its output, and plan the next wake-up."""
        now = self._clock()
        for channel, joined in self._joined.items():
            output = joined.conversation.poll(now)
            self._act(channel, output)
            if output.status_changes:
                changed = dict.fromkeys(c.message_id for c in output.status_changes)
                self._refresh(channel, joined.conversation, changed)
        self._plan_wake()

    def _act(self, channel: str, output: Output) -> None:
        for outgoing in output.send:
            send = functools.partial(self._trigger, channel, outgoing.event, outgoing.data)
            self._after_delay(send, outgoing=True)
        for change in output.status_changes:
            if self.event_log is not None:
                self.event_log.append(change)
            self._notify(change)
        for record in (*output.received, *output.typing):
            self._notify(record)

    def _trigger(self, channel: str, event: str, data: dict[str, Any]) -> None:
        if not self.link.trigger(channel, event, data):
            log.info("%s: %s not sent, %s is not subscribed", self.user, event, channel)

    def _plan_wake(self) -> None:
        deadlines = [j.conversation.next_deadline() for j in self._joined.values()]
        upcoming = [d for d in deadlines if d is not None]
        if not upcoming:
            return
        when = max(min(upcoming), self._clock() + 0.001)
        if self._next_wake is not None and self._next_wake <= when:
            return
        self._next_wake = when
        self.link.call_at(when, self._wake)

    def _wake(self) -> None:
        self._next_wake = None
        self._pump()


__all__ = ["AuthorizationError", "ChatClient", "NetworkConditions", "PresenceChanged"]
