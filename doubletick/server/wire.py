"""WebSocket frames encoded by hand, so that one broadcast is encoded once and the same bytes
go to every subscriber's transport (RFC 6455 section 5.2; server frames are never masked and
we never compress)."""

from __future__ import annotations

import struct

_TEXT = 0x81  # FIN + opcode 1
_CLOSE = 0x88  # FIN + opcode 8
_MAX_REASON_BYTES = 123  # a control frame's payload is at most 125 bytes, 2 for the code


def _frame(first_byte: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return bytes((first_byte, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", first_byte, 126, length) + payload
    return struct.pack("!BBQ", first_byte, 127, length) + payload


def encode_text_frame(text: str) -> bytes:
    """One unmasked, uncompressed text frame."""
    return _frame(_TEXT, text.encode())


def encode_close_frame(code: int, reason: str) -> bytes:
    """A close frame with a status code and a reason cut to fit a control frame."""
    reason_bytes = reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore").encode()
    return _frame(_CLOSE, struct.pack("!H", code) + reason_bytes)
