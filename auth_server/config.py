"""What the auth server knows: the Pusher app it signs for, its users, groups and limits.

`AuthConfig` validates itself on construction and raises `ConfigError` (one readable line) on
any mistake, so the CLI can print it and exit 2, and programmatic callers fail early.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from auth_server.passwords import PasswordHashError, hash_password, parse_hash

NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
APP_ID_RE = re.compile(r"[0-9]+")  # the pusher SDK refuses any other app id
DEFAULT_TOKEN_TTL = 3600.0
MAX_DISPLAY_NAME = 100  # Pusher caps a presence member's user object at 1 KB


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line meant for the operator."""


def is_name(text: str) -> bool:
    """True for a valid user or group name: ``[a-z0-9_]{1,32}``."""
    return NAME_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class AuthConfig:
    """Everything the server needs; build one directly or with `from_pusher_url`.

    `users` maps a user name to a password hash made by `hash_password`; `display_names`
    optionally maps a user to the name shown to others (default: the user name); `groups`
    maps a group name to the users who may join ``presence-group-<group>``.
    `failure_base_delay` is the delay before the first 401 of a login; it doubles with each
    further failure for the same user or client address, up to `failure_max_delay`.
    """

    app_id: str
    key: str
    secret: str
    users: Mapping[str, str]
    groups: Mapping[str, Collection[str]] = field(default_factory=dict)
    display_names: Mapping[str, str] = field(default_factory=dict)
    cors_origins: tuple[str, ...] = ()
    pusher_host: str | None = None
    pusher_port: int | None = None
    pusher_ssl: bool = False
    token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    token_ttl: float = DEFAULT_TOKEN_TTL
    failure_base_delay: float = 0.5
    failure_max_delay: float = 8.0
    failure_memory: float = 900.0

    def __post_init__(self) -> None:
        if not APP_ID_RE.fullmatch(self.app_id):
            raise ConfigError(f"pusher app id must be digits, got {self.app_id!r}")
        if not self.key or not self.secret:
            raise ConfigError("pusher key and secret must not be empty")
        for name, stored in self.users.items():
            _check_user(name, stored)
        for group, members in self.groups.items():
            _check_group(group, members)
        for user, display_name in self.display_names.items():
            _check_display_name(user, display_name)
        if len(self.token_secret) < 16:
            raise ConfigError("token secret must be at least 16 bytes")
        if self.token_ttl < 1:
            raise ConfigError("token ttl must be at least 1 second")
        if not 0 <= self.failure_base_delay <= self.failure_max_delay:
            raise ConfigError("need 0 <= failure_base_delay <= failure_max_delay")

    @classmethod
    def from_pusher_url(cls, url: str, **options: Any) -> AuthConfig:
        """Config for the app in ``http(s)://KEY:SECRET@HOST[:PORT]/apps/ID``."""
        return cls(**parse_pusher_url(url), **options)

    def display_name(self, user: str) -> str:
        return self.display_names.get(user, user)

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(group for group, members in self.groups.items() if user in members)


def parse_pusher_url(url: str) -> dict[str, Any]:
    """Split a PUSHER_URL into `AuthConfig` keyword arguments; `ConfigError` when malformed."""
    parts = urlsplit(url.strip())
    match = re.fullmatch(r"/apps/([0-9]+)/?", parts.path)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in {"http", "https"}
        or not parts.username
        or not parts.password
        or not parts.hostname
        or match is None
        or port == -1
    ):
        raise ConfigError("pusher url must look like http://KEY:SECRET@HOST[:PORT]/apps/APP_ID")
    return {
        "app_id": match.group(1),
        "key": unquote(parts.username),
        "secret": unquote(parts.password),
        "pusher_host": parts.hostname,
        "pusher_port": port,
        "pusher_ssl": parts.scheme == "https",
    }


def parse_user_spec(spec: str) -> tuple[str, str]:
    """``NAME:PASSWORD`` (a demo convenience) -> (name, password hash)."""
    name, sep, password = spec.partition(":")
    if not sep or not is_name(name) or not password:
        raise ConfigError(
            f"user must be NAME:PASSWORD with NAME matching [a-z0-9_]{{1,32}}: {spec!r}"
        )
    return name, hash_password(password)


@dataclass(frozen=True)
class UsersFile:
    users: dict[str, str]
    display_names: dict[str, str]
    groups: dict[str, tuple[str, ...]]


def load_users_file(path: str | Path) -> UsersFile:
    """Read a users file (format in the package docstring); `ConfigError` on any problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read users file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"users file {path} is not valid JSON: {exc}") from None
    try:
        return _users_file_from_json(data)
    except ConfigError as exc:
        raise ConfigError(f"users file {path}: {exc}") from None


def _users_file_from_json(data: object) -> UsersFile:
    if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
        raise ConfigError('expected an object with a "users" object')
    users: dict[str, str] = {}
    display_names: dict[str, str] = {}
    for name, entry in data["users"].items():
        if isinstance(entry, str):
            entry = {"password": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("password"), str):
            raise ConfigError(f"user {name!r} needs a password hash string")
        users[name] = entry["password"]
        if "name" in entry:
            display_names[name] = entry["name"]
    groups = data.get("groups", {})
    if not isinstance(groups, dict) or not all(isinstance(m, list) for m in groups.values()):
        raise ConfigError('"groups" must map group names to lists of user names')
    return UsersFile(users, display_names, {g: tuple(m) for g, m in groups.items()})


def _check_user(name: str, stored: str) -> None:
    if not isinstance(name, str) or not is_name(name):
        raise ConfigError(f"user name {name!r} must match [a-z0-9_]{{1,32}}")
    try:
        parse_hash(stored)
    except (PasswordHashError, AttributeError) as exc:
        raise ConfigError(f"user {name!r}: {exc}") from None


def _check_group(group: str, members: Iterable[str]) -> None:
    if not isinstance(group, str) or not is_name(group):
        raise ConfigError(f"group name {group!r} must match [a-z0-9_]{{1,32}}")
    for member in members:
        if not isinstance(member, str) or not is_name(member):
            raise ConfigError(f"group {group!r}: member {member!r} is not a valid user name")


def _check_display_name(user: str, display_name: str) -> None:
    if not isinstance(display_name, str) or not 0 < len(display_name) <= MAX_DISPLAY_NAME:
        raise ConfigError(f"display name of {user!r} must be 1-{MAX_DISPLAY_NAME} characters")
