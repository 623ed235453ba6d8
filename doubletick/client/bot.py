"""`doubletick bot`: a simulated chat user for any Pusher endpoint.

It acknowledges every message (delivered at once, read after `--read-after` seconds), sends
the `--send` texts, and prints one JSON object per line on stdout for every message event
and status change, so a teacher can put a simulated peer next to any pusher-js page (the
classic tutorial's page included: it understands `{id, message}` and answers with
`client-message-delivered`).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any, TextIO

from doubletick.client.auth import AuthorizationError
from doubletick.client.chat import ChatClient, PresenceChanged
from doubletick.client.endpoint import EndpointError
from doubletick.client.link import StateChanged, SubscriptionFailed
from doubletick.delivery import ReceivedMessage, Rejection, StatusChange

DM_RE = re.compile(r"(?:private|presence)-dm-([a-z0-9_]{1,32})-([a-z0-9_]{1,32})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the bot's user name on the auth server")
    parser.add_argument("--password", required=True)
    parser.add_argument("--auth-url", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--ws-url", required=True, help="e.g. ws://127.0.0.1:6001/app/app-key")
    parser.add_argument("--channel", required=True, help="e.g. private-dm-alice-bob")
    parser.add_argument(
        "--peer", action="append", default=[], help="peers (default: from a dm channel name)"
    )
    parser.add_argument("--presence", help="a presence channel telling when peers are online")
    parser.add_argument("--read-after", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--send", action="append", default=[], metavar="TEXT")
    parser.add_argument(
        "--offline-for",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stay offline this long after starting, then connect",
    )
    parser.add_argument(
        "--events-per-second",
        type=float,
        default=5.0,
        help="client-event budget (Pusher allows 10 per connection)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this long (default: run until SIGINT/SIGTERM)",
    )


def peers_of(channel: str, user: str, given: list[str]) -> list[str]:
    """The bot's peers: as given, or the other member of a `*-dm-<a>-<b>` channel."""
    if given:
        return given
    match = DM_RE.fullmatch(channel)
    if match is None or user not in match.groups():
        raise ValueError(f"cannot tell the peers of {channel!r}: pass --peer")
    return [name for name in match.groups() if name != user] or [user]


class Bot:
    """The bot's behaviour, separate from argument parsing (tests drive it directly)."""

    def __init__(self, client: ChatClient, channel: str, read_after: float, out: TextIO) -> None:
        self.client = client
        self.channel = channel
        self.read_after = read_after
        self.out = out
        client.add_observer(self.observe)

    def emit(self, kind: str, **fields: Any) -> None:
        self.out.write(json.dumps({"type": kind, **fields}, default=_jsonable) + "\n")
        self.out.flush()

    def observe(self, event: object) -> None:
        if isinstance(event, StatusChange):
            self.emit(
                "status",
                id=event.message_id,
                state=event.new.name,
                recipient=event.recipient,
                previous=event.old.name,
                since_sent=event.since_sent,
                reason=event.reason,
            )
        elif isinstance(event, ReceivedMessage):
            self.emit("message", id=event.id, sender=event.sender, text=event.text, seq=event.seq)
            self.client.call_later(self.read_after, lambda: self.read(event.id))
        elif isinstance(event, StateChanged):
            self.emit("connection", state=event.current, reason=event.reason)
        elif isinstance(event, SubscriptionFailed):
            self.emit("subscription_failed", channel=event.channel, reason=event.reason)
        elif isinstance(event, PresenceChanged):
            self.emit("presence", user=event.user_id, online=event.online)
        elif isinstance(event, Rejection):
            self.emit("rejected", event=event.event, reason=event.reason)

    def read(self, message_id: str) -> None:
        self.client.mark_read(self.channel, [message_id])
        self.emit("read", id=message_id)

    def send(self, text: str) -> str:
        message_id = self.client.send(self.channel, text)
        self.emit("sending", id=message_id, text=text)
        return message_id


def _jsonable(value: object) -> object:
    if isinstance(value, Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def run(args: argparse.Namespace) -> int:
    try:
        peers = peers_of(args.channel, args.user, args.peer)
        client = ChatClient.login(
            args.user,
            args.password,
            ws_url=args.ws_url,
            auth_url=args.auth_url,
            client_events_per_second=args.events_per_second,
        )
    except (ValueError, EndpointError, AuthorizationError) as exc:
        print(f"doubletick bot: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    bot = Bot(client, args.channel, args.read_after, sys.stdout)
    client.set_online(args.offline_for <= 0)
    client.start()
    client.join(args.channel, peers, presence=args.presence)
    for text in args.send:
        bot.send(text)
    if args.offline_for > 0:
        bot.emit("offline", seconds=args.offline_for)
        if done.wait(args.offline_for):
            client.close()
            return 0
        client.set_online(True)
    done.wait(args.duration)
    client.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="doubletick bot", description=__doc__)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
