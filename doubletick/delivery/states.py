"""The states of one message as its sender sees it, and the one table that moves them.

PENDING (clock) -> SENT (one tick) -> DELIVERED (two grey ticks) -> READ (two blue ticks).

- SENT: the message was handed to a Pusher endpoint (a client event went out on a
  subscribed channel). Pusher promises nothing more: it may still be lost.
- DELIVERED: the recipient's client stored it (it sent `client-message-delivered`).
- READ: the recipient's client showed it (`client-message-read`).
- FAILED: we gave up *before any endpoint accepted it*: it was too large for a client event,
  or no subscription was available within the conversation's give-up time. A message that was
  SENT never fails: like WhatsApp's single tick it waits, and the outbox keeps resending it.
  The user may retry a FAILED message: it goes back to PENDING with the same id.

Receipts only move forward: a late "read" implies delivered, a "delivered" after "read"
changes nothing, and the same receipt applied twice changes nothing. A receipt is evidence,
so it also lifts a FAILED message (it got through after all). Receipt triggers are defined
for every state, so input from a peer can never hit a missing entry; the local triggers
(HANDED_OFF, GAVE_UP, RETRY) raise LocalProtocolError where our own code misused them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType


class LocalProtocolError(Exception):
    """Our own code misused the delivery core (a bug on this side of the wire)."""


class RemoteProtocolError(Exception):
    """A peer's data broke the wire contract; the core reports it as a Rejection."""


class DeliveryState(enum.Enum):
    """Where one message stands for one recipient (or, aggregated, for its whole audience)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def tick(self) -> str:
        """The mark a chat UI shows for this state (READ's two ticks are drawn blue)."""
        return _TICKS[self]


_TICKS = {
    DeliveryState.PENDING: "🕓",
    DeliveryState.SENT: "✓",
    DeliveryState.DELIVERED: "✓✓",
    DeliveryState.READ: "✓✓",
    DeliveryState.FAILED: "!",
}


class Trigger(enum.Enum):
    """What can happen to a message; the first two are local, the receipts come from peers."""

    HANDED_OFF = "handed_off"
    DELIVERED_RECEIPT = "delivered_receipt"
    READ_RECEIPT = "read_receipt"
    GAVE_UP = "gave_up"
    RETRY = "retry"


_P, _S, _D, _R, _F = (
    DeliveryState.PENDING,
    DeliveryState.SENT,
    DeliveryState.DELIVERED,
    DeliveryState.READ,
    DeliveryState.FAILED,
)

TRANSITIONS: Mapping[tuple[DeliveryState, Trigger], DeliveryState] = MappingProxyType(
    {
        # handed to an endpoint: a resend of an acknowledged message changes nothing
        (_P, Trigger.HANDED_OFF): _S,
        (_S, Trigger.HANDED_OFF): _S,
        (_D, Trigger.HANDED_OFF): _D,
        (_R, Trigger.HANDED_OFF): _R,
        # delivered receipt: forward only, evidence lifts FAILED
        (_P, Trigger.DELIVERED_RECEIPT): _D,
        (_S, Trigger.DELIVERED_RECEIPT): _D,
        (_D, Trigger.DELIVERED_RECEIPT): _D,
        (_R, Trigger.DELIVERED_RECEIPT): _R,
        (_F, Trigger.DELIVERED_RECEIPT): _D,
        # read receipt: implies delivered
        (_P, Trigger.READ_RECEIPT): _R,
        (_S, Trigger.READ_RECEIPT): _R,
        (_D, Trigger.READ_RECEIPT): _R,
        (_R, Trigger.READ_RECEIPT): _R,
        (_F, Trigger.READ_RECEIPT): _R,
        # giving up is only possible before any endpoint accepted the message
        (_P, Trigger.GAVE_UP): _F,
        # the user retries a failed message: same id, back in the outbox
        (_F, Trigger.RETRY): _P,
    }
)

_RANK = {_P: 0, _S: 1, _D: 2, _R: 3}


def advance(state: DeliveryState, trigger: Trigger) -> DeliveryState:
    """The state after `trigger`; the same state when the trigger changes nothing.

    Raises LocalProtocolError for a local trigger the table does not allow (e.g. RETRY of a
    message that did not fail). Receipt triggers never raise.
    """
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise LocalProtocolError(f"cannot apply {trigger.name} to a {state.name} message") from None


def aggregate(states: Iterable[DeliveryState]) -> DeliveryState:
    """The tick of a message with several recipients: WhatsApp's minimum over the members.

    FAILED if any recipient's copy failed; otherwise the least advanced state. Two ticks
    appear only when every member stored the message, blue only when every member read it.
    """
    collected = list(states)
    if not collected:
        raise LocalProtocolError("a message needs at least one recipient")
    if _F in collected:
        return _F
    return min(collected, key=_RANK.__getitem__)


def is_at_least(state: DeliveryState, other: DeliveryState) -> bool:
    """Whether `state` is as far along as `other` (FAILED is behind everything)."""
    return _RANK.get(state, -1) >= _RANK.get(other, -1)
