"""The `doubletick` command: one entry point, one subcommand per component.

Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together so that importing the CLI stays
cheap (the dashboard's heavy imports happen only when that subcommand runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "server": ("doubletick.server.cli", "run the local Pusher-compatible server"),
    "auth": ("auth_server.cli", "run the auth server that signs channel subscriptions"),
    "bot": ("doubletick.client.bot", "run a simulated chat user that acknowledges messages"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doubletick", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a component not built yet must not break the others
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
