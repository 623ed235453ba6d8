"""What the delivery core hands out: events to send, status changes, received messages.

All times are floats on the clock the caller passes in (normally `time.monotonic()`).
"sender clock" values are comparable with each other; "receiver clock" values come from the
peer and are comparable with ours only when both users share a clock (one process), which is
what `Conversation(shared_clock=True)` declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from doubletick.delivery.states import DeliveryState


class OutgoingEvent(NamedTuple):
    """One client event to trigger on the conversation's channel: `(event, data)`."""

    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One recipient's copy of one of our messages changed state (one row of the event log).

    `at` is the sender clock at the change. `since_sent` (DELIVERED, READ): seconds from the
    first hand-off to now; `since_delivered` (READ): seconds from DELIVERED to now; both are
    round-trip measurements on the sender's own clock. `remote_at` is the receiver-clock time
    the peer stored (DELIVERED) or showed (READ) the message. `one_way` is
    `remote_at - first hand-off`: a true one-way delay, set only when the conversation
    declared `shared_clock=True`, else None. `message_state` is the message's tick after
    the change (the minimum over all its recipients: what the chat bubble shows).
    """

    message_id: str
    conversation: str
    sender: str
    recipient: str
    old: DeliveryState
    new: DeliveryState
    at: float
    message_state: DeliveryState
    since_sent: float | None = None
    since_delivered: float | None = None
    remote_at: float | None = None
    one_way: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message from a peer, new to us: display it (each id is handed out once).

    `sender` is None only when a tutorial page sent it in a group, where nobody can tell who.
    `one_way` = received_at - sent_at, set only with `shared_clock=True`.
    """

    id: str
    conversation: str
    sender: str | None
    text: str
    received_at: float
    seq: int | None = None
    sent_at: float | None = None
    one_way: float | None = None


@dataclass(frozen=True, slots=True)
class PeerTyping:
    """A peer is typing now (show it for a few seconds; nothing is sent when they stop)."""

    conversation: str
    sender: str | None
    at: float


@dataclass(frozen=True, slots=True)
class RecipientInfo:
    """WhatsApp's "message info" line for one recipient; all times on the sender clock
    except `delivered_remote_at` / `read_remote_at` (receiver clock, from the receipts)."""

    recipient: str
    state: DeliveryState
    delivered_at: float | None = None
    read_at: float | None = None
    delivered_remote_at: float | None = None
    read_remote_at: float | None = None


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One of our messages: its aggregate tick (minimum over recipients) and each recipient."""

    id: str
    conversation: str
    sender: str
    text: str
    seq: int
    state: DeliveryState
    composed_at: float
    first_sent_at: float | None
    attempts: int
    recipients: tuple[RecipientInfo, ...]
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """Everything one `Conversation.poll(now)` hands out.

    `send`: trigger these client events on the channel now, in order (they already fit the
    token bucket). `status_changes`: update ticks, append to the event log. `received`:
    display these new messages. `typing`: peers typing.
    """

    send: tuple[OutgoingEvent, ...] = ()
    status_changes: tuple[StatusChange, ...] = ()
    received: tuple[ReceivedMessage, ...] = ()
    typing: tuple[PeerTyping, ...] = ()
