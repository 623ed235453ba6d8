from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auth_server.config import AuthConfig, ConfigError, load_users_file, parse_pusher_url
from auth_server.passwords import hash_password

HASH = hash_password("pw", n=16)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://key:secret@127.0.0.1:4000/apps/123",
            ("123", "key", "secret", "127.0.0.1", 4000, False),
        ),
        (
            "https://abc:d%40f@api-eu.pusher.com/apps/42",
            ("42", "abc", "d@f", "api-eu.pusher.com", None, True),
        ),
    ],
)
def test_pusher_urls_are_parsed(url: str, expected: tuple[Any, ...]) -> None:
    parsed = parse_pusher_url(url)
    keys = ("app_id", "key", "secret", "pusher_host", "pusher_port", "pusher_ssl")
    assert tuple(parsed[k] for k in keys) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "key:secret@host/apps/1",
        "ws://key:secret@host/apps/1",
        "http://host/apps/1",
        "http://key@host/apps/1",
        "http://key:secret@host/apps/abc",
        "http://key:secret@host/app/1",
        "http://key:secret@host:99999/apps/1",
    ],
)
def test_bad_pusher_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="pusher url"):
        parse_pusher_url(url)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"app_id": "app"}, "app id"),
        ({"users": {"Alice": HASH}}, "user name"),
        ({"users": {"alice": "pw"}}, "alice"),
        ({"groups": {"Club": ["alice"]}}, "group name"),
        ({"groups": {"club": ["al ice"]}}, "member"),
        ({"display_names": {"alice": ""}}, "display name"),
        ({"token_secret": b"short"}, "token secret"),
        ({"token_ttl": 0}, "ttl"),
    ],
)
def test_invalid_configs_are_refused(change: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"app_id": "1", "key": "k", "secret": "s", "users": {"alice": HASH}}
    with pytest.raises(ConfigError, match=message):
        AuthConfig(**{**base, **change})


def test_users_file_accepts_objects_and_bare_hashes(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps(
            {
                "users": {"alice": {"password": HASH, "name": "Alice L."}, "bob": HASH},
                "groups": {"club": ["alice", "bob"]},
            }
        )
    )
    loaded = load_users_file(path)
    assert loaded.users == {"alice": HASH, "bob": HASH}
    assert loaded.display_names == {"alice": "Alice L."}
    assert loaded.groups == {"club": ("alice", "bob")}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", '"users"'),
        ('{"users": {"alice": 5}}', "password hash"),
        ('{"users": {"alice": {"name": "A"}}}', "password hash"),
        ('{"users": {}, "groups": {"club": "alice"}}', "groups"),
    ],
)
def test_bad_users_files_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_users_file(path)


def test_missing_users_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_users_file(tmp_path / "absent.json")
