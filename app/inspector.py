"""The protocol inspector's model: the Pusher frames each user sent and received, filterable.

Frames come from the links' `FrameLogged` events. The newest `keep` are held; the view shows
the newest `shown` that match the filters and streams later matches as they arrive.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import param

from doubletick.client.link import FrameLogged

BOTH = "both"
MAX_DATA_CHARS = 300
COLUMNS = ("time", "user", "direction", "event", "channel", "data")


@dataclass(frozen=True, slots=True)
class FrameRow:
    """One frame as the inspector lists it."""

    time: str
    user: str
    direction: str
    event: str
    channel: str
    data: str

    @classmethod
    def from_frame(cls, user: str, frame: FrameLogged, wall_at: float) -> FrameRow:
        clock = time.strftime("%H:%M:%S", time.localtime(wall_at))
        millis = int((wall_at % 1) * 1000)
        return cls(
            f"{clock}.{millis:03d}",
            user,
            frame.direction,
            frame.event,
            frame.channel or "",
            _short(frame.data),
        )


def empty_columns() -> dict[str, list[str]]:
    return {name: [] for name in COLUMNS}


class InspectorStore(param.Parameterized):
    """Frames of both users. Filters: `user`, `direction` ("in", "out" or both) and `event`
    (a substring of the event or channel name, case-insensitive). `paused` stops adding."""

    user = param.Selector(default=BOTH, objects=[BOTH])
    direction = param.Selector(default=BOTH, objects=[BOTH, "in", "out"])
    event = param.String(default="", doc="show frames whose event or channel contains this")
    paused = param.Boolean(default=False)
    keep = param.Integer(default=2000, bounds=(1, None))
    shown = param.Integer(default=100, bounds=(1, None))
    flush_every = param.Number(default=0.5, bounds=(0, None), doc="seconds between updates")
    total = param.Integer(default=0, doc="frames seen since the last clear (at each flush)")
    batches = param.Integer(default=0, doc="counts flushes that left rows in last_batch")
    refreshed = param.Integer(default=0, doc="counts filter changes: the view reloads rows()")

    def __init__(self, users: tuple[str, ...] = (), **params: Any) -> None:
        super().__init__(**params)
        self.param.user.objects = [BOTH, *users]
        self.last_batch = empty_columns()
        self._frames: deque[FrameRow] = deque(maxlen=self.keep)
        self._pending: list[FrameRow] = []
        self._flush_due = 0.0

    def add(self, user: str, frame: FrameLogged, wall_at: float) -> None:
        if self.paused:
            return
        row = FrameRow.from_frame(user, frame, wall_at)
        self._frames.append(row)
        self._pending.append(row)

    def flush(self, now: float | None = None) -> None:
        """Publish the matching frames added since the last publication, at most once per
        `flush_every` seconds (a table that redraws ten times a second loads a browser)."""
        now = time.monotonic() if now is None else now
        if now < self._flush_due:
            return
        self._flush_due = now + self.flush_every
        pending, self._pending = self._pending, []
        if pending:
            self.total += len(pending)
        matching = [row for row in pending if self.matches(row)][-self.shown :]
        if matching:
            self.last_batch = _columns(matching)
            self.batches += 1

    def rows(self) -> dict[str, list[str]]:
        """The newest `shown` frames that match the filters, as table columns."""
        matching = [row for row in self._frames if self.matches(row)]
        return _columns(matching[-self.shown :])

    def matches(self, row: FrameRow) -> bool:
        needle = self.event.strip().lower()
        return (
            self.user in (BOTH, row.user)
            and self.direction in (BOTH, row.direction)
            and (not needle or needle in row.event.lower() or needle in row.channel.lower())
        )

    def clear(self) -> None:
        self._frames.clear()
        self._pending = []
        self.last_batch = empty_columns()
        self.param.update(total=0, refreshed=self.refreshed + 1)

    @param.depends("user", "direction", "event", watch=True)
    def _filters_changed(self) -> None:
        self.refreshed += 1


def _columns(rows: list[FrameRow]) -> dict[str, list[str]]:
    columns = empty_columns()
    for row in rows:
        for name in COLUMNS:
            columns[name].append(getattr(row, name))
    return columns


def _short(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, default=str)
    return text if len(text) <= MAX_DATA_CHARS else text[: MAX_DATA_CHARS - 1] + "…"
