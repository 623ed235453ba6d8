"""The dashboard's views: they watch the stores and render; every decision is in the stores.

A chat pane draws every message as a Panel `ChatMessage` holding a light bubble and, in its
footer, a tick (both HTML panes updated in place), and keeps
at most `max_rendered` rows: a new message refills the oldest row, and the rows never move in
the page, their CSS `order` does. So at 50 messages/s the page holds a fixed set of Bokeh
models and sees only text and style changes. Measured in chromium at 50/s: recycled
`ChatMessage`s (~20 models each) left the feed when the store dropped their message and came
back as new models, and the page's Bokeh document grew by ~35 models a second; reordering a
layout's children makes Bokeh re-lay out the whole page. Either made receipt→tick grow for as
long as the conversation ran. Ticks update in place.
"""

from __future__ import annotations

import html
import time
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from app.inspector import BOTH, InspectorStore
from app.latency import KINDS, LatencyStore
from app.latency import empty_columns as empty_points
from app.stores import ChatStore, DashboardStore, MessageItem
from app.ticks import GREY, tick_html
from doubletick.delivery import DeliveryState

LATENCY_SOURCE = "latency_source"  # Bokeh model names the tests read
LATENCY_PLOT = "latency_plot"
AVATARS = {"Alice": "A", "Bob": "B"}
COUNTS_PERIOD = 0.5  # seconds between updates of a pane's "sent N, received M" line
# Rows are drawn bottom-up, the newest lowest (CSS `order`): a feed scrolled to its end stays
# there as messages arrive, and one scrolled up stays put.
NEWEST_AT_BOTTOM = ":host { flex-direction: column-reverse !important; }"
# the bubble draws its own avatar; ChatMessage's avatar column would show an empty circle
NO_AVATAR_COLUMN = ":host(.left), .avatar { display: none !important; }"
OWN_BUBBLE, PEER_BUBBLE = "#d9fdd3", "#f0f2f5"  # WhatsApp's
AVATAR_STYLE = (
    "flex:none;width:28px;height:28px;border-radius:50%;background:#dfe5e7;color:#54656f;"
    "display:inline-flex;align-items:center;justify-content:center;font-weight:600"
)


def header_html(name: str, peer: str, online: bool, typing: bool, connection: str) -> str:
    dot = "#25d366" if online else GREY
    status = "typing…" if typing and online else "online" if online else "offline"
    return (
        f'<div class="dt-header" style="display:flex;gap:10px;align-items:baseline">'
        f"<b>{html.escape(name)}</b><span>chatting with {html.escape(peer)}:</span>"
        f'<span class="dt-peer" data-online="{str(online).lower()}" style="color:{dot}">'
        f"● {status}</span>"
        f'<span style="margin-left:auto;color:{GREY};font-size:12px">connection: '
        f'<span class="dt-connection">{html.escape(connection)}</span></span></div>'
    )


def bubble_html(item: MessageItem, shown_at: float) -> str:
    """A message's bubble: avatar, author, text and time (its tick is a pane of its own)."""
    at = item.steps.get(DeliveryState.PENDING.value, shown_at)
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    author, avatar = html.escape(item.author), html.escape(_avatar(item.author))
    background = OWN_BUBBLE if item.own else PEER_BUBBLE
    return (
        f'<div class="dt-bubble" role="article" aria-label="{author} at {stamp}" '
        f'data-message-id="{html.escape(item.message_id)}" '
        'style="display:flex;gap:8px;align-items:flex-start">'
        f'<span aria-hidden="true" style="{AVATAR_STYLE}">{avatar}</span>'
        f'<div style="background:{background};border-radius:8px;padding:4px 8px;min-width:0">'
        f'<div style="font-size:12px;font-weight:600">{author}</div>'
        f'<div class="dt-text" style="overflow-wrap:anywhere">{html.escape(item.text)}</div>'
        f'<div style="font-size:11px;color:{GREY}">{stamp}</div></div></div>'
    )


