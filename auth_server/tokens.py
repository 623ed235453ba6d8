"""Signed, expiring bearer tokens: ``<payload>.<signature>``, both unpadded URL-safe base64.

The payload is compact JSON ``{"sub": user, "exp": unix_seconds}``; the signature is
HMAC-SHA256 over the encoded payload with the server's token secret, so a token cannot be made
or altered (user or expiry) without that secret. Tokens are stateless: a restart with a new
random secret signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from auth_server.encoding import b64decode, b64encode

MAX_TOKEN_CHARS = 1024


class TokenError(ValueError):
    """The token is malformed, forged or expired (the message says which, for logs only)."""


def issue_token(secret: bytes, user: str, expires_at: int) -> str:
    """Return a token for `user` that verifies until `expires_at` (unix seconds)."""
    payload = json.dumps({"sub": user, "exp": expires_at}, separators=(",", ":"))
    encoded = b64encode(payload.encode("utf-8"))
    return f"{encoded}.{b64encode(_sign(secret, encoded))}"


def verify_token(secret: bytes, token: str, *, now: float | None = None) -> str:
    """Return the user a valid, unexpired token was issued to; raise `TokenError` otherwise."""
    if len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
        raise TokenError("malformed token")
    encoded, signature = token.split(".")
    try:
        given = b64decode(signature)
    except ValueError:
        raise TokenError("malformed token signature") from None
    if not hmac.compare_digest(given, _sign(secret, encoded)):
        raise TokenError("bad token signature")
    payload = _decode_payload(encoded)
    user, expires = payload.get("sub"), payload.get("exp")
    if not isinstance(user, str) or not isinstance(expires, int):
        raise TokenError("token payload lacks sub or exp")
    if (time.time() if now is None else now) >= expires:
        raise TokenError("token expired")
    return user


def _decode_payload(encoded: str) -> dict[str, object]:
    try:
        payload = json.loads(b64decode(encoded))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed token payload") from None
    if not isinstance(payload, dict):
        raise TokenError("token payload is not an object")
    return payload


def _sign(secret: bytes, encoded_payload: str) -> bytes:
    return hmac.new(secret, encoded_payload.encode("ascii"), hashlib.sha256).digest()
