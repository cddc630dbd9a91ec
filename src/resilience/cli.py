"""The `resilience` command: a thin dispatcher over subcommands.

Each subcommand lives in its own package and exposes two functions:
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code). Subcommand modules are
imported only when chosen, so `resilience attribute` never pays for the HTTP service's imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# name -> (module, one-line help). The module provides add_arguments() and run().
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "attribute": ("resilience.attribution.cli", "analyse log files offline and print the verdict"),
    "serve": ("resilience.service.cli", "run the attribution HTTP service"),
}


def _build_parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resilience",
        description="Failure attribution tools of resilience (the launcher is `ftrun`).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = _build_parser(chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    code: int = module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
