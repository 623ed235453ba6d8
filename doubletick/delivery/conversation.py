"""The sans-I/O delivery engine: one user's side of one conversation on one channel.

Feed it what happened, with the time; take out what to send and what changed:

    conversation = Conversation("alice", "presence-chat", peers=["bob"])
    conversation.subscribed(now, members=["alice", "bob"])   # pusher:subscription_succeeded
    conversation.compose("hi", now)                          # the user pressed send
    out = conversation.poll(now)
    for event, data in out.send:                             # fits the token bucket now
        channel.trigger(event, data)
    ...                                                      # show out.status_changes,
    wake_at = conversation.next_deadline()                   # out.received; sleep until then

It never reads a clock, never blocks and never touches a socket. It is not thread-safe: the
caller serialises every call (one lock per connection is enough). Peer input never raises
(it is returned as a Rejection); misuse by our own code raises LocalProtocolError.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable

from doubletick.delivery.inbox import Inbox, ReceiptQueue, Stored
from doubletick.delivery.outbox import Copy, Entry, Outbox
from doubletick.delivery.pacing import Backoff, TokenBucket
from doubletick.delivery.records import (
    MessageInfo,
    OutgoingEvent,
    Output,
    PeerTyping,
    ReceivedMessage,
    StatusChange,
)
from doubletick.delivery.states import (
    DeliveryState,
    LocalProtocolError,
    RemoteProtocolError,
    Trigger,
)
from doubletick.delivery.wire import (
    MAX_EVENT_BYTES,
    MessageAdded,
    Receipt,
    Rejection,
    Typing,
    event_size,
    parse_event,
)


class Conversation:
    """One user's delivery state machine for one chat (two or more members) on one channel.

    `peers` are the other members, fixed for the conversation's life: each message gets one
    copy per peer and its tick is the minimum over them. A tutorial page's messages and
    receipts carry no user; in a one-to-one conversation they are attributed to the only
    peer, in a group messages keep sender None and receipts are rejected. On a presence
    channel pass the frame's `user_id` to `receive_event`: it overrides what data claims.

    Options: `bucket` (share ONE per connection), `backoff` (resend spacing), `give_up_after`
    (seconds a message may stay PENDING before it FAILS; None = never), `read_receipts`
    (WhatsApp reciprocity: off = we send none and show others' READ as DELIVERED),
    `shared_clock` (both users use the same clock: one-way delays are reported),
    `first_seq` (continue numbering after a restart), `typing_interval` (seconds between
    our `client-typing` events), `keep_settled` (how many of our messages that need no
    more sending are kept for `message_info`; older ones are forgotten, and a late receipt
    for them is ignored) and `keep_received` (how many received ids are remembered to drop
    duplicate copies): both keep a long conversation's memory bounded.
    """

    def __init__(
        self,
        me: str,
        channel: str,
        peers: Iterable[str],
        *,
        bucket: TokenBucket | None = None,
        backoff: Backoff | None = None,
        give_up_after: float | None = 60.0,
        read_receipts: bool = True,
        shared_clock: bool = False,
        first_seq: int = 1,
        typing_interval: float = 3.0,
        keep_settled: int = 1_000,
        keep_received: int = 10_000,
    ) -> None:
        self.me = me
        self.channel = channel
        self.peers = tuple(dict.fromkeys(peers))
        if not self.peers or me in self.peers:
            raise LocalProtocolError("peers must name the other members, not ourselves")
        Typing(me)  # raises now for a user id the wire refuses
        self.bucket = bucket if bucket is not None else TokenBucket()
        self.give_up_after = give_up_after
        self.shared_clock = shared_clock
        self.typing_interval = typing_interval
        self._read_receipts = read_receipts
        self.keep_settled = keep_settled
        self._outbox = Outbox(channel, me, backoff or Backoff(), shared_clock, keep_settled)
        self._inbox = Inbox(keep_received)
        self._receipts = ReceiptQueue()
        self._next_seq = first_seq
        self._subscribed = False
        self._offline: set[str] = set()
        self._typing_due = False
        self._last_typing: float | None = None
        self._changes: list[StatusChange] = []
        self._received: list[ReceivedMessage] = []
        self._typing_in: list[PeerTyping] = []

    # -- inputs from our own user -------------------------------------------------------

    def compose(self, text: str, now: float, message_id: str | None = None) -> str:
        """Queue a new message; returns its id (made here unless given). It leaves at the
        next `poll` while subscribed; a text too large for a client event FAILS at once."""
        if not text:
            raise LocalProtocolError("a message needs text")
        message_id = message_id or uuid.uuid4().hex
        if self._outbox.get(message_id) or self._inbox.get(message_id):
            raise LocalProtocolError(f"message id {message_id!r} is already used")
        MessageAdded(message_id, text, self.me)  # raises now for an id the wire refuses
        copies = {peer: Copy(peer) for peer in self.peers}
        entry = Entry(message_id, text, self._next_seq, now, copies, now, next_send_at=now)
        self._next_seq += 1
        self._outbox.add(entry)
        self._fail_if_too_large(entry, now)
        return message_id

    def mark_read(self, now: float, message_ids: Iterable[str] | None = None) -> None:
        """The user was shown these received messages (all unshown ones when None): owe
        read receipts for them, unless read receipts are turned off."""
        ids = self._inbox.unshown() if message_ids is None else list(message_ids)
        unknown = [message_id for message_id in ids if self._inbox.get(message_id) is None]
        if unknown:
            raise LocalProtocolError(f"no received message with id {unknown[0]!r}")
        for message_id in ids:
            stored = self._inbox.show(message_id, now)
            if stored is not None and self._read_receipts:
                self._receipts.add(DeliveryState.READ, stored, now)

    def retry(self, message_id: str, now: float) -> None:
        """The user retries a FAILED message: same id, back to PENDING, due at once."""
        entry = self._entry(message_id)
        if entry.state is not DeliveryState.FAILED:
            raise LocalProtocolError(f"message {message_id!r} has not failed")
        self._changes += self._outbox.retry(entry, now)
        self._fail_if_too_large(entry, now)

    def typing(self, now: float) -> None:
        """The user is typing: one `client-typing` per `typing_interval`, sent only if the
        budget has room at the next poll (it is never queued or resent)."""
        if self._last_typing is None or now - self._last_typing >= self.typing_interval:
            self._typing_due = True
            self._last_typing = now

    @property
    def read_receipts(self) -> bool:
        """Whether we send read receipts and see others' READ (WhatsApp's reciprocity)."""
        return self._read_receipts

    def set_read_receipts(self, enabled: bool) -> None:
        """Turn read receipts on or off. Off drops read receipts not yet sent; DELIVERED
        keeps flowing both ways. Receipt timing still shows when a device is in use."""
        self._read_receipts = enabled
        if not enabled:
            self._receipts.drop(DeliveryState.READ)

    # -- inputs from the connection -----------------------------------------------------

    def subscribed(self, now: float, members: Iterable[str] | None = None) -> None:
        """The channel subscription succeeded (first time or again after a reconnect).
        `members`: the presence member ids, when known. Every unacknowledged message is
        resent at once, with the same id."""
        self._subscribed = True
        if members is not None:
            self._offline = set(self.peers) - set(members)
        self._outbox.make_due(now)

    def unsubscribed(self) -> None:
        """The subscription or the connection is gone: nothing is sent until `subscribed`."""
        self._subscribed = False

    @property
    def is_subscribed(self) -> bool:
        """Whether client events can be sent now."""
        return self._subscribed

    def peer_online(self, user_id: str, now: float) -> None:
        """Presence member_added: resend at once what this peer has not acknowledged."""
        if user_id in self.peers:
            self._offline.discard(user_id)
            self._outbox.make_due(now, user_id)

    def peer_offline(self, user_id: str) -> None:
        """Presence member_removed: no timed resends for this peer until it returns."""
        if user_id in self.peers:
            self._offline.add(user_id)

    def receive_event(
        self, event: str, data: object, now: float, user_id: str | None = None
    ) -> Rejection | None:
        """Take one incoming client event (data as dict or JSON string). Returns a
        Rejection saying what was wrong with peer data, None when it was used (or was not
        for us). Never raises for anything a peer sent."""
        parsed = parse_event(event, data)
        if isinstance(parsed, Rejection):
            return parsed
        try:
            if isinstance(parsed, MessageAdded):
                self._on_message(parsed, now, user_id)
            elif isinstance(parsed, Receipt):
                self._on_receipt(parsed, now, user_id)
            else:
                self._on_typing(parsed, now, user_id)
        except RemoteProtocolError as exc:
            return Rejection(event, str(exc))
        return None

    # -- outputs ------------------------------------------------------------------------

    def poll(self, now: float) -> Output:
        """Do what is due at `now` and hand out everything since the last poll: events to
        trigger (already within the token bucket: receipts first, then messages, then
        typing), status changes, received messages, peers typing. Call it after every
        input and whenever `next_deadline()` has come."""
        send = self._send_due(now) if self._subscribed else []
        self._typing_due = False
        self._give_up_overdue(now)
        output = Output(
            tuple(send), tuple(self._changes), tuple(self._received), tuple(self._typing_in)
        )
        self._changes, self._received, self._typing_in = [], [], []
        return output

    def next_deadline(self) -> float | None:
        """When `poll` next has work (a time at or before now: poll at once); None when
        only new input can create work, so the caller may wait for input alone."""
        if self._changes or self._received or self._typing_in:
            return -math.inf
        candidates = []
        if self._subscribed:
            work = [time for time in map(self._send_time, self._outbox.live()) if time is not None]
            if self._receipts or self._typing_due:
                work.append(-math.inf)
            if work:
                candidates.append(max(min(work), self.bucket.ready_at()))
        if self.give_up_after is not None:
            candidates += [e.pending_since + self.give_up_after for e in self._pending()]
        return min(candidates, default=None)

    # -- queries ------------------------------------------------------------------------

    def message_info(self, message_id: str) -> MessageInfo:
        """One of our messages with each recipient's state and times ("message info")."""
        return self._outbox.info(self._entry(message_id))

    def message_state(self, message_id: str) -> DeliveryState:
        """The tick of one of our messages: the minimum over its recipients."""
        return self._entry(message_id).state

    def messages(self) -> tuple[MessageInfo, ...]:
        """All our messages in this conversation, oldest first."""
        return tuple(self._outbox.info(entry) for entry in self._outbox)

    def unread(self) -> tuple[str, ...]:
        """Ids of received messages not yet marked read, oldest first."""
        return tuple(self._inbox.unshown())

    # -- internals ----------------------------------------------------------------------

    def _entry(self, message_id: str) -> Entry:
        entry = self._outbox.get(message_id)
        if entry is None:
            raise LocalProtocolError(f"no message of ours with id {message_id!r}")
        return entry

    def _pending(self) -> list[Entry]:
        return [entry for entry in self._outbox.live() if entry.state is DeliveryState.PENDING]

    def _send_time(self, entry: Entry) -> float | None:
        return self._outbox.send_time(entry, lambda peer: peer not in self._offline)

    def _fail_if_too_large(self, entry: Entry, now: float) -> None:
        size = event_size(MessageAdded(entry.id, entry.text, self.me, entry.seq, now).to_data())
        if size > MAX_EVENT_BYTES:
            reason = f"too large for a client event: {size} bytes > {MAX_EVENT_BYTES}"
            self._changes += self._outbox.give_up(entry, now, reason)

    def _give_up_overdue(self, now: float) -> None:
        if self.give_up_after is None:
            return
        for entry in self._pending():
            if now >= entry.pending_since + self.give_up_after:
                reason = f"no endpoint accepted it within {self.give_up_after:g} s"
                self._changes += self._outbox.give_up(entry, now, reason)

    def _send_due(self, now: float) -> list[OutgoingEvent]:
        send = []
        while self._receipts and self.bucket.try_take(now):
            receipt = self._receipts.pop(self._inbox, self.me)
            send.append(OutgoingEvent(receipt.event.value, receipt.to_data()))
        due = [(t, e.seq, e) for e in self._outbox.live() if (t := self._send_time(e)) is not None]
        for _, _, entry in sorted(d for d in due if d[0] <= now):
            if not self.bucket.try_take(now):
                break
            self._changes += self._outbox.hand_off(entry, now)
            message = entry.wire(self.me)
            send.append(OutgoingEvent(message.event.value, message.to_data()))
        typing = Typing(self.me)
        if self._typing_due and self.bucket.try_take(now):
            send.append(OutgoingEvent(typing.event.value, typing.to_data()))
        return send

    def _author(self, claimed: str | None, user_id: str | None, role: str) -> str | None:
        """Who a peer event is from (or, for a receipt, who acknowledges), checked."""
        if user_id is not None and claimed is not None and claimed != user_id:
            raise RemoteProtocolError(f"{role} {claimed!r} is not the channel's {user_id!r}")
        who = user_id if user_id is not None else claimed
        if who is None:
            return self.peers[0] if len(self.peers) == 1 else None
        if who not in self.peers:
            raise RemoteProtocolError(f"{role} {who!r} is not a peer in this conversation")
        return who

    def _on_message(self, message: MessageAdded, now: float, user_id: str | None) -> None:
        sender = self._author(message.sender, user_id, "sender")
        known = self._inbox.get(message.id)
        if known is not None:
            self._acknowledge_again(known)
            return
        stored = Stored(message.id, sender, message.seq, now)
        self._inbox.store(stored)
        one_way = None
        if self.shared_clock and message.sent_at is not None:
            one_way = now - message.sent_at
        self._received.append(
            ReceivedMessage(
                message.id,
                self.channel,
                sender,
                message.message,
                now,
                message.seq,
                message.sent_at,
                one_way,
            )
        )
        self._receipts.add(DeliveryState.DELIVERED, stored, now)

    def _acknowledge_again(self, stored: Stored) -> None:
        """A copy we already have: our receipt may have been lost, so answer again with
        the furthest receipt we may give (read implies delivered)."""
        if stored.shown_at is not None and self._read_receipts:
            self._receipts.add(DeliveryState.READ, stored, stored.shown_at)
        else:
            self._receipts.add(DeliveryState.DELIVERED, stored, stored.received_at)

    def _on_receipt(self, receipt: Receipt, now: float, user_id: str | None) -> None:
        if receipt.sender is not None and receipt.sender != self.me:
            return  # a receipt for another member's message: not ours to track
        recipient = self._author(receipt.recipient, user_id, "recipient")
        if recipient is None:
            raise RemoteProtocolError("a receipt without recipient is ambiguous in a group")
        shown_read = receipt.state is DeliveryState.READ and self._read_receipts
        trigger = Trigger.READ_RECEIPT if shown_read else Trigger.DELIVERED_RECEIPT
        covered = receipt.covered_times()
        if receipt.up_to_seq is not None and receipt.sender == self.me:
            for earlier in self._outbox.up_to_seq(receipt.up_to_seq):
                covered.setdefault(earlier.id, None)
        for message_id, remote_at in covered.items():
            entry = self._outbox.get(message_id)
            if entry is None:
                continue  # unknown ids are ignored (XEP-0333)
            if receipt.state is not DeliveryState.DELIVERED and not shown_read:
                remote_at = None  # a show time we chose not to see
            change = self._outbox.apply(entry, recipient, trigger, now, remote_at)
            if change is not None:
                self._changes.append(change)

    def _on_typing(self, typing: Typing, now: float, user_id: str | None) -> None:
        sender = self._author(typing.sender, user_id, "sender")
        self._typing_in.append(PeerTyping(self.channel, sender, now))
