"""Channel names: what is valid, and what kind each name makes."""

from __future__ import annotations

import pytest

from doubletick.protocol.channels import ChannelKind, parse_channel, server_to_user_channel
from doubletick.protocol.errors import RemoteProtocolError


@pytest.mark.parametrize(
    ("name", "kind", "is_cache"),
    [
        ("my-channel", ChannelKind.PUBLIC, False),
        ("cache-news", ChannelKind.PUBLIC, True),
        ("private-dm-alice-bob", ChannelKind.PRIVATE, False),
        ("private-cache-x", ChannelKind.PRIVATE, True),
        ("private-encrypted-x", ChannelKind.PRIVATE_ENCRYPTED, False),
        ("private-encrypted-cache-x", ChannelKind.PRIVATE_ENCRYPTED, True),
        ("presence-dm-alice-bob", ChannelKind.PRESENCE, False),
        ("presence-cache-x", ChannelKind.PRESENCE, True),
        ("#server-to-user-42", ChannelKind.SERVER_TO_USER, False),
        ("privatefoo", ChannelKind.PUBLIC, False),
        ("presencefoo", ChannelKind.PUBLIC, False),
    ],
)
def test_the_prefix_decides_the_kind(name: str, kind: ChannelKind, is_cache: bool) -> None:
    channel = parse_channel(name)
    assert (channel.kind, channel.is_cache) == (kind, is_cache)


@pytest.mark.parametrize(
    "name", ["", "has space", "emoji-\u2603", "#other", "a/b", "x" * 201, None, 5, ["a"]]
)
def test_invalid_names_are_rejected(name: object) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_channel(name)


def test_the_length_limit_is_configurable() -> None:
    parse_channel("x" * 200)
    with pytest.raises(RemoteProtocolError, match="longer than 164"):
        parse_channel("x" * 165, max_length=164)


def test_every_allowed_character_is_accepted() -> None:
    assert parse_channel("private-aZ09_-=@,.;").kind is ChannelKind.PRIVATE


def test_server_to_user_channels_name_their_user() -> None:
    channel = parse_channel(server_to_user_channel("user-7"))
    assert channel.server_to_user_id == "user-7"
    assert parse_channel("private-x").server_to_user_id is None


def test_only_private_and_presence_channels_take_client_events() -> None:
    allowed = {kind for kind in ChannelKind if kind.allows_client_events}
    assert allowed == {ChannelKind.PRIVATE, ChannelKind.PRESENCE}
    assert {k for k in ChannelKind if k.needs_auth} == allowed | {ChannelKind.PRIVATE_ENCRYPTED}
