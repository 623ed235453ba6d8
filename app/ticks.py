"""The WhatsApp marks as HTML: clock, one grey tick, two grey ticks, two blue ticks, failed.

Each mark carries its state as an accessible label ("Sending", "Sent", "Delivered", "Read",
"Failed"), a tooltip with the time of every step, and data attributes for tests and the
benchmark (`data-changed-at`: wall-clock ms when the client observed the latest change).
"""

from __future__ import annotations

import html
import time

from app.stores import STATE_LABELS, MessageItem
from doubletick.delivery import DeliveryState

GREY, BLUE, RED = "#8696a0", "#34b7f1", "#e5484d"
_CHECK = '<path d="M1.5 6.5 4.8 9.8 11.5 2.2" fill="none" stroke="{c}" stroke-width="1.7"/>'
_SECOND = '<path d="M7.2 9.8 15 2.2" fill="none" stroke="{c}" stroke-width="1.7"/>'
_SVG = '<svg width="17" height="12" viewBox="0 0 17 12" aria-hidden="true">{}</svg>'
MARKS = {
    DeliveryState.PENDING: _SVG.format(
        f'<circle cx="6" cy="6" r="4.8" fill="none" stroke="{GREY}" stroke-width="1.3"/>'
        f'<path d="M6 3.2V6h2.2" fill="none" stroke="{GREY}" stroke-width="1.3"/>'
    ),
    DeliveryState.SENT: _SVG.format(_CHECK.format(c=GREY)),
    DeliveryState.DELIVERED: _SVG.format(_CHECK.format(c=GREY) + _SECOND.format(c=GREY)),
    DeliveryState.READ: _SVG.format(_CHECK.format(c=BLUE) + _SECOND.format(c=BLUE)),
    DeliveryState.FAILED: _SVG.format(
        f'<circle cx="6" cy="6" r="5.5" fill="{RED}"/>'
        '<path d="M6 2.8v4M6 8.4v.9" stroke="#fff" stroke-width="1.5"/>'
    ),
}
_ORDER = (
    DeliveryState.PENDING,
    DeliveryState.SENT,
    DeliveryState.DELIVERED,
    DeliveryState.READ,
    DeliveryState.FAILED,
)


def clock_text(wall: float) -> str:
    """``HH:MM:SS.mmm`` local time."""
    return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03d}"


def tooltip(item: MessageItem) -> str:
    """One line per step reached: its time and, after the first, the time since sending."""
    steps = item.steps
    start = steps.get(DeliveryState.PENDING.value)
    lines = []
    for state in _ORDER:
        at = steps.get(state.value)
        if at is None:
            continue
        line = f"{STATE_LABELS[state]} {clock_text(at)}"
        if start is not None and state is not DeliveryState.PENDING:
            line += f" (+{(at - start) * 1000:.0f} ms)"
        lines.append(line)
    if item.failure:
        lines.append(item.failure)
    return "\n".join(lines)


def tick_html(item: MessageItem) -> str:
    """The mark of one of our messages, with its label, tooltip and data attributes."""
    state = item.state
    label = STATE_LABELS[state]
    color = BLUE if state is DeliveryState.READ else RED if state is DeliveryState.FAILED else GREY
    return (
        f'<span class="dt-tick" role="img" aria-label="{label}" '
        f'title="{html.escape(tooltip(item))}" data-state="{state.value}" '
        f'data-message-id="{html.escape(item.message_id)}" '
        f'data-changed-at="{item.changed_at * 1000:.0f}" '
        'style="display:inline-flex;align-items:center;gap:4px;font-size:11px;'
        f'color:{color};cursor:default">{MARKS[state]}'
        f'<span aria-hidden="true">{label}</span></span>'
    )