class MessageRow:
    """One drawn message: a bubble and, for the user's own messages, a tick that updates in
    place. Rows are few and reused: a new message refills the oldest row, so the page keeps
    the same Bokeh models however many messages pass."""

    def __init__(self) -> None:
        self.bubble = pn.pane.HTML("", margin=0, sizing_mode="stretch_width")
        self.tick = pn.pane.HTML("", margin=(0, 0, 4, 0), align="end", width=90)
        # A Panel ChatMessage holding our own light bubble: the bubble and the tick are
        # updated in place, so a reused row sends the page text changes, never new models.
        # (Its own visibility is left alone: ChatMessage hands it to its avatar column too.)
        self.message = pn.chat.ChatMessage(
            self.bubble,
            footer_objects=[self.tick],
            show_avatar=False,
            show_user=False,
            show_timestamp=False,
            show_reaction_icons=False,
            show_copy_icon=False,
            show_edit_icon=False,
            show_activity_dot=False,
            sizing_mode="stretch_width",
            stylesheets=[NO_AVATAR_COLUMN],
        )
        self.view = pn.Column(
            self.message,
            css_classes=["dt-message"],
            sizing_mode="stretch_width",
            margin=(3, 8),
            visible=False,
        )
        self.item: MessageItem | None = None
        self._watcher: Any = None

    @property
    def message_id(self) -> str | None:
        return None if self.item is None else self.item.message_id

    def show(self, item: MessageItem, position: int) -> MessageRow:
        """Show `item` as the `position`-th message drawn (higher is newer)."""
        self.release()
        self.item = item
        self.view.styles = {"order": str(-position)}
        self.bubble.object = bubble_html(item, time.time())
        self.tick.object = tick_html(item) if item.own else ""
        if item.own:
            self._watcher = item.param.watch(self._retick, ["state", "steps", "failure"])
        if not self.view.visible:
            self.view.visible = True
        return self

    def release(self) -> MessageRow:
        """Forget the message (the row is hidden until it shows another)."""
        if self.item is not None and self._watcher is not None:
            self.item.param.unwatch(self._watcher)
        self.item = self._watcher = None
        return self

    def hide(self) -> MessageRow:
        self.release()
        self.view.visible = False
        return self

    def _retick(self, *_: object) -> None:
        if self.item is not None:
            self.tick.object = tick_html(self.item)


def _avatar(author: str) -> str:
    return AVATARS.get(author, author[:1])


