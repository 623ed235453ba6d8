"""`python -m doubletick` is the `doubletick` command."""

from __future__ import annotations

import sys

from doubletick.cli import main

sys.exit(main())
