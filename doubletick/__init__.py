"""doubletick: see, teach and measure message delivery status on Pusher Channels."""

from __future__ import annotations

__version__ = "0.1.0"
