"""The Pusher Channels protocol, with no I/O: frames, channel names, signatures, errors and
the per-connection state machine. Imports no asyncio and no websocket library."""

from __future__ import annotations
