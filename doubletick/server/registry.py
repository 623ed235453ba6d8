"""Who is where: channels and their subscribers, presence members, cached events, signed-in
users and watchlists. One synchronous, in-memory registry per app.

`ChannelBackend` is the seam for a second backend (Redis or NATS pub/sub for several server
processes): the server talks to the registry only through it. Only the in-memory one is built.
Presence members are keyed by user id (one user, many sockets), never by socket.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from doubletick.protocol.channels import Channel
from doubletick.protocol.connection import PresenceMember


class Peer(Protocol):
    """A connected socket, as far as the registry is concerned."""

    socket_id: str

    def write(self, wire: bytes) -> None:
        """Queue an encoded frame; never blocks, never raises."""


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    added: bool  # False: already subscribed (idempotent repeat) or rejected
    rejected: bool = False  # presence channel full
    occupied: bool = False  # first socket on the channel
    member_added: bool = False  # first socket of this user on a presence channel
    subscription_count: int = 0


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    removed: bool
    vacated: bool = False  # last socket left
    member_removed: bool = False  # last socket of this user left a presence channel
    subscription_count: int = 0


@dataclass(frozen=True, slots=True)
class CachedEvent:
    """The last event published on a cache channel, kept until `expires_at` (monotonic)."""

    event: str
    data: str
    wire: bytes
    expires_at: float


@dataclass(slots=True)
class _Member:
    user_info: Any
    sockets: int = 1


@dataclass(slots=True)
class _ChannelState:
    subscribers: dict[Peer, str | None] = field(default_factory=dict)  # peer -> user id
    members: dict[str, _Member] = field(default_factory=dict)


class ChannelBackend(Protocol):
    """What the server needs from the place that knows every socket's channels."""

    def subscribe(
        self, peer: Peer, channel: Channel, member: PresenceMember | None, max_members: int
    ) -> SubscribeResult: ...

    def unsubscribe(
        self, peer: Peer, channel: Channel, member: PresenceMember | None
    ) -> UnsubscribeResult: ...

    def broadcast(self, channel: str, wire: bytes, except_peer: Peer | None = None) -> int: ...

    def members(self, channel: str) -> dict[str, Any]: ...

    def subscription_count(self, channel: str) -> int: ...

    def user_count(self, channel: str) -> int: ...

    def occupied_channels(self, prefix: str = "") -> Iterator[str]: ...

    def set_cached(self, channel: str, cached: CachedEvent) -> None: ...

    def cached(self, channel: str, now: float) -> CachedEvent | None: ...

    def expire_cache(self, now: float) -> None: ...

    def sign_in(self, peer: Peer, user_id: str) -> bool: ...

    def sign_out(self, peer: Peer, user_id: str) -> bool: ...

    def user_peers(self, user_id: str) -> Collection[Peer]: ...

    def is_online(self, user_id: str) -> bool: ...

    def watch(self, peer: Peer, user_ids: Collection[str]) -> None: ...

    def unwatch(self, peer: Peer, user_ids: Collection[str]) -> None: ...

    def watchers(self, user_id: str) -> Collection[Peer]: ...


