"""The served dashboard in a real browser: a typed message, its ticks, the timeline, and
twenty tabs opened and closed without leaving clients behind."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from doubletick.embedded import default_runtime
from tests.ui.conftest import ServedDashboard
from tests.waiting import wait_until

pytestmark = pytest.mark.ui

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TEXT = "Hello Bob, from the browser"
LATENCY_KINDS = "Bokeh.documents[0].get_model_by_name('latency_source').data.kind"


def open_pages(browser: Any, dashboard: ServedDashboard, count: int = 1) -> list[Any]:
    """Tabs of their own (a context each), loaded side by side, whose two users are
    connected and online; returns their contexts and pages."""
    from playwright.sync_api import expect

    contexts = [browser.new_context(viewport={"width": 1400, "height": 1500}) for _ in range(count)]
    pages = [context.new_page() for context in contexts]
    for page in pages:
        page.goto(dashboard.url, wait_until="commit")
    for page in pages:
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0")
        expect(page.locator('.dt-peer[data-online="true"]')).to_have_count(2, timeout=30_000)
    return list(zip(contexts, pages, strict=True))


def test_typed_message_reaches_bob_and_turns_delivered_then_read(
    browser: Any, dashboard: ServedDashboard
) -> None:
    from playwright.sync_api import expect

    ((context, page),) = open_pages(browser, dashboard)
    alice, bob = page.locator(".dt-pane-alice"), page.locator(".dt-pane-bob")
    bob.get_by_text("In background").click()
    alice.get_by_placeholder("Message as Alice").fill(TEXT)
    alice.get_by_role("button", name="Send").click()

    expect(bob.get_by_text(TEXT)).to_be_visible()
    tick = alice.locator(".dt-tick")
    expect(tick).to_have_attribute("aria-label", "Delivered")
    bob.get_by_text("Chat open (reads at once)").click()
    expect(tick).to_have_attribute("aria-label", "Read")
    assert "Delivered" in (tick.get_attribute("title") or "")

    page.wait_for_function(f"() => {LATENCY_KINDS}.includes('delivered → read')")
    kinds = page.evaluate(LATENCY_KINDS)
    assert sorted(kinds) == ["delivered → read", "send → delivered"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
    context.close()


def client_threads() -> list[str]:
    prefixes = ("chat-", "PysherEventLoop")
    return [t.name for t in threading.enumerate() if t.name.startswith(prefixes)]


def dm_channels() -> list[str]:
    channels = default_runtime().rest_client().channels_info()["channels"]
    return [name for name in channels if "-dm-" in name]


@pytest.mark.slow
@pytest.mark.timeout(300)  # twenty page loads on two cores, then pysher's 30 s timer threads
def test_twenty_closed_tabs_leave_no_client_threads_or_connections(
    browser: Any, dashboard: ServedDashboard
) -> None:
    for _ in range(20):
        ((context, _),) = open_pages(browser, dashboard)
        assert len(dm_channels()) >= 2  # the tab's private and presence channels
        context.close()
    wait_until(lambda: not client_threads(), timeout=30, what="client threads to end")
    wait_until(lambda: not dm_channels(), what="the server to have no conversation channels")
    # pysher's timer thread sleeps up to its 30 s pong timeout before it sees the close
    scheduler = [t for t in threading.enumerate() if t.name == "PysherScheduler"]
    wait_until(lambda: not any(t.is_alive() for t in scheduler), timeout=40, what="timers")
