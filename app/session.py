"""One page's wiring: two users with their own accounts and channel, their chat clients, and
the queue that carries what the clients' threads observe to the page's stores.

Client observers run on the clients' threads and only append to a deque; `drain()` runs on
the page's own thread (a periodic callback, or a test calling it) and applies everything
queued to the stores in one batch. The session turns the stores' switches into client calls.
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import param

from app.inspector import InspectorStore
from app.latency import LatencyStore
from app.stores import ChatStore, DashboardStore, wall_clock
from auth_server import dm_channel
from doubletick.client.chat import ChatClient, PresenceChanged
from doubletick.client.link import ErrorReceived, FrameLogged, StateChanged, SubscriptionFailed
from doubletick.delivery import (
    DeliveryState,
    PeerTyping,
    ReceivedMessage,
    Rejection,
    StatusChange,
)
from doubletick.embedded import Account, EmbeddedRuntime

log = logging.getLogger(__name__)

GIVE_UP_AFTER = 20.0  # seconds a message may wait for a connection before it FAILS
LATENCY_PERIOD = 0.25  # seconds between updates of the latency timeline and percentiles
QUEUE_LIMIT = 50_000  # events between two drains; beyond it the oldest are dropped
CONTROLS = ("online", "chat_open", "read_receipts", "delay_ms", "jitter_ms")
WORDS = (
    "hi", "ok", "see you", "on my way", "lunch?", "sounds good", "haha", "where are you",
    "call me", "running late", "done", "thanks!", "what time", "tomorrow", "nice",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServerRestarted:
    """The embedded server came back (or could not): queued like a client event."""

    error: str = ""


@dataclass(frozen=True, slots=True)
class Queued:
    role: str
    wall_at: float
    monotonic_at: float
    event: object


class UserActions:
    """What a `ChatStore` may ask of its user's client (the store knows no clients)."""

    def __init__(self, client: ChatClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    def send(self, text: str) -> str:
        return self.client.send(self.channel, text)

    def typing(self) -> None:
        self.client.typing(self.channel)

    def retry(self, message_id: str) -> None:
        self.client.retry(self.channel, message_id)


class DashboardSession:
    """Two users (Alice and Bob) of one page, each a `ChatClient` on `runtime`'s endpoint.

    `start()` registers the session's accounts, logs both in and joins their channel;
    `drain()` applies queued client events to `store`; `close()` disconnects both and
    forgets the accounts. Names: ``alice_<id>`` / ``bob_<id>``, channel
    ``private-dm-alice_<id>-bob_<id>`` plus its presence twin for online state.
    """

    def __init__(
        self,
        runtime: EmbeddedRuntime,
        *,
        session_id: str | None = None,
        queue_limit: int = QUEUE_LIMIT,
        give_up_after: float = GIVE_UP_AFTER,
        seed: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.give_up_after = give_up_after
        self.session_id = session_id or secrets.token_hex(4)
        endpoint = runtime.endpoint
        self.store = DashboardStore(
            alice=ChatStore(display_name="Alice", peer_name="Bob"),
            bob=ChatStore(display_name="Bob", peer_name="Alice"),
            latency=LatencyStore(flush_every=LATENCY_PERIOD),
            inspector=InspectorStore(users=("Alice", "Bob")),
            endpoint=endpoint.describe(),
            restartable=endpoint.restartable,
        )
        self.clients: dict[str, ChatClient] = {}
        self.accounts: tuple[Account, ...] = ()
        self.channel = self.presence = ""
        self._events: deque[Queued] = deque(maxlen=queue_limit)
        self._random = random.Random(seed)
        self._turns = itertools.cycle(("alice", "bob"))
        self._auto_since: float | None = None
        self._auto_credit = 0.0
        self._dropped = 0  # counted on client threads, published by drain()
        self._lock = threading.Lock()
        self._started = self._closed = False

    @property
    def stores(self) -> dict[str, ChatStore]:
        return {"alice": self.store.alice, "bob": self.store.bob}

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> DashboardSession:
        with self._lock:
            if self._started or self._closed:
                return self
            self._started = True
            self.accounts = self.runtime.create_accounts(
                (f"alice_{self.session_id}", "Alice"), (f"bob_{self.session_id}", "Bob")
            )
        alice, bob = self.accounts
        self.channel = dm_channel(alice.user, bob.user)
        self.presence = dm_channel(alice.user, bob.user, presence=True)
        for role, account, peer in (("alice", alice, bob), ("bob", bob, alice)):
            self._connect(role, account, peer)
        self.store.restart_server = self.restart_server
        return self

    def _connect(self, role: str, account: Account, peer: Account) -> None:
        store = self.stores[role]
        client = self.runtime.connect(account, shared_clock=True, give_up_after=self.give_up_after)
        self.clients[role] = client
        client.add_observer(lambda event: self._observe(role, event))
        client.set_read_receipts(store.read_receipts)
        store.param.update(user=account.user, actions=UserActions(client, self.channel))
        store.param.watch(lambda event: self._control(role, event), list(CONTROLS))
        client.start()
        client.join(self.channel, [peer.user], presence=self.presence)

    def close(self) -> None:
        """Disconnect both users and forget their accounts; safe to call twice, from any
        thread (it blocks until the clients' threads have ended)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for client in self.clients.values():
            client.close()
        self.runtime.release_accounts(self.accounts)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- client threads ------------------------------------------------------------------

    def _observe(self, role: str, event: object) -> None:
        if len(self._events) == self._events.maxlen:
            self._dropped += 1  # racy by one at worst: it is a gauge
        self._events.append(Queued(role, time.time(), time.monotonic(), event))

    # -- the page's thread ---------------------------------------------------------------

    def drain(self, now: float | None = None) -> int:
        """Apply every queued event to the stores, send what the automatic conversation
        owes (by `now`, monotonic), mark shown messages read; returns how many events
        were applied."""
        now = time.monotonic() if now is None else now
        count, to_read = 0, {"alice": [], "bob": []}
        while self._events:
            queued = self._events.popleft()
            count += 1
            read_id = self._apply(queued)
            if read_id is not None:
                to_read[queued.role].append(read_id)
        self._auto_send(now)
        for role, store in self.stores.items():
            # shown in this very update: the receipt goes first, rendering follows
            if to_read[role] and store.chat_open and not self._closed:
                self.clients[role].mark_read(self.channel, to_read[role])
            store.publish(now)
        self.store.latency.flush(now)
        self.store.inspector.flush(now)
        if self._dropped != self.store.dropped_events:
            self.store.dropped_events = self._dropped
        return count

    def _apply(self, queued: Queued) -> str | None:
        """Apply one event; returns the id of a received message the user now sees."""
        store, event = self.stores.get(queued.role), queued.event
        if isinstance(event, FrameLogged):
            at = wall_clock(event.at, queued.monotonic_at, queued.wall_at)
            self.store.inspector.add(self.stores[queued.role].display_name, event, at)
        elif isinstance(event, StatusChange) and store is not None:
            reached = wall_clock(event.at, queued.monotonic_at, queued.wall_at)
            store.apply_change(event, queued.wall_at, reached)
            self.store.latency.add(event, queued.wall_at)
        elif isinstance(event, ReceivedMessage) and store is not None:
            store.receive(event)
            return event.id
        elif isinstance(event, ServerRestarted):
            self._restarted(event, queued.wall_at)
        elif store is not None:
            self._apply_state(store, event, queued)
        return None

    def _apply_state(self, store: ChatStore, event: object, queued: Queued) -> None:
        if isinstance(event, PresenceChanged):
            store.peer_online = event.online
        elif isinstance(event, PeerTyping):
            store.peer_is_typing(queued.monotonic_at)
        elif isinstance(event, StateChanged):
            store.connection = event.current
            if event.current != "connected":
                store.peer_online = False  # we cannot know while we are away
        elif isinstance(event, (Rejection, ErrorReceived, SubscriptionFailed)):
            store.add_notice(_describe(event), queued.wall_at)

    def _control(self, role: str, event: param.parameterized.Event) -> None:
        client = self.clients[role]
        name, value = event.name, event.new
        if name == "online":
            client.set_online(bool(value))
        elif name == "read_receipts":
            client.set_read_receipts(bool(value))
        elif name == "chat_open" and value:
            client.mark_read(self.channel)
        elif name == "delay_ms":
            client.network.delay = float(value) / 1000.0
        elif name == "jitter_ms":
            client.network.jitter = float(value) / 1000.0

    # -- automatic conversation ------------------------------------------------------------

    def _auto_send(self, now: float) -> None:
        """Send `rate` messages per second in turns, in whole messages per drain."""
        if not self.store.auto_chat or not self.clients or self._closed:
            self._auto_since = None
            return
        rate = self.store.rate
        if self._auto_since is None:
            self._auto_since, self._auto_credit = now, 1.0
        credit = self._auto_credit + (now - self._auto_since) * rate
        self._auto_since = now
        due = int(min(credit, rate + 1.0))  # after a stall, catch up at most one second
        self._auto_credit = min(credit - due, 1.0)
        wall = time.time()
        for _ in range(due):
            role = next(self._turns)
            text = self._random_text()
            message_id = self.clients[role].send(self.channel, text)
            self.stores[role].queue_own(message_id, text, wall)

    def _random_text(self) -> str:
        words = self._random.sample(WORDS, self._random.randint(1, 3))
        return " ".join(words).capitalize()

    # -- restart -----------------------------------------------------------------------

    def restart_server(self) -> None:
        """Restart the embedded server in the background; the page hears when it is back."""
        threading.Thread(target=self._restart, name="dashboard-restart", daemon=True).start()

    def _restart(self) -> None:
        try:
            self.runtime.restart_server()
        except Exception as exc:
            log.exception("restarting the embedded server failed")
            self._observe("server", ServerRestarted(str(exc)))
        else:
            self._observe("server", ServerRestarted())

    def _restarted(self, event: ServerRestarted, wall_at: float) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(wall_at))
        if event.error:
            self.store.server_status = f"restart failed at {stamp}: {event.error}"
        else:
            self.store.server_status = (
                f"server restarted at {stamp}: clients reconnect and resend what is unacknowledged"
            )

    # -- queries (tests, notebooks) ----------------------------------------------------------

    def state_of(self, role: str, message_id: str) -> DeliveryState | None:
        item = self.stores[role].message(message_id)
        return None if item is None else item.state

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once both users are connected and see each other online."""
        return wait_for(self._both_online, timeout, step=self.drain)

    def _both_online(self) -> bool:
        return all(s.connection == "connected" and s.peer_online for s in self.stores.values())


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 10.0,
    step: Callable[[], Any] | None = None,
) -> bool:
    """Check `condition` (calling `step` first, e.g. a drain) until it holds or `timeout`
    passes: for notebooks and scripts without a page's periodic callback."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if condition():
            return True
        pause.wait(0.02)  # the drain interval of a page without one
    return False


def _describe(event: object) -> str:
    if isinstance(event, Rejection):
        return f"rejected {event.event}: {event.reason}"
    if isinstance(event, ErrorReceived):
        return f"pusher:error {event.code}: {event.message}"
    if isinstance(event, SubscriptionFailed):
        return f"subscription to {event.channel} failed: {event.reason}"
    return repr(event)
