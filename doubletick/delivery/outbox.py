"""The sender's side: our messages, each recipient's copy, and when each is (re)sent.

A message is handed to the endpoint as soon as the conversation is subscribed (one tick, even
when the recipient is offline: Pusher has no storage, so the outbox keeps it). While any
recipient's copy is not yet DELIVERED it is resent with the same id: at once after a
resubscribe or when that recipient comes online (presence member_added), and otherwise after
an exponential backoff, but only while an unacknowledged recipient may be online.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from doubletick.delivery.pacing import Backoff
from doubletick.delivery.records import MessageInfo, RecipientInfo, StatusChange
from doubletick.delivery.states import (
    DeliveryState,
    LocalProtocolError,
    Trigger,
    advance,
    aggregate,
)
from doubletick.delivery.wire import MessageAdded

UNACKNOWLEDGED = (DeliveryState.PENDING, DeliveryState.SENT)
NOT_YET_READ = (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.DELIVERED)


@dataclass
class Copy:
    """One recipient's view of one of our messages."""

    recipient: str
    state: DeliveryState = DeliveryState.PENDING
    delivered_at: float | None = None
    read_at: float | None = None
    delivered_remote_at: float | None = None
    read_remote_at: float | None = None

    def info(self) -> RecipientInfo:
        """A frozen snapshot for "message info"."""
        return RecipientInfo(
            self.recipient,
            self.state,
            self.delivered_at,
            self.read_at,
            self.delivered_remote_at,
            self.read_remote_at,
        )


@dataclass
class Entry:
    """One of our messages in the outbox, with its schedule."""

    id: str
    text: str
    seq: int
    composed_at: float
    copies: dict[str, Copy]
    pending_since: float
    next_send_at: float | None
    first_sent_at: float | None = None
    attempts: int = 0
    streak: int = 0  # sends since the last resubscribe/online reset: drives the backoff
    failure: str | None = None

    @property
    def state(self) -> DeliveryState:
        """The message's tick: the minimum over its recipients."""
        return aggregate(copy.state for copy in self.copies.values())

    def unacknowledged(self) -> list[str]:
        """Recipients whose copy is not yet DELIVERED (and has not FAILED)."""
        return [c.recipient for c in self.copies.values() if c.state in UNACKNOWLEDGED]

    def wire(self, sender: str) -> MessageAdded:
        """The message as it goes out; `sent_at` is the time of the first hand-off."""
        return MessageAdded(self.id, self.text, sender, self.seq, self.first_sent_at)


