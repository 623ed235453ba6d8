"""A pair (or group) of conversations wired together in memory, like h11's ConnectionPair.

`Chat` plays Pusher: what one member's poll hands out is delivered to every other member as
the client event it would be, unless a test drops it on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from doubletick.delivery import Conversation, DeliveryState, OutgoingEvent, Output, TokenBucket

P, S, D, R, F = (  # short names for tables of states in tests
    DeliveryState.PENDING,
    DeliveryState.SENT,
    DeliveryState.DELIVERED,
    DeliveryState.READ,
    DeliveryState.FAILED,
)

Drop = Callable[[str, OutgoingEvent], bool]


@dataclass
class Chat:
    """Members of one channel; `now` is the shared test clock."""

    members: dict[str, Conversation]
    now: float = 0.0
    outputs: dict[str, list[Output]] = field(default_factory=dict)
    wire: list[tuple[str, OutgoingEvent]] = field(default_factory=list)

    def __getitem__(self, user: str) -> Conversation:
        return self.members[user]

    def subscribe_all(self) -> None:
        for conversation in self.members.values():
            conversation.subscribed(self.now, members=list(self.members))

    def poll(self, user: str) -> Output:
        """Poll one member and keep its output; returns it."""
        output = self.members[user].poll(self.now)
        self.outputs.setdefault(user, []).append(output)
        return output

    def pump(self, drop: Drop | None = None, rounds: int = 10) -> None:
        """Poll everyone and carry their events to the others until nothing moves."""
        for _ in range(rounds):
            moved = False
            for user in list(self.members):
                for event in self.poll(user).send:
                    moved = True
                    self.wire.append((user, event))
                    if drop is None or not drop(user, event):
                        self.deliver(user, event)
            if not moved:
                return

    def deliver(self, user: str, event: OutgoingEvent) -> None:
        for other, conversation in self.members.items():
            if other != user:
                assert conversation.receive_event(event.event, event.data, self.now) is None

    def changes(self, user: str) -> list[Any]:
        return [c for output in self.outputs.get(user, []) for c in output.status_changes]

    def received(self, user: str) -> list[Any]:
        return [m for output in self.outputs.get(user, []) for m in output.received]


def make_chat(*users: str, rate: float = 1000.0, **options: Any) -> Chat:
    """Conversations for `users` on one channel, each with its own bucket (generous by
    default, so tests about other things never wait for budget)."""
    members = {}
    for user in users:
        peers = [other for other in users if other != user]
        bucket = TokenBucket(rate=rate, burst=rate)
        members[user] = Conversation(user, "presence-chat", peers, bucket=bucket, **options)
    return Chat(members)


@pytest.fixture
def pair() -> Chat:
    """Alice and Bob, subscribed, with plenty of event budget."""
    chat = make_chat("alice", "bob")
    chat.subscribe_all()
    return chat
