"""``python -m auth_server``: see `auth_server.cli`."""

from __future__ import annotations

import sys

from auth_server.cli import main

sys.exit(main())
