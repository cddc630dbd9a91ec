"""``ftrun`` / ``python -m resilience.run``: parse, resolve, launch, map the exit code."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    env = dict(os.environ)  # the workers' base environment, before the launcher touches anything
    # torch's C++ store client logs every retry and timeout with a stack trace; the agent
    # reports store problems itself in one line. Only for this process; workers get `env`.
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    from resilience.config import build_parser, resolve
    from resilience.errors import ConfigError, ResilienceError

    warnings.filterwarnings("default", category=DeprecationWarning, module=r"resilience\.")
    warnings.showwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    try:
        cfg = resolve(args, env)
    except ConfigError as exc:
        sys.stderr.write(f"ftrun: error: {exc}\n")
        return 2
    logging.basicConfig(level=logging.WARNING, format="[resilience] %(message)s")
    from resilience.launcher import launch

    try:
        return launch(cfg, env)
    except ConfigError as exc:  # e.g. a bad attribution policy file
        sys.stderr.write(f"ftrun: error: {exc}\n")
        return 2
    except ResilienceError as exc:
        sys.stderr.write(f"ftrun: error: {exc}\n")
        return 1


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(f"ftrun: {category.__name__}: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
