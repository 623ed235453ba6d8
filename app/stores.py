"""The dashboard's model: param stores that hold what the page shows, tested without a browser.

Stores are changed on the session's own thread only (the drain, or a widget callback) and
know nothing about Panel: views watch their parameters. Client events reach them through
`app.session.DashboardSession`, which owns the chat clients.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import param

from app.inspector import InspectorStore
from app.latency import LatencyStore
from doubletick.delivery import DeliveryState, ReceivedMessage, StatusChange

STATE_LABELS = {
    DeliveryState.PENDING: "Sending",
    DeliveryState.SENT: "Sent",
    DeliveryState.DELIVERED: "Delivered",
    DeliveryState.READ: "Read",
    DeliveryState.FAILED: "Failed",
}
_FAILED = DeliveryState.FAILED
TYPING_SHOWN_FOR = 3.0  # seconds a "typing..." stays after the peer's last typing event


def wall_clock(monotonic_at: float, now_monotonic: float, now_wall: float) -> float:
    """A monotonic reading as wall-clock seconds, via a pair of readings taken together."""
    return now_wall - (now_monotonic - monotonic_at)


class ChatActions(Protocol):
    """What a store may ask of its user's chat client."""

    def send(self, text: str) -> str: ...

    def typing(self) -> None: ...

    def retry(self, message_id: str) -> None: ...


