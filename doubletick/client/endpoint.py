"""Where a client connects: a Pusher WebSocket URL, taken apart the way pysher needs it."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

_PATH_RE = re.compile(r"/app/([^/?#]+)/?")


class EndpointError(ValueError):
    """A WebSocket URL that does not name a Pusher endpoint."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A Pusher WebSocket endpoint: `ws://127.0.0.1:6001/app/app-key` or
    `wss://ws-eu.pusher.com/app/KEY` (the port defaults to 80/443)."""

    host: str
    port: int
    key: str
    secure: bool

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"ws", "wss"}:
            raise EndpointError(f"{url!r}: the scheme must be ws:// or wss://")
        if not parts.hostname:
            raise EndpointError(f"{url!r}: no host")
        match = _PATH_RE.fullmatch(parts.path)
        if match is None:
            raise EndpointError(f"{url!r}: the path must be /app/<key>")
        secure = parts.scheme == "wss"
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError:
            raise EndpointError(f"{url!r}: invalid port") from None
        return cls(parts.hostname, port, urllib.parse.unquote(match.group(1)), secure)

    @property
    def url(self) -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{self.host}:{self.port}/app/{self.key}"
