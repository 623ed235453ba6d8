"""Delivery status of chat messages over Pusher client events, as a pure (sans-I/O) core.

Drive one `Conversation` per user per channel: feed it inputs with an explicit `now`
(monotonic seconds), call `poll(now)` and trigger `Output.send` on the channel, show
`Output.status_changes` and `Output.received`, append the changes to an `EventLog`, and wake
again at `next_deadline()`. See `conversation.py` for the loop, `states.py` for the states and
their one transition table, `wire.py` for the event shapes. Only `eventlog.py` does I/O.
"""

from __future__ import annotations

from doubletick.delivery.conversation import Conversation
from doubletick.delivery.eventlog import COLUMNS, EventLog, read_dataframe
from doubletick.delivery.pacing import Backoff, TokenBucket
from doubletick.delivery.records import (
    MessageInfo,
    OutgoingEvent,
    Output,
    PeerTyping,
    ReceivedMessage,
    RecipientInfo,
    StatusChange,
)
from doubletick.delivery.states import (
    TRANSITIONS,
    DeliveryState,
    LocalProtocolError,
    RemoteProtocolError,
    Trigger,
    advance,
    aggregate,
)
from doubletick.delivery.wire import (
    MAX_EVENT_BYTES,
    MessageAdded,
    Receipt,
    Rejection,
    Typing,
    WireEvent,
    parse_event,
)

__all__ = [
    "COLUMNS",
    "MAX_EVENT_BYTES",
    "TRANSITIONS",
    "Backoff",
    "Conversation",
    "DeliveryState",
    "EventLog",
    "LocalProtocolError",
    "MessageAdded",
    "MessageInfo",
    "OutgoingEvent",
    "Output",
    "PeerTyping",
    "Receipt",
    "ReceivedMessage",
    "RecipientInfo",
    "Rejection",
    "RemoteProtocolError",
    "StatusChange",
    "TokenBucket",
    "Trigger",
    "Typing",
    "WireEvent",
    "advance",
    "aggregate",
    "parse_event",
    "read_dataframe",
]