class MessageItem(param.Parameterized):
    """One message as one pane shows it: the user's own (with a tick) or the peer's."""

    message_id = param.String(default="")
    text = param.String(default="")
    author = param.String(default="")
    own = param.Boolean(default=True)
    state = param.Selector(objects=list(DeliveryState), default=DeliveryState.PENDING)
    steps = param.Dict(default={}, doc="state value -> wall-clock time it was reached")
    changed_at = param.Number(
        default=0.0, doc="wall-clock time the client observed the newest state change"
    )
    failure = param.String(default="")

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    def advance(self, change: StatusChange, observed_at: float, reached_at: float) -> None:
        steps = dict(self.steps)
        steps.setdefault(change.new.value, reached_at)
        self.param.update(
            state=change.message_state,
            steps=steps,
            changed_at=observed_at,
            failure=change.reason or "",
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth telling the user that is not a message (a rejection, an error)."""

    at: float
    text: str


class ChatStore(param.Parameterized):
    """One user's side of the conversation: messages, what they see of the peer, and the
    switches the user controls. `actions` (set by the session) reaches the user's client."""

    user = param.String(default="alice")
    display_name = param.String(default="Alice")
    peer_name = param.String(default="Bob")
    messages = param.List(default=[], item_type=MessageItem, doc="newest last, capped")
    max_messages = param.Integer(default=200, bounds=(1, None))
    sent_count = param.Integer(default=0)
    received_count = param.Integer(default=0)
    connection = param.String(default="initialized")
    peer_online = param.Boolean(default=False)
    peer_typing = param.Boolean(default=False)
    notices = param.List(default=[])

    online = param.Boolean(default=True, doc="connected, or offline on purpose")
    chat_open = param.Boolean(default=True, doc="open: reads at once; else in the background")
    read_receipts = param.Boolean(default=True, doc="send read receipts and see the peer's")
    delay_ms = param.Number(default=0.0, bounds=(0, 5000), doc="injected network delay")
    jitter_ms = param.Number(default=0.0, bounds=(0, 5000), doc="+- around the delay")

    actions = param.Parameter(default=None, doc="a ChatActions; set by the session")

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._by_id: dict[str, MessageItem] = {}
        self._typing_until = 0.0
        self._new: list[MessageItem] = []

    # -- actions from the page -----------------------------------------------------------

    def send(self, text: str) -> MessageItem | None:
        """Send `text` (blank text is ignored); its item is shown at once as Sending."""
        text = text.strip()
        if not text or self.actions is None:
            return None
        message_id = self.actions.send(text)
        item = MessageItem(message_id=message_id, text=text, author=self.display_name, own=True)
        item.steps = {DeliveryState.PENDING.value: time.time()}
        self._new.append(item)
        self.sent_count += 1
        self.publish()
        return item

    def typing(self) -> None:
        """The user is typing (the client sends at most one event per few seconds)."""
        if self.actions is not None:
            self.actions.typing()

    def retry_failed(self) -> int:
        """Retry every message shown as Failed; returns how many."""
        failed = [item for item in self.messages if item.own and item.state is _FAILED]
        for item in failed:
            self.actions.retry(item.message_id)
        return len(failed)

    # -- what the client saw (the session calls these in its drain) ----------------------

    def queue_own(self, message_id: str, text: str, at: float) -> None:
        """An automatic message sent on this user's behalf; shown at the next `publish`."""
        steps = {DeliveryState.PENDING.value: at}
        item = MessageItem(message_id=message_id, text=text, author=self.display_name)
        item.steps = steps
        self._new.append(item)
        self.sent_count += 1

    def receive(self, message: ReceivedMessage) -> None:
        item = MessageItem(
            message_id=message.id,
            text=message.text,
            author=self.peer_name,
            own=False,
            state=DeliveryState.DELIVERED,
        )
        self._new.append(item)
        self.received_count += 1
        self._typing_until = 0.0

    def apply_change(self, change: StatusChange, observed_at: float, reached_at: float) -> None:
        """A status change of one of our messages (ignored once the item was dropped)."""
        item = self._by_id.get(change.message_id) or self._pending_item(change.message_id)
        if item is not None:
            item.advance(change, observed_at, reached_at)

    def peer_is_typing(self, now: float) -> None:
        self._typing_until = now + TYPING_SHOWN_FOR

    def add_notice(self, text: str, at: float, keep: int = 20) -> None:
        self.notices = [*self.notices[-(keep - 1) :], Notice(at, text)]

    def publish(self, now: float | None = None) -> None:
        """Show what was queued since the last call, in one update of `messages`."""
        if now is not None:
            typing = now < self._typing_until
            if typing != self.peer_typing:
                self.peer_typing = typing
        if not self._new:
            return
        new, self._new = self._new, []
        kept = [*self.messages, *new][-self.max_messages :]
        self._by_id = {item.message_id: item for item in kept}
        self.messages = kept

    def clear(self) -> None:
        self._new = []
        self._by_id = {}
        self.param.update(messages=[], sent_count=0, received_count=0, notices=[])

    def message(self, message_id: str) -> MessageItem | None:
        return self._by_id.get(message_id) or self._pending_item(message_id)

    def _pending_item(self, message_id: str) -> MessageItem | None:
        return next((item for item in self._new if item.message_id == message_id), None)


class DashboardStore(param.Parameterized):
    """Everything one page shows: both users, the latency timeline, the protocol inspector,
    the automatic conversation and the endpoint."""

    alice = param.ClassSelector(class_=ChatStore)
    bob = param.ClassSelector(class_=ChatStore)
    latency = param.ClassSelector(class_=LatencyStore)
    inspector = param.ClassSelector(class_=InspectorStore)

    auto_chat = param.Boolean(default=False, doc="send random messages automatically")
    rate = param.Number(default=1.5, bounds=(0.2, 50.0), doc="automatic messages per second")
    endpoint = param.String(default="", doc="which Pusher endpoint is used")
    restartable = param.Boolean(default=False)
    server_status = param.String(default="")
    dropped_events = param.Integer(default=0, doc="client events the page could not keep up with")

    restart_server = param.Callable(default=None, doc="restarts the endpoint; set by the session")

    def users(self) -> tuple[ChatStore, ChatStore]:
        return (self.alice, self.bob)

    def clear_history(self) -> None:
        for store in self.users():
            store.clear()
        self.latency.clear()
        self.inspector.clear()

    def request_restart(self) -> None:
        if self.restart_server is not None and self.restartable:
            self.server_status = "restarting the server..."
            self.restart_server()
