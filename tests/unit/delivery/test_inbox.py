from __future__ import annotations

import pytest

from doubletick.delivery import DeliveryState, LocalProtocolError
from doubletick.delivery.inbox import Inbox, ReceiptQueue, SeqWatermark, Stored


def test_the_watermark_counts_only_an_unbroken_run_from_one() -> None:
    mark = SeqWatermark()
    for seq in (1, 2, 4):
        mark.add(seq, f"m{seq}")
    assert mark.value == 2
    mark.add(3, "m3")
    assert mark.value == 4


def test_the_watermark_starts_over_when_a_sender_reuses_a_seq_for_a_new_id() -> None:
    mark = SeqWatermark()
    for seq in (1, 2, 3):
        mark.add(seq, f"old{seq}")
    mark.add(2, "new2")
    assert mark.value == 0
    mark.add(1, "new1")
    assert mark.value == 2


def test_storing_the_same_id_twice_is_a_bug_of_ours() -> None:
    inbox = Inbox()
    inbox.store(Stored("m1", "bob", 1, 0.0))
    with pytest.raises(LocalProtocolError, match="already stored"):
        inbox.store(Stored("m1", "bob", 1, 1.0))


def test_a_message_is_shown_once() -> None:
    inbox = Inbox()
    inbox.store(Stored("m1", "bob", None, 0.0))
    assert inbox.show("m1", 1.0) is not None
    assert inbox.show("m1", 2.0) is None
    assert inbox.watermark(DeliveryState.READ, "bob") == 0


def test_pending_receipts_of_one_kind_and_sender_leave_as_one_cumulative_receipt() -> None:
    inbox, queue = Inbox(), ReceiptQueue()
    for seq in (1, 2, 3):
        stored = Stored(f"m{seq}", "bob", seq, float(seq))
        inbox.store(stored)
        queue.add(DeliveryState.DELIVERED, stored, float(seq))
    receipt = queue.pop(inbox, "alice")
    assert not queue
    assert (receipt.id, receipt.up_to_seq, receipt.at) == ("m3", 3, 3.0)
    assert dict(receipt.times) == {"m1": 1.0, "m2": 2.0, "m3": 3.0}


def test_dropping_read_receipts_keeps_delivered_ones() -> None:
    inbox, queue = Inbox(), ReceiptQueue()
    stored = Stored("m1", "bob", None, 0.0)
    inbox.store(stored)
    queue.add(DeliveryState.DELIVERED, stored, 0.0)
    queue.add(DeliveryState.READ, stored, 1.0)
    queue.drop(DeliveryState.READ)
    assert queue.pop(inbox, "alice").state is DeliveryState.DELIVERED
    assert not queue


def test_the_watermark_forgets_what_lies_below_it_and_still_sees_a_restart() -> None:
    mark = SeqWatermark()
    for seq in (1, 2, 3):
        mark.add(seq, f"m{seq}")
    assert mark.value == 3
    assert mark._ids == {}  # nothing below the watermark is kept
    mark.add(1, "after-restart")  # an old seq under a new id: the sender started over
    assert mark.value == 1


def test_an_inbox_remembers_only_its_newest_ids() -> None:
    inbox = Inbox(keep=2)
    for n in (1, 2, 3):
        inbox.store(Stored(f"m{n}", "bob", n, float(n)))
    assert inbox.get("m1") is None
    assert inbox.unshown() == ["m2", "m3"]
    assert inbox.watermark(DeliveryState.DELIVERED, "bob") == 3


def test_an_inbox_must_keep_something() -> None:
    with pytest.raises(LocalProtocolError, match="at least one"):
        Inbox(keep=0)