class Registry:
    """The in-memory `ChannelBackend` of one app (single process)."""

    def __init__(self) -> None:
        self._channels: dict[str, _ChannelState] = {}
        self._cache: dict[str, CachedEvent] = {}
        self._users: dict[str, set[Peer]] = {}
        self._watchers: dict[str, set[Peer]] = {}

    # -- channels --------------------------------------------------------------------------

    def subscribe(
        self, peer: Peer, channel: Channel, member: PresenceMember | None, max_members: int
    ) -> SubscribeResult:
        state = self._channels.get(channel.name)
        if state is None:
            state = self._channels[channel.name] = _ChannelState()
        elif peer in state.subscribers:
            return SubscribeResult(added=False, subscription_count=len(state.subscribers))
        full = bool(max_members) and len(state.members) >= max_members
        if full and member is not None and member.user_id not in state.members:
            if not state.subscribers:
                del self._channels[channel.name]
            return SubscribeResult(added=False, rejected=True)
        occupied = not state.subscribers
        state.subscribers[peer] = None if member is None else member.user_id
        member_added = member is not None and self._add_member(state, member)
        return SubscribeResult(True, False, occupied, member_added, len(state.subscribers))

    def unsubscribe(
        self, peer: Peer, channel: Channel, member: PresenceMember | None
    ) -> UnsubscribeResult:
        state = self._channels.get(channel.name)
        if state is None or peer not in state.subscribers:
            return UnsubscribeResult(removed=False)
        user_id = state.subscribers.pop(peer)
        member_removed = user_id is not None and self._remove_member(state, user_id)
        vacated = not state.subscribers
        if vacated:
            del self._channels[channel.name]
        return UnsubscribeResult(True, vacated, member_removed, len(state.subscribers))

    @staticmethod
    def _add_member(state: _ChannelState, member: PresenceMember) -> bool:
        existing = state.members.get(member.user_id)
        if existing is not None:
            existing.sockets += 1
            return False
        state.members[member.user_id] = _Member(member.user_info)
        return True

    @staticmethod
    def _remove_member(state: _ChannelState, user_id: str) -> bool:
        existing = state.members[user_id]
        existing.sockets -= 1
        if existing.sockets:
            return False
        del state.members[user_id]
        return True

    def broadcast(self, channel: str, wire: bytes, except_peer: Peer | None = None) -> int:
        """Write the same encoded frame to every subscriber but one; returns how many."""
        state = self._channels.get(channel)
        if state is None:
            return 0
        subscribers = state.subscribers
        for peer in subscribers:
            if peer is not except_peer:
                peer.write(wire)
        return len(subscribers) - (except_peer in subscribers)

    def members(self, channel: str) -> dict[str, Any]:
        """Presence members of a channel: user id -> user_info (distinct users)."""
        state = self._channels.get(channel)
        if state is None:
            return {}
        return {user_id: m.user_info for user_id, m in state.members.items()}

    def user_count(self, channel: str) -> int:
        state = self._channels.get(channel)
        return 0 if state is None else len(state.members)

    def subscription_count(self, channel: str) -> int:
        state = self._channels.get(channel)
        return 0 if state is None else len(state.subscribers)

    def occupied_channels(self, prefix: str = "") -> Iterator[str]:
        return (name for name in list(self._channels) if name.startswith(prefix))

    # -- cache channels --------------------------------------------------------------------

    def set_cached(self, channel: str, cached: CachedEvent) -> None:
        self._cache[channel] = cached

    def cached(self, channel: str, now: float) -> CachedEvent | None:
        entry = self._cache.get(channel)
        if entry is not None and entry.expires_at <= now:
            del self._cache[channel]
            return None
        return entry

    def expire_cache(self, now: float) -> None:
        """Forget cached events past their TTL (called from the periodic sweep)."""
        for channel in [c for c, e in self._cache.items() if e.expires_at <= now]:
            del self._cache[channel]

    # -- users -----------------------------------------------------------------------------

    def sign_in(self, peer: Peer, user_id: str) -> bool:
        """Remember a signed-in socket; True when it is the user's first (user came online)."""
        peers = self._users.setdefault(user_id, set())
        peers.add(peer)
        return len(peers) == 1

    def sign_out(self, peer: Peer, user_id: str) -> bool:
        """Forget a signed-in socket; True when it was the user's last (user went offline)."""
        peers = self._users.get(user_id)
        if peers is None or peer not in peers:
            return False
        peers.discard(peer)
        if peers:
            return False
        del self._users[user_id]
        return True

    def user_peers(self, user_id: str) -> Collection[Peer]:
        return tuple(self._users.get(user_id, ()))

    def is_online(self, user_id: str) -> bool:
        return user_id in self._users

    def watch(self, peer: Peer, user_ids: Collection[str]) -> None:
        for user_id in user_ids:
            self._watchers.setdefault(user_id, set()).add(peer)

    def unwatch(self, peer: Peer, user_ids: Collection[str]) -> None:
        for user_id in user_ids:
            watchers = self._watchers.get(user_id)
            if watchers is not None:
                watchers.discard(peer)
                if not watchers:
                    del self._watchers[user_id]

    def watchers(self, user_id: str) -> Collection[Peer]:
        return tuple(self._watchers.get(user_id, ()))
