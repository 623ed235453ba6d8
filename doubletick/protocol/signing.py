"""Signatures of the Pusher protocol, all HMAC-SHA256 hex with the app secret (sections 7,
11, 12.1 and 13). Every comparison is constant-time; every verifier returns a bool or raises
`RestAuthError` with the HTTP status Pusher answers, never anything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

REST_TIMESTAMP_WINDOW_SECONDS = 600
SOCKET_ID_RE = re.compile(r"\d+\.\d+")
EMPTY_BODY_MD5 = hashlib.md5(b"").hexdigest()
_REST_AUTH_PARAMS = ("auth_key", "auth_timestamp", "auth_version", "auth_signature")


def hmac_sha256_hex(secret: str, message: str | bytes) -> str:
    """Hex HMAC-SHA256 of `message` (UTF-8 when text) under `secret`."""
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


def is_valid_socket_id(socket_id: object) -> bool:
    """Whether `socket_id` has Pusher's `<digits>.<digits>` form."""
    return isinstance(socket_id, str) and SOCKET_ID_RE.fullmatch(socket_id) is not None


# --- channel subscriptions and user sign-in -------------------------------------------


def channel_string_to_sign(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """`<socket_id>:<channel>`, plus `:<channel_data>` (raw string) for presence channels."""
    base = f"{socket_id}:{channel}"
    return base if channel_data is None else f"{base}:{channel_data}"


def channel_auth(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """The `auth` value (`<key>:<hex>`) that subscribes a socket to a private/presence channel."""
    signature = hmac_sha256_hex(secret, channel_string_to_sign(socket_id, channel, channel_data))
    return f"{key}:{signature}"


def user_auth(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """The `auth` value of a `pusher:signin` frame: signs `<socket_id>::user::<user_data>`."""
    return f"{key}:{hmac_sha256_hex(secret, f'{socket_id}::user::{user_data}')}"


def verify_auth(expected: str, received: object) -> bool:
    """Constant-time check of a received `auth` string against the one we compute."""
    return isinstance(received, str) and constant_time_equal(expected, received)


def encrypted_channel_shared_secret(channel: str, master_key: bytes) -> str:
    """Base64 of SHA256(channel name + master key): the key of an encrypted channel."""
    return base64.b64encode(hashlib.sha256(channel.encode() + master_key).digest()).decode()


# --- webhooks ---------------------------------------------------------------------------


def webhook_signature(secret: str, body: bytes) -> str:
    """`X-Pusher-Signature` of a webhook: hex HMAC-SHA256 of the raw body."""
    return hmac_sha256_hex(secret, body)


def verify_webhook(secret: str, body: bytes, signature: str) -> bool:
    """Whether a webhook body carries a valid `X-Pusher-Signature`."""
    return constant_time_equal(webhook_signature(secret, body), signature)


# --- REST requests ----------------------------------------------------------------------


class RestAuthError(Exception):
    """A REST request failed authentication; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def rest_string_to_sign(method: str, path: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """`METHOD\\nPATH\\nQUERY`: params except auth_signature, keys lower-cased and sorted,
    values unescaped, repeated values joined with commas."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if name.lower() == "auth_signature":
            continue
        text = value if isinstance(value, str) else ",".join(value)
        pairs.append((name.lower(), text))
    query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    return f"{method.upper()}\n{path}\n{query}"


def sign_rest_request(
    secret: str, method: str, path: str, params: Mapping[str, str | Sequence[str]]
) -> str:
    """The `auth_signature` of a REST request."""
    return hmac_sha256_hex(secret, rest_string_to_sign(method, path, params))


@dataclass(frozen=True, slots=True)
class RestRequest:
    """What a REST request says, as received (query params decoded, raw body)."""

    method: str
    path: str
    params: Mapping[str, str | Sequence[str]]
    body: bytes


def verify_rest_request(
    request: RestRequest,
    key: str,
    secret: str,
    now: float,
    window: float = REST_TIMESTAMP_WINDOW_SECONDS,
) -> None:
    """Check a REST request's key, timestamp, version, body_md5 and signature.

    Raises RestAuthError (401) naming the first problem found. The signature is computed
    over the params actually received, so SDKs that send `body_md5` on GET still verify.
    """
    params = request.params
    for name in _REST_AUTH_PARAMS:
        if not isinstance(params.get(name), str):
            raise RestAuthError(f"missing or repeated query parameter {name}")
    if not constant_time_equal(str(params["auth_key"]), key):
        raise RestAuthError("unknown auth_key for this app")
    if params["auth_version"] != "1.0":
        raise RestAuthError("auth_version must be 1.0")
    _check_timestamp(str(params["auth_timestamp"]), now, window)
    _check_body_md5(params.get("body_md5"), request.body)
    expected = sign_rest_request(secret, request.method, request.path, params)
    if not constant_time_equal(expected, str(params["auth_signature"])):
        raise RestAuthError(
            "invalid signature: expected HMAC SHA256 hex digest of "
            + repr(rest_string_to_sign(request.method, request.path, params))
        )


def _check_timestamp(raw: str, now: float, window: float) -> None:
    try:
        timestamp = int(raw)
    except ValueError:
        raise RestAuthError("auth_timestamp must be an integer (unix seconds)") from None
    if abs(now - timestamp) > window:
        raise RestAuthError(
            f"timestamp expired: {int(abs(now - timestamp))} s away from server time "
            f"(allowed {int(window)} s); check your clock"
        )


def _check_body_md5(received: str | Sequence[str] | None, body: bytes) -> None:
    if received is None:
        if body:
            raise RestAuthError("body_md5 is required for a request with a body")
        return
    if not isinstance(received, str) or not constant_time_equal(
        received, hashlib.md5(body).hexdigest()
    ):
        raise RestAuthError("body_md5 does not match the MD5 of the request body")
