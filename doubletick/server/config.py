"""Configuration of the local server: apps and every limit, with Pusher's defaults.

A config file is TOML: an optional `[server]` table and one `[[apps]]` table per app, with
the field names of `ServerConfig` and `AppConfig`::

    [server]
    max_send_buffer_bytes = 1048576

    [[apps]]
    app_id = "1"
    key = "app-key"
    secret = "app-secret"
    webhook_urls = ["http://127.0.0.1:8000/pusher/webhooks"]
    max_client_events_per_second = 10

Every value is checked when the dataclass is built; a bad one raises `ConfigError` with a
message naming the setting.

Optional behaviours, with Pusher-like defaults (PROTOCOL.md sections 1, 11-14):

- `[server] cors_origins` (default `["*"]`): origins a page may call the REST API from;
  `[]` sends no CORS headers. Preflights (`OPTIONS`) are answered without a signature.
- `allowed_origins` (default `[]`: any origin): the WebSocket `Origin` allow-list of an app;
  `"https://app.example.com"` matches a whole origin, `"localhost"` or `"*.example.com"` its
  host. Another origin (or none) is refused with `pusher:error` 4009 "Origin not allowed"
  and close 4009.
- `[server] path_prefix` (default `""`): serve everything under a prefix, e.g. `"/pusher"`
  puts the WebSocket at `/pusher/app/KEY` and the REST API at `/pusher/apps/ID/...` (health
  stays at the root too). REST signatures are checked over the path without the prefix, as
  Reverb does, since that is what SDKs with a base-path option sign.
- `user_authentication_timeout` (default 0 = off; Pusher's and soketi's "authorized
  connections" use 30 s): a socket that has neither signed in nor subscribed to a private,
  encrypted or presence channel within this many seconds is closed with 4009.
- `max_backend_events_per_second` and `max_read_requests_per_second` (default 0 = off): REST
  rate limits per app (an event costs one point per channel, a batch one per event, a GET
  one). Over a limit the answer is 429 with `Retry-After`; every limited answer carries
  `X-RateLimit-Limit` and `X-RateLimit-Remaining` (as soketi).
- `subscription_count_webhook_threshold` (100) and `subscription_count_webhook_interval`
  (5.0 s): above the threshold a channel's `subscription_count` webhook goes out at most once
  per interval, always with the latest count; interval 0 never throttles.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doubletick.protocol.connection import ConnectionLimits

_APP_ID_RE = re.compile(r"[0-9]+")
_KEY_RE = re.compile(r"[-a-zA-Z0-9_.]+")
_ORIGIN_RE = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s]+")
_PATH_PREFIX_RE = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_ORIGIN_PATTERN_RE = re.compile(r"([a-z*][a-z0-9+.*-]*://)?[^/\s]+", re.IGNORECASE)


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range."""