class ChatPane(pn.viewable.Viewer):
    """One user's chat: the peer's presence in the header, the newest messages, an input,
    switches. Every new message is drawn at the next update (the newest `max_rendered` of
    those that arrived since the last one)."""

    store = param.ClassSelector(class_=ChatStore)
    max_rendered = param.Integer(default=15, bounds=(1, None), doc="messages on the page")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        store = self.store
        self._rows: list[MessageRow] = []  # showing a message, oldest first
        self._free: list[MessageRow] = []  # hidden
        self._drawn = 0  # messages drawn so far: the next one's position
        self._counts_due = 0.0
        self._seen: set[str] = set()  # ids drawn or passed over, of the store's messages
        self.header = pn.pane.HTML(
            pn.bind(
                header_html,
                store.param.display_name,
                store.param.peer_name,
                store.param.peer_online,
                store.param.peer_typing,
                store.param.connection,
            ),
            sizing_mode="stretch_width",
            margin=(5, 10),
        )
        self.feed = pn.Column(
            height=380,
            sizing_mode="stretch_width",
            scroll=True,
            css_classes=["dt-feed"],
            stylesheets=[NEWEST_AT_BOTTOM],
        )
        self.input = pn.widgets.TextInput(
            placeholder=f"Message as {store.display_name}", sizing_mode="stretch_width"
        )
        self.send_button = pn.widgets.Button(label="Send", color="primary", width=80)
        self.shown = pn.pane.HTML(
            "",
            margin=(0, 10),
            css_classes=["dt-counts"],
            styles={"color": GREY, "font-size": "12px"},
        )
        self.send_button.on_click(self._send)
        self.input.param.watch(self._send, "enter_pressed")
        self.input.param.watch(self._typed, "value_input")
        store.param.watch(self._sync, "messages")

    def controls(self) -> pn.viewable.Viewable:
        store = self.store
        retry = pn.widgets.Button(label="Retry failed", color="light", width=110)
        retry.on_click(lambda _: store.retry_failed())
        return pn.Column(
            pn.Row(
                pn.widgets.Checkbox.from_param(store.param.online, label="Online"),
                pn.widgets.Checkbox.from_param(store.param.read_receipts, label="Read receipts"),
                retry,
            ),
            pn.widgets.RadioButtonGroup.from_param(
                store.param.chat_open,
                options={"Chat open (reads at once)": True, "In background": False},
                color="default",
            ),
            pn.Row(
                pn.widgets.FloatSlider.from_param(
                    store.param.delay_ms, label="Delay (ms)", start=0, end=2000, step=10
                ),
                pn.widgets.FloatSlider.from_param(
                    store.param.jitter_ms, label="Jitter (ms)", start=0, end=1000, step=10
                ),
            ),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.header,
            self.feed,
            self.shown,
            pn.Row(self.input, self.send_button, sizing_mode="stretch_width"),
            self.controls(),
            sizing_mode="stretch_width",
            css_classes=[f"dt-pane-{self.store.display_name.lower()}"],
            styles={"border": "1px solid #e0e0e0", "border-radius": "8px"},
        )

    def _send(self, _: object) -> None:
        text = self.input.value_input or self.input.value
        if self.store.send(text or "") is not None:
            self.input.param.update(value="", value_input="")

    def _typed(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.store.typing()

    def _sync(self, _: object) -> None:
        """Draw the new items in reused rows; hide rows whose message the store dropped."""
        items = self.store.messages
        present = {item.message_id for item in items}
        for row in [r for r in self._rows if r.message_id not in present]:
            self._rows.remove(row)
            self._free.append(row.hide())
        self._seen &= present
        new = [item for item in items if item.message_id not in self._seen]
        self._seen.update(item.message_id for item in new)
        for item in new[-self.max_rendered :]:
            self._drawn += 1
            self._rows.append(self._row_for(item).show(item, self._drawn))
        self._show_counts()

    def drawn(self) -> list[MessageItem]:
        """The messages on the page, oldest first."""
        return [row.item for row in self._rows if row.item is not None]

    def _row_for(self, item: MessageItem) -> MessageRow:
        if self._free:
            return self._free.pop()
        if len(self._rows) >= self.max_rendered:
            return self._rows.pop(0)
        row = MessageRow()  # the feed's children change only while it fills up
        self.feed.append(row.view)
        return row

    def _show_counts(self) -> None:
        now = time.monotonic()
        if now < self._counts_due:
            return
        self._counts_due = now + COUNTS_PERIOD
        store = self.store
        text = f"sent {store.sent_count}, received {store.received_count}"
        if len(store.messages) > len(self._rows):
            text += f"; showing the newest {len(self._rows)}"
        self.shown.object = text


class LatencyTimeline(pn.viewable.Viewer):
    """Send→delivered and delivered→read per message, streamed into a Bokeh source."""

    store = param.ClassSelector(class_=LatencyStore)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.source = ColumnDataSource(data=self.store.points(), name=LATENCY_SOURCE)
        plot = figure(
            name=LATENCY_PLOT,
            height=280,
            sizing_mode="stretch_width",
            x_axis_label="seconds since the page opened",
            y_axis_label="latency (ms)",
            tools="pan,wheel_zoom,box_zoom,reset,save",
            title="Receipt latency per message",
        )
        plot.scatter("t", "ms", source=self.source, color="color", legend_field="kind", size=6)
        plot.add_tools(HoverTool(tooltips=[("", "@kind"), ("ms", "@ms{0.0}"), ("id", "@message")]))
        plot.legend.location = "top_left"
        self.plot = pn.pane.Bokeh(plot, sizing_mode="stretch_width")
        self.stats = pn.pane.HTML(pn.bind(stats_html, self.store.param.stats), width=260)
        self.store.param.watch(self._stream, "batches")
        self.store.param.watch(self._reset, "cleared")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(self.plot, self.stats, sizing_mode="stretch_width")

    def _stream(self, _: object) -> None:
        self.source.stream(self.store.last_batch, rollover=2 * self.store.window)
        push_if_notebook(self.plot)

    def _reset(self, _: object) -> None:
        self.source.data = empty_points()
        push_if_notebook(self.plot)


def stats_html(stats: dict[str, dict[str, float]]) -> str:
    rows = []
    for kind, title in KINDS.items():
        values = stats.get(kind, {"count": 0})
        cells = "".join(
            f'<td data-stat="{kind}-{p}">{values[p]:.1f}</td>' if p in values else "<td>–</td>"
            for p in ("p50", "p95", "p99")
        )
        rows.append(f"<tr><th>{title}</th><td>{values['count']:.0f}</td>{cells}</tr>")
    return (
        '<table class="dt-stats" style="font-size:13px"><tr><th>ms</th><th>n</th>'
        "<th>p50</th><th>p95</th><th>p99</th></tr>" + "".join(rows) + "</table>"
    )


class InspectorView(pn.viewable.Viewer):
    """The frames each user sends and receives, newest last, with filters."""

    store = param.ClassSelector(class_=InspectorStore)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        widths = {"time": 95, "user": 50, "direction": 70, "event": 200, "channel": 240}
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(self.store.rows(), dtype=str),
            disabled=True,
            show_index=False,
            height=280,
            widths=widths,
            sizing_mode="stretch_width",
            layout="fit_data_fill",
        )
        self.total = pn.pane.HTML(pn.bind("{} frames seen".format, self.store.param.total))
        self.store.param.watch(self._stream, "batches")
        self.store.param.watch(self._reload, "refreshed")

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        filters = pn.Row(
            pn.widgets.Select.from_param(store.param.user, label="User", width=110),
            pn.widgets.RadioButtonGroup.from_param(store.param.direction, label="Direction"),
            pn.widgets.TextInput.from_param(
                store.param.event, label="Event or channel contains", width=220
            ),
            pn.widgets.Checkbox.from_param(store.param.paused, label="Pause"),
            self.total,
        )
        return pn.Column(filters, self.table, sizing_mode="stretch_width")

    def _stream(self, _: object) -> None:
        self.table.stream(self.store.last_batch, rollover=self.store.shown, follow=True)

    def _reload(self, _: object) -> None:
        self.table.value = pd.DataFrame(self.store.rows(), dtype=str)


