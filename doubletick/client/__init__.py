"""Pusher clients for doubletick: the pysher adapter and the chat client built on it."""

from __future__ import annotations
