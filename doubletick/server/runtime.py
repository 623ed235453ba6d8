"""One app at run time: its connections, its registry, its webhooks, and the code that
carries out what the per-connection state machine decided.

Every frame sent to more than one socket is encoded once (`encode_text_frame`) and the same
bytes are written to each subscriber.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from doubletick.protocol import frames
from doubletick.protocol.channels import Channel, ChannelKind
from doubletick.protocol.connection import (
    CloseConnection,
    Connection,
    LogMessage,
    Output,
    PublishClientEvent,
    SendFrame,
    SignIn,
    SignOut,
    Subscribe,
    Unsubscribe,
)
from doubletick.protocol.errors import ErrorCode
from doubletick.server.config import AppConfig
from doubletick.server.ratelimit import RateLimiter
from doubletick.server.registry import CachedEvent, Registry
from doubletick.server.webhooks import WebhookSender
from doubletick.server.wire import encode_text_frame

log = logging.getLogger(__name__)


class ConnectedPeer(Protocol):
    """A live socket as the runtime drives it (the WebSocket transport implements it)."""

    socket_id: str
    connection: Connection
    watchlist: tuple[str, ...]

    def write(self, wire: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...

    def check_stuck(self, now: float) -> None: ...


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """One event from the REST API, validated: forwarded with `data` verbatim."""

    name: str
    data: str
    channels: tuple[Channel, ...]
    socket_id: str | None = None


class AppRuntime:
    """Everything live about one app."""

    def __init__(self, config: AppConfig, webhooks: WebhookSender) -> None:
        self.config = config
        self.limits = config.connection_limits()
        self.registry = Registry()
        self.webhooks = webhooks
        self.peers: dict[str, ConnectedPeer] = {}
        self.backend_events = _limiter(config.max_backend_events_per_second)
        self.read_requests = _limiter(config.max_read_requests_per_second)
        self._prefix = random.randrange(1, 10**9)
        self._counter = itertools.count(1)

    # -- connections -----------------------------------------------------------------------

    def new_connection(self) -> Connection:
        socket_id = f"{self._prefix}.{next(self._counter)}"
        return Connection(socket_id, self.config.key, self.config.secret, self.limits)

    def is_full(self) -> bool:
        limit = self.config.max_connections
        return bool(limit) and len(self.peers) >= limit

    def connect(self, peer: ConnectedPeer, now: float) -> None:
        self.peers[peer.socket_id] = peer
        self.apply(peer, peer.connection.open(now))

    def disconnect(self, peer: ConnectedPeer) -> None:
        if self.peers.get(peer.socket_id) is peer:
            del self.peers[peer.socket_id]
        self.apply(peer, peer.connection.connection_lost())

    def receive(self, peer: ConnectedPeer, text: str | bytes, now: float) -> None:
        self.apply(peer, peer.connection.receive_frame(text, now))

    def tick(self, now: float) -> None:
        """The periodic sweep: liveness of every socket, stuck closes, cache expiry."""
        for peer in list(self.peers.values()):
            outputs = peer.connection.tick(now)
            if outputs:
                self.apply(peer, outputs)
            peer.check_stuck(now)
        self.registry.expire_cache(now)

    def close_all(self, code: ErrorCode, message: str) -> None:
        for peer in list(self.peers.values()):
            self.apply(peer, peer.connection.close(code, message))

    def terminate_user(self, user_id: str) -> None:
        for peer in self.registry.user_peers(user_id):
            connected = self.peers.get(peer.socket_id)
            if connected is not None:
                message = "You got disconnected by the app."
                self.apply(connected, connected.connection.close(ErrorCode.UNAUTHORIZED, message))

    # -- carrying out outputs --------------------------------------------------------------

    def apply(self, peer: ConnectedPeer, outputs: Iterable[Output]) -> None:
        for output in outputs:
            if isinstance(output, SendFrame):
                peer.write(encode_text_frame(output.frame))
            elif isinstance(output, PublishClientEvent):
                self._relay_client_event(peer, output)
            elif isinstance(output, Subscribe):
                self._subscribe(peer, output)
            elif isinstance(output, Unsubscribe):
                self._unsubscribe(peer, output)
            elif isinstance(output, CloseConnection):
                peer.close(output.code, output.reason)
            elif isinstance(output, SignIn):
                self._sign_in(peer, output)
            elif isinstance(output, SignOut):
                self._sign_out(peer, output)
            elif isinstance(output, LogMessage):
                log.log(output.level, "%s", output.message)

    def _relay_client_event(self, peer: ConnectedPeer, action: PublishClientEvent) -> None:
        name = action.channel.name
        self.registry.broadcast(name, encode_text_frame(action.frame), except_peer=peer)
        self.webhooks.client_event(name, action.event, action.data, peer.socket_id, action.user_id)

    def _subscribe(self, peer: ConnectedPeer, action: Subscribe) -> None:
        channel, member = action.channel, action.member
        result = self.registry.subscribe(peer, channel, member, self.config.max_presence_members)
        if result.rejected:
            limit = self.config.max_presence_members
            message = f"presence channel {channel.name} is full ({limit} members)"
            self.apply(
                peer,
                peer.connection.subscription_failed(channel.name, "LimitReached", message, 4100),
            )
            return
        presence = None
        if channel.kind is ChannelKind.PRESENCE:
            presence = frames.presence_data(self.registry.members(channel.name))
        peer.write(encode_text_frame(frames.subscription_succeeded(channel.name, presence)))
        if not result.added:
            return
        if result.occupied:
            self.webhooks.channel_occupied(channel.name)
        if result.member_added and member is not None:
            added = frames.member_added(channel.name, member.user_id, member.user_info)
            self.registry.broadcast(channel.name, encode_text_frame(added), except_peer=peer)
            self.webhooks.member_added(channel.name, member.user_id)
        if channel.is_cache:
            self._replay_cache(peer, channel.name)
        self._count_changed(channel, result.subscription_count)

    def _unsubscribe(self, peer: ConnectedPeer, action: Unsubscribe) -> None:
        channel, member = action.channel, action.member
        result = self.registry.unsubscribe(peer, channel, member)
        if not result.removed:
            return
        if result.member_removed and member is not None:
            removed = frames.member_removed(channel.name, member.user_id)
            self.registry.broadcast(channel.name, encode_text_frame(removed))
            self.webhooks.member_removed(channel.name, member.user_id)
        if result.vacated:
            self.webhooks.channel_vacated(channel.name)
        else:
            self._count_changed(channel, result.subscription_count)

    def _replay_cache(self, peer: ConnectedPeer, channel: str) -> None:
        cached = self.registry.cached(channel, time.monotonic())
        if cached is not None:
            peer.write(cached.wire)
            return
        peer.write(encode_text_frame(frames.cache_miss(channel)))
        self.webhooks.cache_miss(channel)

    def _count_changed(self, channel: Channel, count: int) -> None:
        if not self.config.subscription_count_events or channel.kind is ChannelKind.PRESENCE:
            return
        frame = frames.subscription_count(channel.name, count)
        self.registry.broadcast(channel.name, encode_text_frame(frame))
        self.webhooks.subscription_count(channel.name, count)

    def _sign_in(self, peer: ConnectedPeer, action: SignIn) -> None:
        if self.registry.sign_in(peer, action.user_id):
            self._notify_watchers(action.user_id, "online")
        peer.watchlist = action.watchlist
        if action.watchlist:
            self.registry.watch(peer, action.watchlist)
            online = [u for u in action.watchlist if self.registry.is_online(u)]
            if online:
                events: list[dict[str, object]] = [{"name": "online", "user_ids": online}]
                peer.write(encode_text_frame(frames.watchlist_events(events)))

    def _sign_out(self, peer: ConnectedPeer, action: SignOut) -> None:
        if peer.watchlist:
            self.registry.unwatch(peer, peer.watchlist)
        if self.registry.sign_out(peer, action.user_id):
            self._notify_watchers(action.user_id, "offline")

    def _notify_watchers(self, user_id: str, name: str) -> None:
        watchers = self.registry.watchers(user_id)
        if watchers:
            events: list[dict[str, object]] = [{"name": name, "user_ids": [user_id]}]
            wire = encode_text_frame(frames.watchlist_events(events))
            for watcher in watchers:
                watcher.write(wire)

    # -- the REST API's side ---------------------------------------------------------------

    def publish(self, event: PublishedEvent) -> None:
        """Deliver a REST event to its channels (`#server-to-user-<id>`: the user's sockets)."""
        except_peer = None if event.socket_id is None else self.peers.get(event.socket_id)
        for channel in event.channels:
            frame = frames.channel_event(event.name, channel.name, event.data)
            wire = encode_text_frame(frame)
            user_id = channel.server_to_user_id
            if user_id is not None:
                for peer in self.registry.user_peers(user_id):
                    if peer is not except_peer:
                        peer.write(wire)
            else:
                self.registry.broadcast(channel.name, wire, except_peer)
            if channel.is_cache:
                expires = time.monotonic() + self.config.cache_ttl_seconds
                self.registry.set_cached(
                    channel.name, CachedEvent(event.name, event.data, wire, expires)
                )

    def channel_attributes(self, channel: str, info: Sequence[str]) -> dict[str, object]:
        """The `info=` attributes of a channel for the REST API."""
        attributes: dict[str, object] = {}
        if "user_count" in info:
            attributes["user_count"] = self.registry.user_count(channel)
        if "subscription_count" in info:
            attributes["subscription_count"] = self.registry.subscription_count(channel)
        return attributes


def _limiter(limit: int) -> RateLimiter | None:
    return RateLimiter(limit) if limit > 0 else None
