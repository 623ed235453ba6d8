"""The receiver's side: messages stored once per id, and the receipts we still owe.

Every copy of a message is acknowledged (our earlier receipt may have been lost), but each id
is stored and displayed once. Receipts wait in a queue and are coalesced when the event budget
is short: all pending receipts of one kind for one sender's messages leave as ONE event whose
`id` is the newest message covered, `times` lists every id covered with its own time (so
exact per-message times survive the merge), and `up_to_seq` states the watermark: every
message of that sender numbered up to it has been stored (delivered) or shown (read) here.
The watermark only counts unbroken runs from seq 1, so it never covers a message we lack.
"""

from __future__ import annotations

from dataclasses import dataclass

from doubletick.delivery.states import DeliveryState, LocalProtocolError
from doubletick.delivery.wire import Receipt


class SeqWatermark:
    """The highest N such that messages 1..N of one sender are all here."""

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}
        self.value = 0

    def add(self, seq: int, message_id: str) -> None:
        """Count message `seq`. The same seq under a new id means the sender started over
        (a restart): forget the old run rather than claim messages we never saw."""
        if seq <= self.value or self._ids.get(seq, message_id) != message_id:
            # Only new ids are counted, so an old seq under a new id is a restart too.
            self._ids.clear()
            self.value = 0
        self._ids[seq] = message_id
        while self.value + 1 in self._ids:
            self.value += 1
            del self._ids[self.value]  # below the watermark nothing needs remembering


@dataclass
class Stored:
    """A received message: when we stored it, and when (if) we showed it."""

    id: str
    sender: str | None
    seq: int | None
    received_at: float
    shown_at: float | None = None


class Inbox:
    """Received messages of one conversation, deduplicated by id."""

    def __init__(self, keep: int = 10_000) -> None:
        if keep < 1:
            raise LocalProtocolError("an inbox must keep at least one message")
        self.keep = keep  # the newest `keep` ids are remembered; older copies look new
        self._stored: dict[str, Stored] = {}
        self._unshown: dict[str, None] = {}  # ids in arrival order: no scan of the history
        self._watermarks: dict[tuple[DeliveryState, str | None], SeqWatermark] = {}

    def get(self, message_id: str) -> Stored | None:
        """The stored message with this id, or None when we never got it."""
        return self._stored.get(message_id)

    def store(self, stored: Stored) -> None:
        """Keep a message whose id is new here (check with `get` first)."""
        if stored.id in self._stored:
            raise LocalProtocolError(f"message {stored.id!r} is already stored")
        self._stored[stored.id] = stored
        self._unshown[stored.id] = None
        self._count(DeliveryState.DELIVERED, stored)
        while len(self._stored) > self.keep:
            oldest = next(iter(self._stored))
            del self._stored[oldest]
            self._unshown.pop(oldest, None)

    def show(self, message_id: str, now: float) -> Stored | None:
        """Mark a stored message shown; None when it was shown before."""
        stored = self._stored[message_id]
        if stored.shown_at is not None:
            return None
        stored.shown_at = now
        self._unshown.pop(message_id, None)
        self._count(DeliveryState.READ, stored)
        return stored

    def unshown(self) -> list[str]:
        """Ids of stored messages not yet shown, oldest first."""
        return list(self._unshown)

    def watermark(self, state: DeliveryState, sender: str | None) -> int:
        """Up to which seq every message of `sender` is stored (DELIVERED) or shown (READ)."""
        mark = self._watermarks.get((state, sender))
        return 0 if mark is None else mark.value

    def _count(self, state: DeliveryState, stored: Stored) -> None:
        if stored.seq is not None:
            key = (state, stored.sender)
            self._watermarks.setdefault(key, SeqWatermark()).add(stored.seq, stored.id)


class ReceiptQueue:
    """Receipts we owe, grouped by kind and by whose message they acknowledge."""

    def __init__(self) -> None:
        self._pending: dict[tuple[DeliveryState, str | None], dict[str, tuple[Stored, float]]]
        self._pending = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, state: DeliveryState, stored: Stored, at: float) -> None:
        """Owe a DELIVERED or READ receipt for `stored`, with our time `at`."""
        self._pending.setdefault((state, stored.sender), {})[stored.id] = (stored, at)

    def drop(self, state: DeliveryState) -> None:
        """Forget every pending receipt of one kind (read receipts were turned off)."""
        for key in [key for key in self._pending if key[0] is state]:
            del self._pending[key]

    def pop(self, inbox: Inbox, recipient: str) -> Receipt:
        """Take the oldest group of pending receipts as one coalesced Receipt."""
        (state, sender), owed = next(iter(self._pending.items()))
        del self._pending[(state, sender)]
        newest, at = max(owed.values(), key=lambda item: (item[0].seq or 0, item[0].received_at))
        return Receipt(
            state=state,
            id=newest.id,
            recipient=recipient,
            sender=sender,
            up_to_seq=inbox.watermark(state, sender) or None,
            at=at,
            times=tuple((message_id, time) for message_id, (_, time) in owed.items()),
        )