class Outbox:
    """Our messages in one conversation; produces StatusChange records as copies move."""

    def __init__(
        self,
        conversation: str,
        me: str,
        backoff: Backoff,
        shared_clock: bool = False,
        keep_settled: int = 1_000,
    ) -> None:
        if keep_settled < 1:
            raise LocalProtocolError("keep_settled must be at least 1")
        self.conversation = conversation
        self.me = me
        self.backoff = backoff
        self.shared_clock = shared_clock
        self._entries: dict[str, Entry] = {}
        # Indexes that keep the per-event work proportional to the messages still in flight,
        # not to the whole history: `_live` may still be sent (or give up), `_unread` may
        # still take a receipt that moves it.
        self._live: dict[str, Entry] = {}
        self._unread: dict[str, Entry] = {}
        # Messages that need no more sending, oldest first: beyond `keep_settled` the oldest
        # is forgotten, so memory stays bounded however long the conversation runs.
        self._settled: dict[str, None] = {}
        self.keep_settled = keep_settled

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, message_id: str) -> Entry | None:
        """The entry with this id, or None when it is not one of ours."""
        return self._entries.get(message_id)

    def add(self, entry: Entry) -> None:
        """Keep a newly composed message."""
        self._entries[entry.id] = entry
        self._track(entry)

    def live(self) -> list[Entry]:
        """Messages that may still be sent or given up: due, waiting for a resend, or PENDING."""
        return list(self._live.values())

    def up_to_seq(self, seq: int) -> list[Entry]:
        """Our messages numbered `seq` or lower that a cumulative receipt may still move."""
        return [entry for entry in self._unread.values() if entry.seq <= seq]

    def _track(self, entry: Entry) -> None:
        """Keep the indexes true after `entry` changed."""
        if entry.next_send_at is not None or entry.state is DeliveryState.PENDING:
            self._live[entry.id] = entry
            self._settled.pop(entry.id, None)
        else:
            self._live.pop(entry.id, None)
            self._settled[entry.id] = None
        if any(copy.state in NOT_YET_READ for copy in entry.copies.values()):
            self._unread[entry.id] = entry
        else:
            self._unread.pop(entry.id, None)
        while len(self._settled) > self.keep_settled:
            self._forget(next(iter(self._settled)))

    def _forget(self, message_id: str) -> None:
        del self._settled[message_id]
        del self._entries[message_id]
        self._unread.pop(message_id, None)

    def apply(
        self,
        entry: Entry,
        recipient: str,
        trigger: Trigger,
        now: float,
        remote_at: float | None = None,
        reason: str | None = None,
    ) -> StatusChange | None:
        """Move one copy through the transition table; None when nothing changed."""
        copy = entry.copies[recipient]
        old = copy.state
        new = advance(old, trigger)
        if new is old:
            return None
        copy.state = new
        since_delivered = self._stamp(copy, new, now, remote_at)
        if entry.state not in (DeliveryState.PENDING, DeliveryState.SENT):
            entry.next_send_at = None
        self._track(entry)
        return self._change(entry, copy, old, now, since_delivered, remote_at, reason)

    def _stamp(
        self, copy: Copy, new: DeliveryState, now: float, remote_at: float | None
    ) -> float | None:
        """Record receipt times on the copy; returns seconds from DELIVERED to READ."""
        if new is DeliveryState.DELIVERED:
            copy.delivered_at, copy.delivered_remote_at = now, remote_at
        elif new is DeliveryState.READ:
            copy.read_at, copy.read_remote_at = now, remote_at
            if copy.delivered_at is not None:
                return now - copy.delivered_at
            copy.delivered_at = now  # read implies delivered; the delivered receipt was lost
        return None

    def _change(
        self,
        entry: Entry,
        copy: Copy,
        old: DeliveryState,
        now: float,
        since_delivered: float | None,
        remote_at: float | None,
        reason: str | None,
    ) -> StatusChange:
        acknowledged = copy.state in (DeliveryState.DELIVERED, DeliveryState.READ)
        sent = entry.first_sent_at
        since_sent = now - sent if acknowledged and sent is not None else None
        one_way = None
        if self.shared_clock and remote_at is not None and sent is not None:
            one_way = remote_at - sent
        return StatusChange(
            message_id=entry.id,
            conversation=self.conversation,
            sender=self.me,
            recipient=copy.recipient,
            old=old,
            new=copy.state,
            at=now,
            since_sent=since_sent,
            since_delivered=since_delivered,
            remote_at=remote_at,
            one_way=one_way,
            reason=reason,
            message_state=entry.state,
        )

    def hand_off(self, entry: Entry, now: float) -> list[StatusChange]:
        """The message went out on the channel: count it, schedule its next resend."""
        entry.attempts += 1
        entry.streak += 1
        if entry.first_sent_at is None:
            entry.first_sent_at = now
        entry.next_send_at = now + self.backoff.delay(entry.streak)
        changes = self._apply_all(entry, Trigger.HANDED_OFF, now)
        self._track(entry)
        return changes

    def give_up(self, entry: Entry, now: float, reason: str) -> list[StatusChange]:
        """Stop trying a message no endpoint accepted: its PENDING copies become FAILED."""
        entry.failure = reason
        entry.next_send_at = None
        changes = self._apply_all(entry, Trigger.GAVE_UP, now, DeliveryState.PENDING, reason)
        self._track(entry)
        return changes

    def retry(self, entry: Entry, now: float) -> list[StatusChange]:
        """The user retries: FAILED copies go back to PENDING, the message is due at once."""
        changes = self._apply_all(entry, Trigger.RETRY, now, DeliveryState.FAILED)
        entry.failure = None
        entry.pending_since = now
        entry.next_send_at = now
        entry.streak = 0
        self._track(entry)
        return changes

    def _apply_all(
        self,
        entry: Entry,
        trigger: Trigger,
        now: float,
        only: DeliveryState | None = None,
        reason: str | None = None,
    ) -> list[StatusChange]:
        changes = []
        for copy in entry.copies.values():
            if only is None or copy.state is only:
                change = self.apply(entry, copy.recipient, trigger, now, reason=reason)
                if change is not None:
                    changes.append(change)
        return changes

    def make_due(self, now: float, recipient: str | None = None) -> None:
        """Resend at once (backoff restarts) every message not yet acknowledged by
        `recipient`, or by anyone when `recipient` is None (after a resubscribe)."""
        for entry in self:
            waiting = entry.unacknowledged()
            failed = entry.state is DeliveryState.FAILED
            if waiting and not failed and (recipient is None or recipient in waiting):
                entry.next_send_at = now
                entry.streak = 0
                self._track(entry)

    def send_time(self, entry: Entry, may_be_online: Callable[[str], bool]) -> float | None:
        """When this entry should next go out; None when a send could not help now. It
        helps when it was never sent (one tick is owed) or when a recipient who has not
        acknowledged it may be online."""
        if entry.next_send_at is None:
            return None
        if entry.attempts == 0 or any(map(may_be_online, entry.unacknowledged())):
            return entry.next_send_at
        return None

    def info(self, entry: Entry) -> MessageInfo:
        """A frozen snapshot of one message for the UI."""
        return MessageInfo(
            id=entry.id,
            conversation=self.conversation,
            sender=self.me,
            text=entry.text,
            seq=entry.seq,
            state=entry.state,
            composed_at=entry.composed_at,
            first_sent_at=entry.first_sent_at,
            attempts=entry.attempts,
            recipients=tuple(copy.info() for copy in entry.copies.values()),
            failure=entry.failure,
        )
