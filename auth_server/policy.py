"""Which channels a signed-in user may join, and the user data presence channels carry.

Rules (everything else is refused):

- ``private-dm-<a>-<b>`` and ``presence-dm-<a>-<b>``: users a and b only, names sorted (a < b);
- ``presence-lobby``: every signed-in user;
- ``presence-group-<group>``: the configured members of that group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from auth_server.config import AuthConfig, is_name

# What the pusher SDK accepts as a channel name and socket id; ASCII only (Python's \d is not).
CHANNEL_RE = re.compile(r"[-a-zA-Z0-9_=@,.;]{1,200}")
SOCKET_ID_RE = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")
LOBBY = "presence-lobby"
_DM_PREFIXES = ("private-dm-", "presence-dm-")
_GROUP_PREFIX = "presence-group-"


def dm_channel(user: str, other: str, *, presence: bool = False) -> str:
    """The direct-message channel of two users (the names sorted, as the policy requires)."""
    first, second = sorted((user, other))
    return f"{_DM_PREFIXES[presence]}{first}-{second}"


def may_join(user: str, channel: str, groups: Mapping[str, Collection[str]]) -> bool:
    """True when `user` may subscribe to `channel` under the rules above."""
    if channel == LOBBY:
        return True
    if channel.startswith(_GROUP_PREFIX):
        return user in groups.get(channel.removeprefix(_GROUP_PREFIX), ())
    for prefix in _DM_PREFIXES:
        if channel.startswith(prefix):
            return _is_dm_member(user, channel.removeprefix(prefix))
    return False


def _is_dm_member(user: str, pair: str) -> bool:
    first, sep, second = pair.partition("-")
    well_formed = sep and is_name(first) and is_name(second) and first < second
    return bool(well_formed) and user in (first, second)


def presence_user_data(config: AuthConfig, user: str) -> dict[str, Any]:
    """The presence member object for `user`: give this exact dict to pysher as `user_data`.

    pysher sends ``json.dumps(user_data)`` as `channel_data` and the pusher SDK signs
    ``json.dumps(custom_data)``: the same dict gives the same bytes on both sides.
    """
    return {"user_id": user, "user_info": {"name": config.display_name(user)}}


def signin_user_data(config: AuthConfig, user: str) -> dict[str, Any]:
    """The object for Pusher user sign-in (`pusher:signin`), keyed ``id`` as Pusher requires."""
    return {"id": user, "user_info": {"name": config.display_name(user)}}


def channel_data(config: AuthConfig, user: str) -> str:
    """The exact `channel_data` string pysher sends for `user` on a presence channel."""
    return json.dumps(presence_user_data(config, user))
