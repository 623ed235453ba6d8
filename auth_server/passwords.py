"""Salted scrypt password hashes, stored as one self-describing string.

Format: ``scrypt$<n>$<r>$<p>$<salt>$<key>`` with salt and key in unpadded URL-safe base64.
The cost parameters travel with the hash, so a cheaper ``n`` (used by tests) still verifies
and a future default can be raised without invalidating old entries.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from auth_server.encoding import b64decode, b64encode

DEFAULT_N = 2**14
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# Bounds on parameters read from a users file: enough for strong hashes, small enough that a
# bad entry cannot make one login allocate gigabytes.
MAX_N = 2**20
MAX_R = 32
MAX_P = 16
MAX_PASSWORD_CHARS = 1024


class PasswordHashError(ValueError):
    """A stored password hash is not in the ``scrypt$n$r$p$salt$key`` format."""


@dataclass(frozen=True)
class ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def __str__(self) -> str:
        return f"scrypt${self.n}${self.r}${self.p}${b64encode(self.salt)}${b64encode(self.key)}"


def hash_password(password: str, *, n: int = DEFAULT_N) -> str:
    """Return a new salted hash of `password` for a users file or `AuthConfig.users`."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, n, DEFAULT_R, DEFAULT_P)
    return str(ScryptHash(n, DEFAULT_R, DEFAULT_P, salt, key))


def parse_hash(stored: str) -> ScryptHash:
    """Parse and bound-check a stored hash; raise `PasswordHashError` when it is malformed."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PasswordHashError("password hash must look like scrypt$n$r$p$salt$key")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, key = b64decode(parts[4]), b64decode(parts[5])
    except ValueError as exc:
        raise PasswordHashError(f"malformed password hash: {exc}") from None
    if not (1 < n <= MAX_N and n & (n - 1) == 0 and 0 < r <= MAX_R and 0 < p <= MAX_P):
        raise PasswordHashError("password hash has out-of-range scrypt parameters")
    if len(salt) < 8 or len(key) < 16:
        raise PasswordHashError("password hash has a too short salt or key")
    return ScryptHash(n, r, p, salt, key)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; CPU-bound (tens of ms): run it off the loop."""
    parsed = parse_hash(stored)
    too_long = len(password) > MAX_PASSWORD_CHARS
    # A too long password still costs one full hash, so its length does not show in timing.
    candidate = _scrypt(
        "" if too_long else password, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.key)
    )
    return hmac.compare_digest(candidate, parsed.key) and not too_long


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, checked for unknown users so they cost the same time."""
    return hash_password(secrets.token_urlsafe(32))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = KEY_BYTES) -> bytes:
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )
