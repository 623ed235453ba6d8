"""The whole dashboard for one page (a browser tab or a notebook output).

`Dashboard()` builds the session's stores and views at once but connects only when the page
has loaded (`pn.state.onload`): pushing updates into a page that is still loading broke it
(PANEL.md). Then a periodic callback drains the clients' events into the stores under
`pn.io.hold()`, one batch per period. Closing the tab disconnects both users.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import panel as pn
import param

from app.session import DashboardSession
from app.views import ChatPane, ControlsView, InspectorView, LatencyTimeline
from doubletick.embedded import EmbeddedRuntime, default_runtime

log = logging.getLogger(__name__)

DRAIN_PERIOD_MS = 100
INTRO = """\
**doubletick**: WhatsApp-style delivery ticks over Pusher Channels. Each message shows
a clock while *sending* (queued on the sender), ✓ *sent* (the endpoint took it), ✓✓ *delivered* (the
peer's client stored it) and <span style="color:#34b7f1">✓✓</span> *read* (the peer saw it);
hover a tick for the time of each step. Alice and Bob are two clients in this page, on their
own private channel."""


class Dashboard(pn.viewable.Viewer):
    """Two users side by side, the latency timeline, controls and the protocol inspector."""

    drain_period = param.Integer(default=DRAIN_PERIOD_MS, bounds=(10, None), doc="ms")

    def __init__(
        self,
        runtime: EmbeddedRuntime | None = None,
        *,
        session: DashboardSession | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.session = session or DashboardSession(runtime or default_runtime())
        self.store = self.session.store
        self.alice = ChatPane(store=self.store.alice)
        self.bob = ChatPane(store=self.store.bob)
        self.timeline = LatencyTimeline(store=self.store.latency)
        self.inspector = InspectorView(store=self.store.inspector)
        self.controls = ControlsView(store=self.store)
        self._callback: Any = None
        self._layout: pn.viewable.Viewable | None = None

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = self._build()
            pn.state.onload(self._connect)
            document = pn.state.curdoc
            if document is not None and document.session_context is not None:
                pn.state.on_session_destroyed(self._destroyed)
                if pn.state.location is not None:  # ?auto=true&rate=50 starts a conversation
                    pn.state.location.sync(self.store, {"auto_chat": "auto", "rate": "rate"})
        return self._layout

    def _build(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
            self.controls,
            pn.Row(self.alice, self.bob, sizing_mode="stretch_width"),
            self.timeline,
            pn.Card(
                self.inspector,
                title="Protocol inspector: Pusher frames in and out",
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            max_width=1400,
        )

    def _connect(self) -> None:
        self.session.start()
        self._callback = pn.state.add_periodic_callback(self.drain, period=self.drain_period)

    def drain(self) -> None:
        """Apply what the clients observed since the last call, as one document update."""
        if self.session.closed:
            return
        with pn.io.hold():
            self.session.drain()

    def close(self) -> None:
        """Stop draining and disconnect both users (blocks until their threads end)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self.session.close()

    def _destroyed(self, _: object) -> None:
        # The page is gone; closing joins the clients' threads: not on the server's loop.
        self._callback = None
        threading.Thread(target=self.session.close, name="dashboard-close", daemon=True).start()
