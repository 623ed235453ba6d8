"""Unpadded URL-safe base64, the one encoding used for salts, keys, tokens and signatures."""

from __future__ import annotations

import base64
import binascii


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode strictly; any malformed input raises `ValueError`."""
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from None