@dataclass(frozen=True, slots=True)
class AppConfig:
    """One Pusher app: credentials, switches, webhooks and per-app limits.

    Limits default to Pusher's service (PROTOCOL.md section 14); 0 means "no limit" where
    noted. Client events are enabled by default (it is a local development server).
    """

    app_id: str = "1"  # digits only: the Python SDK refuses anything else
    key: str = "app-key"
    secret: str = "app-secret"
    enabled: bool = True
    allowed_origins: tuple[str, ...] = ()  # WebSocket Origin allow-list; () = any
    webhook_urls: tuple[str, ...] = ()
    client_events_enabled: bool = True
    max_client_events_per_second: int = 10  # 0 = unlimited
    max_connections: int = 0  # 0 = unlimited; over it: 4004
    activity_timeout: int = 120  # seconds, sent in connection_established
    pong_timeout: float = 30.0  # seconds to answer a server ping, else close 4201
    max_channel_name_length: int = 200
    max_event_name_length: int = 200
    max_event_payload_bytes: int = 10_240
    max_channels_per_event: int = 100
    max_batch_size: int = 10
    max_presence_members: int = 100
    max_presence_user_info_bytes: int = 1_024
    max_presence_user_id_length: int = 128
    max_user_id_length: int = 200
    max_watchlist_size: int = 100
    max_subscriptions_per_connection: int = 1_000
    max_backend_events_per_second: int = 0  # REST events x channels; over it: 429; 0 = off
    max_read_requests_per_second: int = 0  # REST GET requests; over it: 429; 0 = off
    user_authentication_timeout: float = 0.0  # "authorized connections"; 0 = off
    cache_ttl_seconds: float = 1_800.0
    subscription_count_events: bool = False  # Pusher's "subscription counting" switch
    subscription_count_webhook_threshold: int = 100  # above it the webhook is throttled
    subscription_count_webhook_interval: float = 5.0  # seconds; 0 = never throttled
    webhook_delay_seconds: float = 3.0  # channel_vacated / member_removed delay
    webhook_batch_seconds: float = 0.05

    def __post_init__(self) -> None:
        _check_app(self)

    def connection_limits(self) -> ConnectionLimits:
        """The part of this config the per-connection state machine enforces."""
        return ConnectionLimits(
            activity_timeout=self.activity_timeout,
            pong_timeout=self.pong_timeout,
            max_channel_name_length=self.max_channel_name_length,
            max_event_name_length=self.max_event_name_length,
            max_event_payload_bytes=self.max_event_payload_bytes,
            client_events_enabled=self.client_events_enabled,
            max_client_events_per_second=self.max_client_events_per_second,
            max_presence_user_info_bytes=self.max_presence_user_info_bytes,
            max_presence_user_id_length=self.max_presence_user_id_length,
            max_user_id_length=self.max_user_id_length,
            max_watchlist_size=self.max_watchlist_size,
            max_subscriptions=self.max_subscriptions_per_connection,
            user_authentication_timeout=self.user_authentication_timeout,
        )


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The whole server: its apps and the limits that protect the process."""

    apps: tuple[AppConfig, ...] = field(default_factory=lambda: (AppConfig(),))
    max_frame_bytes: int = 102_400  # larger WebSocket messages close the socket (1009)
    max_send_buffer_bytes: int = 1_048_576  # a client further behind is closed with 4100
    max_request_body_bytes: int = 1_048_576  # REST bodies; larger: 413
    shutdown_timeout: float = 5.0
    webhook_timeout: float = 5.0  # per POST
    webhook_max_retry_seconds: float = 300.0  # give up retrying a batch after this
    webhook_queue_size: int = 10_000  # events waiting per app; beyond it new ones drop
    cors_origins: tuple[str, ...] = ("*",)  # REST API CORS; () = no CORS headers
    path_prefix: str = ""  # e.g. "/pusher": WebSocket at /pusher/app/KEY, REST at /pusher/apps

    def __post_init__(self) -> None:
        _check_server(self)

    def app_by_key(self, key: str) -> AppConfig | None:
        return next((app for app in self.apps if app.key == key), None)

    def app_by_id(self, app_id: str) -> AppConfig | None:
        return next((app for app in self.apps if app.app_id == app_id), None)


# --- loading ------------------------------------------------------------------------------


def load_config(path: str | Path) -> ServerConfig:
    """Read a TOML config file. Raises ConfigError with the file name in the message."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        return config_from_mapping(document)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_from_mapping(document: Mapping[str, Any]) -> ServerConfig:
    """Build a ServerConfig from a parsed document (`[server]` and `[[apps]]`)."""
    _reject_unknown(document, {"server", "apps"}, "top level")
    server = document.get("server", {})
    if not isinstance(server, dict):
        raise ConfigError("[server] must be a table")
    apps = document.get("apps", [{}])
    if not isinstance(apps, list) or not all(isinstance(app, dict) for app in apps):
        raise ConfigError("apps must be an array of tables ([[apps]])")
    built = tuple(_build(AppConfig, app, f"apps[{index}]") for index, app in enumerate(apps))
    config: ServerConfig = _build(ServerConfig, {**server, "apps": built}, "[server]")
    return config


def _build(cls: Any, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(values, set(known), where)
    converted = {
        name: _convert(known[name].type, value, f"{where}.{name}", name)
        for name, value in values.items()
    }
    try:
        return cls(**converted)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _reject_unknown(values: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )


def _convert(type_name: object, value: Any, where: str, name: str) -> Any:
    if name == "apps":
        return value
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif type_name == "str":
        ok = isinstance(value, str | int) and not isinstance(value, bool)
        value = str(value) if ok else value
    else:  # tuple[str, ...]
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if not ok:
        raise ConfigError(f"{where} must be of type {type_name}, got {value!r}")
    return value


# --- validation ---------------------------------------------------------------------------

_NON_NEGATIVE = (
    "max_client_events_per_second",
    "max_connections",
    "webhook_delay_seconds",
    "max_backend_events_per_second",
    "max_read_requests_per_second",
)
_ZERO_ALLOWED = set(_NON_NEGATIVE) | {
    "webhook_batch_seconds",
    "subscription_count_webhook_threshold",
    "subscription_count_webhook_interval",
    "user_authentication_timeout",
}


def _check_app(app: AppConfig) -> None:
    if not _APP_ID_RE.fullmatch(app.app_id):
        raise ConfigError(
            f"app_id must be digits only (the Python SDK requires it), got {app.app_id!r}"
        )
    if not _KEY_RE.fullmatch(app.key):
        raise ConfigError(f"key must be letters, digits, '-', '_' or '.', got {app.key!r}")
    if not app.secret:
        raise ConfigError("secret must not be empty")
    for url in app.webhook_urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook url must start with http:// or https://, got {url!r}")
    for pattern in app.allowed_origins:
        if not _ORIGIN_PATTERN_RE.fullmatch(pattern):
            raise ConfigError(
                "allowed_origins: each entry must be *, a host (wildcards allowed) or "
                f"scheme://host[:port], got {pattern!r}"
            )
    for f in dataclasses.fields(app):
        value = getattr(app, f.name)
        if f.type in {"int", "float"}:
            _check_number(f.name, value, allow_zero=f.name in _ZERO_ALLOWED)


def _check_server(config: ServerConfig) -> None:
    if not config.apps:
        raise ConfigError("at least one app is needed")
    _check_origins("cors_origins", config.cors_origins)
    if config.path_prefix and not _PATH_PREFIX_RE.fullmatch(config.path_prefix):
        raise ConfigError(
            "path_prefix must be empty or like /pusher (segments of letters, digits, "
            f"-._~, no trailing /), got {config.path_prefix!r}"
        )
    for attribute in ("app_id", "key"):
        values = [getattr(app, attribute) for app in config.apps]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ConfigError(f"two apps share the {attribute} {duplicates[0]!r}")
    for f in dataclasses.fields(config):
        if f.type in {"int", "float"}:
            _check_number(f.name, getattr(config, f.name), allow_zero=False)


def _check_origins(name: str, origins: tuple[str, ...]) -> None:
    for origin in origins:
        if origin != "*" and not _ORIGIN_RE.fullmatch(origin):
            raise ConfigError(
                f"{name}: each entry must be * or scheme://host[:port] without a path, "
                f"got {origin!r}"
            )


def _check_number(name: str, value: float, *, allow_zero: bool) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value}")


def replace_app(config: ServerConfig, index: int = 0, **changes: Any) -> ServerConfig:
    """A copy of `config` with some settings of one app changed (validated)."""
    apps = list(config.apps)
    apps[index] = dataclasses.replace(apps[index], **changes)
    return dataclasses.replace(config, apps=tuple(apps))
