"""The doubletick dashboard: ``panel serve app/dashboard.py`` (``make serve``).

Each browser tab gets its own pair of users on the process-wide embedded server
(`doubletick.embedded`), which outlives the tabs: nothing process-wide lives in this script.
"""

from __future__ import annotations

import panel as pn

from app.page import Dashboard

pn.extension("tabulator", inline=True)

Dashboard().servable(title="doubletick: delivery ticks over Pusher")
