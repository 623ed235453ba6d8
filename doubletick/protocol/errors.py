"""Pusher's 4xxx error codes, and the two sides of "something went wrong".

The ranges decide what a client does next (PROTOCOL.md section 9): 4000-4099 never
reconnect, 4100-4199 reconnect after a backoff, 4200-4299 reconnect at once, 4300-4399 are
reported on an open connection that stays open.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Every 4xxx code of the Pusher protocol (O = Pusher's docs)."""

    SSL_ONLY = 4000
    APP_NOT_FOUND = 4001
    APP_DISABLED = 4003
    OVER_CONNECTION_QUOTA = 4004
    PATH_NOT_FOUND = 4005
    INVALID_VERSION_FORMAT = 4006
    UNSUPPORTED_PROTOCOL = 4007
    NO_PROTOCOL_VERSION = 4008
    UNAUTHORIZED = 4009
    OVER_CAPACITY = 4100
    GENERIC_RECONNECT = 4200
    PONG_NOT_RECEIVED = 4201
    CLOSED_AFTER_INACTIVITY = 4202
    CLIENT_EVENT_REJECTED = 4301
    WATCHLIST_LIMIT = 4302

    @property
    def closes_connection(self) -> bool:
        """4000-4299 end the connection; 4300-4399 are reported and the socket stays open."""
        return self < 4300

    @property
    def client_reconnects(self) -> bool:
        """Whether pusher-js (and pysher) will reconnect after a close with this code."""
        return 4100 <= self < 4300


class ProtocolError(Exception):
    """Base for errors of the protocol core."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow.

    Carries the Pusher error code to answer with; `code` is None for errors that Pusher
    reports without a code (e.g. a bad subscription signature).
    """

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class LocalProtocolError(ProtocolError):
    """Our own code misused the protocol core (a bug here, never the peer's fault)."""
