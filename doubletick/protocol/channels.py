"""Channel names and kinds (PROTOCOL.md section 7).

The prefix alone decides a channel's kind, checked in Pusher's order: `presence-`,
`private-encrypted-`, `private-`, `#server-to-user-`, else public. Cache channels are the
same kinds with `cache-` after the kind prefix.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from doubletick.protocol.errors import RemoteProtocolError

DEFAULT_MAX_CHANNEL_NAME_LENGTH = 200
SERVER_TO_USER_PREFIX = "#server-to-user-"

_NAME_RE = re.compile(r"[-a-zA-Z0-9_=@,.;]+")
_SERVER_TO_USER_RE = re.compile(r"#server-to-user-[-a-zA-Z0-9_=@,.;]+")


class ChannelKind(enum.Enum):
    """What a channel's name makes it: who may join and what travels on it."""

    PUBLIC = "public"
    PRIVATE = "private"
    PRIVATE_ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"
    SERVER_TO_USER = "server-to-user"

    @property
    def needs_auth(self) -> bool:
        """Subscribing needs a signature from the app's auth endpoint."""
        return self in {ChannelKind.PRIVATE, ChannelKind.PRIVATE_ENCRYPTED, ChannelKind.PRESENCE}

    @property
    def allows_client_events(self) -> bool:
        """Pusher relays `client-*` events on private and presence channels only.

        Encrypted channels are private channels, but client libraries cannot encrypt
        client events, so Pusher does not accept them there.
        """
        return self in {ChannelKind.PRIVATE, ChannelKind.PRESENCE}


_KIND_PREFIXES: tuple[tuple[str, ChannelKind], ...] = (
    ("presence-", ChannelKind.PRESENCE),
    ("private-encrypted-", ChannelKind.PRIVATE_ENCRYPTED),
    ("private-", ChannelKind.PRIVATE),
    (SERVER_TO_USER_PREFIX, ChannelKind.SERVER_TO_USER),
)


@dataclass(frozen=True, slots=True)
class Channel:
    """A validated channel name with its kind."""

    name: str
    kind: ChannelKind
    is_cache: bool

    @property
    def server_to_user_id(self) -> str | None:
        """The user id of a `#server-to-user-<id>` channel, else None."""
        if self.kind is ChannelKind.SERVER_TO_USER:
            return self.name[len(SERVER_TO_USER_PREFIX) :]
        return None


def channel_kind(name: str) -> tuple[ChannelKind, bool]:
    """Return (kind, is_cache) of a channel name, by prefix only (no validation)."""
    for prefix, kind in _KIND_PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return kind, kind is not ChannelKind.SERVER_TO_USER and rest.startswith("cache-")
    return ChannelKind.PUBLIC, name.startswith("cache-")


def is_valid_channel_name(name: object, max_length: int = DEFAULT_MAX_CHANNEL_NAME_LENGTH) -> bool:
    """Whether `name` is a channel name Pusher accepts (the `#` prefix only for server-to-user)."""
    if not isinstance(name, str) or not 0 < len(name) <= max_length:
        return False
    pattern = _SERVER_TO_USER_RE if name.startswith("#") else _NAME_RE
    return pattern.fullmatch(name) is not None


def parse_channel(name: object, max_length: int = DEFAULT_MAX_CHANNEL_NAME_LENGTH) -> Channel:
    """Validate a channel name from a peer and classify it.

    Raises RemoteProtocolError (no code: Pusher answers it on the channel) when invalid.
    """
    if not isinstance(name, str) or not name:
        raise RemoteProtocolError("channel name must be a non-empty string")
    if len(name) > max_length:
        raise RemoteProtocolError(f"channel name is longer than {max_length} characters")
    if not is_valid_channel_name(name, max_length):
        raise RemoteProtocolError(
            f"invalid channel name {name!r}: allowed characters are A-Z a-z 0-9 _ - = @ , . ;"
        )
    kind, is_cache = channel_kind(name)
    return Channel(name, kind, is_cache)


def server_to_user_channel(user_id: str) -> str:
    """The channel on which the REST API's send_to_user reaches a signed-in user."""
    return SERVER_TO_USER_PREFIX + user_id
