from __future__ import annotations

import hashlib
import hmac
import json

import pusher
import pytest

from auth_server.config import AuthConfig
from auth_server.passwords import hash_password
from auth_server.policy import channel_data, dm_channel, may_join, presence_user_data

GROUPS = {"book_club": ("alice", "carol")}


@pytest.mark.parametrize(
    ("user", "channel", "allowed"),
    [
        ("alice", "presence-lobby", True),
        ("zed", "presence-lobby", True),
        ("alice", "private-dm-alice-bob", True),
        ("bob", "private-dm-alice-bob", True),
        ("bob", "presence-dm-alice-bob", True),
        ("carol", "private-dm-alice-bob", False),
        ("alice", "private-dm-bob-alice", False),  # unsorted
        ("alice", "private-dm-alice-alice", False),
        ("alice", "private-dm-alice", False),
        ("alice", "private-dm-alice-", False),
        ("alice", "private-dm-alice-bob-carol", False),
        ("alice", "private-dm-alice-Bob", False),
        ("alice", f"private-dm-alice-{'b' * 33}", False),
        ("alice", "private-encrypted-dm-alice-bob", False),
        ("alice", "presence-group-book_club", True),
        ("carol", "presence-group-book_club", True),
        ("bob", "presence-group-book_club", False),
        ("alice", "presence-group-chess", False),
        ("alice", "presence-group-", False),
        ("alice", "private-lobby", False),
        ("alice", "lobby", False),
        ("alice", "presence-lobby-2", False),
    ],
)
def test_channel_policy(user: str, channel: str, allowed: bool) -> None:
    assert may_join(user, channel, GROUPS) is allowed


def test_dm_channel_sorts_the_two_names() -> None:
    assert dm_channel("bob", "alice") == "private-dm-alice-bob"
    assert dm_channel("alice", "bob", presence=True) == "presence-dm-alice-bob"
    assert may_join("bob", dm_channel("bob", "alice"), {})


@pytest.mark.parametrize("display_name", ["alice", 'Zoë "Z" 🚀 <b>', "名前"])
def test_sdk_signs_exactly_the_channel_data_pysher_sends(display_name: str) -> None:
    config = AuthConfig(
        app_id="1",
        key="key",
        secret="secret",
        users={"alice": hash_password("pw", n=16)},
        display_names={"alice": display_name},
    )
    user_data = json.loads(json.dumps(presence_user_data(config, "alice")))  # as a client gets it
    sent_by_pysher = json.dumps(user_data)  # pysher/pusher.py: json.dumps(self.user_data)
    answer = pusher.Pusher("1", "key", "secret").authenticate(
        "presence-lobby", "1.2", presence_user_data(config, "alice")
    )
    assert answer["channel_data"] == sent_by_pysher == channel_data(config, "alice")
    expected = hmac.new(
        b"secret", f"1.2:presence-lobby:{sent_by_pysher}".encode(), hashlib.sha256
    ).hexdigest()
    assert answer["auth"] == f"key:{expected}"
