"""The ``ftrun`` argument parser: torchrun's own parser plus the ``--ft-*`` flags.

We reuse ``torch.distributed.run.get_args_parser()`` so every torchrun flag, alias, default and
``PET_*`` environment variable behaves exactly as in torchrun (parity by construction, not by
copy). ``--ft-*`` flags are generated from :class:`FaultToleranceConfig` and default to
"not given", so YAML can sit between the environment and the defaults.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from resilience.config.models import FaultToleranceConfig

__all__ = ["FT_ENV_PREFIX", "build_parser", "ft_flag"]

FT_ENV_PREFIX = "PET_FT_"


def ft_flag(field: str) -> str:
    return "--ft-" + field.replace("_", "-")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not torchrun's 40-line usage block.
        sys.stderr.write(f"ftrun: error: {message} (see ftrun --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from torch.distributed.run import get_args_parser

    torch_parser = get_args_parser()
    parser = _Parser(
        prog="ftrun",
        description=(
            "Fault-tolerant drop-in replacement for torchrun: every torchrun flag works the "
            "same; --ft-* flags and a YAML 'fault_tolerance:' block (--ft-cfg-path) add "
            "fault tolerance. Exit codes: 0 success, 1 failed (restarts exhausted), 2 usage or "
            "config error, --ft-no-restart-exit-code (default 93) stopped on purpose, 128+N "
            "killed by signal N."
        ),
        parents=[torch_parser],
        conflict_handler="resolve",
    )
    group = parser.add_argument_group(
        "fault tolerance (precedence: flag > PET_FT_* env var > YAML > default)"
    )
    group.add_argument(
        "--ft-cfg-path",
        "--ft_cfg_path",
        dest="ft_cfg_path",
        default=None,
        metavar="FILE",
        help="YAML file with a top-level 'fault_tolerance:' block (env: PET_FT_CFG_PATH)",
    )
    for name, field in FaultToleranceConfig.model_fields.items():
        flag = ft_flag(name)
        group.add_argument(
            flag,
            flag.replace("-", "_").replace("__", "--", 1),
            dest=f"ft_{name}",
            default=None,
            metavar="VALUE",
            help=f"{field.description} (default: {field.default}; "
            f"env: {FT_ENV_PREFIX}{name.upper()}; YAML: fault_tolerance.{name})",
        )
    return parser
