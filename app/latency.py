"""Latency of the ticks: one point per receipt, the newest kept, with percentiles and CSV.

Two measurements per message, both round trips on the sender's own clock (RECEIPTS.md):
send -> delivered (`StatusChange.since_sent` when it turns DELIVERED) and delivered -> read
(`since_delivered` when it turns READ).
"""

from __future__ import annotations

import csv
import io
import time
from collections import deque
from typing import Any

import numpy as np
import param

from doubletick.delivery import DeliveryState, StatusChange

KINDS = {"delivered": "send → delivered", "read": "delivered → read"}
COLORS = {"delivered": "#8696a0", "read": "#34b7f1"}  # WhatsApp's grey and blue ticks
CSV_COLUMNS = ("wall_time", "t", "message_id", "sender", "recipient", "kind", "latency_ms")
PERCENTILES = (50, 95, 99)


def empty_columns() -> dict[str, list[Any]]:
    """The timeline's data source columns, empty."""
    return {"t": [], "ms": [], "kind": [], "color": [], "message": []}


class LatencyStore(param.Parameterized):
    """Latency points: `last_batch` holds the points of the latest `flush` (the view streams
    them, `batches` counts flushes), `stats` the percentiles of the newest `window` points
    of each kind, and up to `history_limit` rows are kept for the CSV export."""

    window = param.Integer(default=500, bounds=(10, None), doc="points kept per kind")
    history_limit = param.Integer(default=20_000, bounds=(10, None))
    stats = param.Dict(default={}, doc="kind -> {count, p50, p95, p99} in ms")
    batches = param.Integer(default=0)
    flush_every = param.Number(default=0.0, bounds=(0, None), doc="seconds between updates")
    cleared = param.Integer(default=0, doc="counts clear() calls: the view empties the plot")

    def __init__(self, origin: float | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.origin = time.time() if origin is None else origin
        self.last_batch = empty_columns()
        self._pending = empty_columns()
        self._values = {kind: deque[float](maxlen=self.window) for kind in KINDS}
        self._history: deque[tuple[Any, ...]] = deque(maxlen=self.history_limit)
        self._flush_due = 0.0

    def add(self, change: StatusChange, wall_at: float) -> None:
        """Record the latency a status change measured, if it measured one."""
        if change.new is DeliveryState.DELIVERED and change.since_sent is not None:
            self._point("delivered", change, change.since_sent, wall_at)
        elif change.new is DeliveryState.READ and change.since_delivered is not None:
            self._point("read", change, change.since_delivered, wall_at)

    def flush(self, now: float | None = None) -> None:
        """Publish the points added since the last publication (one view update for all), at
        most once per `flush_every` seconds (`now`: monotonic): each update redraws the plot
        in the browser, a sixth of its work at ten updates a second."""
        if not self._pending["t"]:
            return
        now = time.monotonic() if now is None else now
        if now < self._flush_due:
            return
        self._flush_due = now + self.flush_every
        self.last_batch, self._pending = self._pending, empty_columns()
        self.stats = {kind: summarize(values) for kind, values in self._values.items()}
        self.batches += 1

    def points(self) -> dict[str, list[Any]]:
        """The newest `window` points of each kind, as timeline columns (for a fresh view)."""
        rows = sorted(self._history, key=lambda row: row[1])
        columns = empty_columns()
        for kind in KINDS:
            for row in [r for r in rows if r[5] == kind][-self.window :]:
                _append(columns, row[1], row[6], kind, row[2])
        return columns

    def count(self) -> int:
        return len(self._history)

    def to_csv(self) -> str:
        """Every kept point as CSV (times: wall clock and seconds since the page opened)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(self._history)
        return out.getvalue()

    def clear(self) -> None:
        self._pending = empty_columns()
        self.last_batch = empty_columns()
        for values in self._values.values():
            values.clear()
        self._history.clear()
        self.param.update(stats={}, cleared=self.cleared + 1)

    def _point(self, kind: str, change: StatusChange, seconds: float, wall_at: float) -> None:
        ms = seconds * 1000.0
        t = round(wall_at - self.origin, 3)
        self._values[kind].append(ms)
        self._history.append(
            (round(wall_at, 3), t, change.message_id, change.sender, change.recipient, kind, ms)
        )
        _append(self._pending, t, ms, kind, change.message_id)


def summarize(values: deque[float]) -> dict[str, float]:
    """Count and p50/p95/p99 (ms) of `values`; only the count when there are none."""
    if not values:
        return {"count": 0}
    p50, p95, p99 = np.percentile(np.fromiter(values, float), PERCENTILES)
    return {"count": len(values), "p50": p50, "p95": p95, "p99": p99}


def _append(columns: dict[str, list[Any]], t: float, ms: float, kind: str, message: str) -> None:
    columns["t"].append(t)
    columns["ms"].append(ms)
    columns["kind"].append(KINDS[kind])
    columns["color"].append(COLORS[kind])
    columns["message"].append(message)
