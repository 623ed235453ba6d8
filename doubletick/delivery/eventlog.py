"""The event log: every status change appended to a SQLite file, read back as a DataFrame.

The only module of `doubletick.delivery` that does I/O; sqlite3 and pandas are imported
when first needed, so importing the package stays cheap and pure. One file can be shared:
each writer (a chat client, from any of pysher's threads) opens its own EventLog, appends
under a lock and commits every row at once; the dashboard and notebooks read it with
`read_dataframe(path)` while clients write (WAL mode). Reopening the same file keeps every
earlier row.

Columns: `row` (order of appending), `logged_at` (wall clock, seconds since the epoch, set
when the row is appended: comparable across processes), `message_id`, `conversation`,
`sender`, `recipient`, `old_state`, `state`, `message_state` (the message's tick after the
change), `at` (the sender's monotonic clock: compare only within one sender), `since_sent`,
`since_delivered` (round trips on the sender's clock), `remote_at` (receiver clock),
`one_way` (only when both users share a clock), `reason` (why a message FAILED).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from os import PathLike
from typing import TYPE_CHECKING, Any

from doubletick.delivery.records import StatusChange

if TYPE_CHECKING:
    import sqlite3

    import pandas

COLUMNS = (
    "row",
    "logged_at",
    "message_id",
    "conversation",
    "sender",
    "recipient",
    "old_state",
    "state",
    "message_state",
    "at",
    "since_sent",
    "since_delivered",
    "remote_at",
    "one_way",
    "reason",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS status_changes (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    logged_at REAL NOT NULL,
    message_id TEXT NOT NULL,
    conversation TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    old_state TEXT NOT NULL,
    state TEXT NOT NULL,
    message_state TEXT NOT NULL,
    at REAL NOT NULL,
    since_sent REAL,
    since_delivered REAL,
    remote_at REAL,
    one_way REAL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS status_changes_message ON status_changes (message_id);
"""

_INSERT = (
    f"INSERT INTO status_changes ({', '.join(COLUMNS[1:])}) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) - 1))})"
)


class EventLog:
    """An append-only log of StatusChange rows in one SQLite file; safe to share between
    threads. Use as a context manager, or call `close()`."""

    def __init__(self, path: str | PathLike[str]) -> None:
        import sqlite3

        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def append(self, change: StatusChange, logged_at: float | None = None) -> None:
        """Append one change, committed before this returns. `logged_at` defaults to now."""
        self.extend([change], logged_at)

    def extend(self, changes: Iterable[StatusChange], logged_at: float | None = None) -> None:
        """Append several changes in one transaction (e.g. `Output.status_changes`)."""
        stamp = time.time() if logged_at is None else logged_at
        values = [_values(change, stamp) for change in changes]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(_INSERT, values)
            self._db.execute("COMMIT")

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first, as dicts keyed by COLUMNS."""
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM status_changes ORDER BY row"
            )
            return [dict(zip(COLUMNS, record, strict=True)) for record in cursor]

    def to_dataframe(self) -> pandas.DataFrame:
        """Every row as a DataFrame with COLUMNS (empty but typed when nothing is logged)."""
        return _frame(self.rows())

    def close(self) -> None:
        """Close the file; later appends raise."""
        with self._lock:
            self._db.close()


def read_dataframe(path: str | PathLike[str]) -> pandas.DataFrame:
    """Open the log at `path` (created if missing), read it all, close it."""
    with EventLog(path) as log:
        return log.to_dataframe()


def _values(change: StatusChange, logged_at: float) -> tuple[Any, ...]:
    return (
        logged_at,
        change.message_id,
        change.conversation,
        change.sender,
        change.recipient,
        change.old.value,
        change.new.value,
        change.message_state.value,
        change.at,
        change.since_sent,
        change.since_delivered,
        change.remote_at,
        change.one_way,
        change.reason,
    )


def _frame(rows: list[dict[str, Any]]) -> pandas.DataFrame:
    import pandas

    frame = pandas.DataFrame.from_records(rows, columns=list(COLUMNS))
    for column in ("logged_at", "at", "since_sent", "since_delivered", "remote_at", "one_way"):
        frame[column] = frame[column].astype("float64")
    return frame
