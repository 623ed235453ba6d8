"""Fixtures for the dashboard's stores: a real embedded runtime (our Pusher server and the
auth server on free ports) and sessions of two real chat clients, drained by the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from app.session import DashboardSession
from doubletick.embedded import EmbeddedRuntime
from tests.waiting import wait_until

T = TypeVar("T")


@pytest.fixture(scope="module")
def runtime() -> Iterator[EmbeddedRuntime]:
    started = EmbeddedRuntime().start()
    yield started
    started.stop()


SessionFactory = Callable[..., DashboardSession]


@pytest.fixture
def open_session(runtime: EmbeddedRuntime) -> Iterator[SessionFactory]:
    """Start sessions whose users are connected and see each other; all closed at the end."""
    sessions: list[DashboardSession] = []

    def start(**options: Any) -> DashboardSession:
        session = DashboardSession(runtime, **options)
        sessions.append(session)
        session.start()
        assert session.wait_connected(), "both users connected and online"
        return session

    yield start
    for session in sessions:
        session.close()


@pytest.fixture
def session(open_session: SessionFactory) -> DashboardSession:
    return open_session()


def settle(session: DashboardSession, condition: Callable[[], T], what: str = "") -> T:
    """Drain the session (as the page's periodic callback would) until `condition` holds."""

    def drained() -> T:
        session.drain()
        return condition()

    return wait_until(drained, what=what)
