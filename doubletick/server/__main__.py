"""`python -m doubletick.server`: the same as `doubletick server`."""

from __future__ import annotations

import argparse
import sys

from doubletick.server.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m doubletick.server", description="run the local Pusher-compatible server"
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
