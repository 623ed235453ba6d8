"""The SQLite event log, on a real file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from doubletick.delivery import COLUMNS, DeliveryState, EventLog, StatusChange, read_dataframe

from .conftest import make_chat


def change(message_id: str, new: DeliveryState = DeliveryState.SENT) -> StatusChange:
    return StatusChange(
        message_id=message_id,
        conversation="presence-chat",
        sender="alice",
        recipient="bob",
        old=DeliveryState.PENDING,
        new=new,
        at=1.5,
        message_state=new,
    )


def test_a_conversations_changes_land_in_the_log_and_come_back_as_a_dataframe(
    tmp_path: Path,
) -> None:
    chat = make_chat("alice", "bob")
    chat.subscribe_all()
    chat["alice"].compose("hi", 0.0, message_id="m1")
    chat.pump()
    chat["bob"].mark_read(1.0)
    chat.now = 1.0
    chat.pump()
    with EventLog(tmp_path / "events.sqlite") as log:
        log.extend(chat.changes("alice"), logged_at=100.0)
        frame = log.to_dataframe()
    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["state"]) == ["sent", "delivered", "read"]
    assert list(frame["since_sent"].isna()) == [True, False, False]
    assert frame["logged_at"].tolist() == [100.0] * 3


def test_the_log_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with EventLog(path) as log:
        log.append(change("m1"))
    with EventLog(path) as log:
        log.append(change("m2", DeliveryState.FAILED))
        rows = log.rows()
    assert [(row["row"], row["message_id"], row["state"]) for row in rows] == [
        (1, "m1", "sent"),
        (2, "m2", "failed"),
    ]


def test_an_empty_log_reads_as_an_empty_frame_with_every_column(tmp_path: Path) -> None:
    frame = read_dataframe(tmp_path / "new.sqlite")
    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert str(frame["at"].dtype) == "float64"


def test_appends_from_many_threads_are_all_kept(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.sqlite")

    def write(thread: int) -> None:
        for n in range(50):
            log.append(change(f"t{thread}-{n}"))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.to_dataframe()) == 400
    log.close()


def test_a_reader_sees_rows_a_writer_committed(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with EventLog(path) as writer:
        writer.append(change("m1"))
        assert read_dataframe(path)["message_id"].tolist() == ["m1"]


def test_appending_to_a_closed_log_raises(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.sqlite")
    log.close()
    with pytest.raises(sqlite3.ProgrammingError):
        log.append(change("m1"))