def push_if_notebook(pane: pn.pane.Bokeh) -> None:
    """In a served page Bokeh syncs model changes itself; in Jupyter they must be pushed."""
    if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
        pn.io.push_notebook(pane)


class ControlsView(pn.viewable.Viewer):
    """The automatic conversation, the server restart, export and clear."""

    store = param.ClassSelector(class_=DashboardStore)

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        restart = pn.widgets.Button(
            label="Restart server", color="warning", disabled=not store.restartable
        )
        restart.on_click(lambda _: store.request_restart())
        clear = pn.widgets.Button(label="Clear history", color="light")
        clear.on_click(lambda _: store.clear_history())
        export = pn.widgets.FileDownload(
            callback=lambda: _csv_file(store.latency),
            filename="latency.csv",
            label="Export latency CSV",
            color="success",
        )
        return pn.Column(
            pn.Row(
                pn.widgets.Toggle.from_param(
                    store.param.auto_chat, label="Automatic conversation", color="primary"
                ),
                pn.widgets.FloatSlider.from_param(
                    store.param.rate, label="Messages per second", step=0.2, width=260
                ),
                restart,
                export,
                clear,
            ),
            pn.pane.HTML(pn.bind(_small, store.param.endpoint), margin=(0, 10)),
            pn.pane.HTML(pn.bind(_small, store.param.server_status), margin=(0, 10)),
            pn.pane.HTML(pn.bind(_dropped, store.param.dropped_events), margin=(0, 10)),
        )


def _csv_file(store: LatencyStore) -> Any:
    import io

    return io.StringIO(store.to_csv())


def _small(text: str) -> str:
    return f'<span style="color:{GREY};font-size:12px">{html.escape(text)}</span>'


def _dropped(count: int) -> str:
    return _small(f"{count} client events dropped: the page fell behind") if count else ""


__all__ = [
    "BOTH",
    "LATENCY_PLOT",
    "LATENCY_SOURCE",
    "ChatPane",
    "ControlsView",
    "InspectorView",
    "LatencyTimeline",
    "bubble_html",
    "header_html",
    "stats_html",
]
