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

from pydantic.fields import FieldInfo

from resilience.config.models import AttributionConfig, FaultToleranceConfig

__all__ = ["FT_ENV_PREFIX", "build_parser", "ft_dest", "ft_env", "ft_flag", "ft_leaves"]

FT_ENV_PREFIX = "PET_FT_"


def ft_leaves() -> list[tuple[str, FieldInfo]]:
    """Every leaf setting of the fault_tolerance block as (dotted name, field)."""
    leaves: list[tuple[str, FieldInfo]] = []
    for name, field in FaultToleranceConfig.model_fields.items():
        if name == "attribution":
            leaves += [(f"attribution.{n}", f) for n, f in AttributionConfig.model_fields.items()]
        else:
            leaves.append((name, field))
    return leaves


def ft_flag(dotted: str) -> str:
    return "--ft-" + dotted.replace(".", "-").replace("_", "-")


def ft_dest(dotted: str) -> str:
    return "ft_" + dotted.replace(".", "__")


def ft_env(dotted: str) -> str:
    return FT_ENV_PREFIX + dotted.replace(".", "_").upper()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not torchrun's 40-line usage block.
        sys.stderr.write(f"ftrun: error: {message} (see ftrun --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from torch.distributed.run import get_args_parser

    parser = _Parser(
        prog="ftrun",
        description=(
            "Fault-tolerant drop-in replacement for torchrun: every torchrun flag works the "
            "same; --ft-* flags and a YAML 'fault_tolerance:' block (--ft-cfg-path) add "
            "fault tolerance. Exit codes: 0 success, 1 failed (restarts exhausted), 2 usage or "
            "config error, --ft-no-restart-exit-code (default 93) stopped on purpose, "
            "--ft-excluded-exit-code (default 94) this node was excluded, 128+N killed by "
            "signal N."
        ),
        parents=[get_args_parser()],
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
    for dotted, field in ft_leaves():
        _add_leaf(group, dotted, field)
    group.add_argument(
        "--ft-attrsvc-url",
        dest=ft_dest("attribution.http_url"),
        action="append",
        metavar="URL",
        help="same as --ft-attribution-http-url",
    )
    group.add_argument(
        "--ft-attribution-endpoint",
        dest="ft_deprecated_endpoint",
        default=None,
        metavar="URL",
        help="deprecated: use --ft-attribution-http-url",
    )
    group.add_argument(
        "--ft-attribution-backend",
        dest="ft_deprecated_backend",
        default=None,
        metavar="NAME",
        help="deprecated: the embedded rules engine is --ft-attribution-rules; services are "
        "--ft-attribution-http-url",
    )
    return parser


def _add_leaf(group: argparse._ArgumentGroup, dotted: str, field: FieldInfo) -> None:
    flag = ft_flag(dotted)
    names = [flag, "--" + flag[2:].replace("-", "_")]  # torchrun-style underscore alias
    where = f"env: {ft_env(dotted)}; YAML: fault_tolerance.{dotted}"
    default = "none" if field.default in (None, ()) else field.default
    help_text = f"{field.description} (default: {default}; {where})"
    if field.annotation is bool:
        # --flag / --no-flag: a value-taking boolean would swallow the training script's path.
        group.add_argument(
            *names,
            dest=ft_dest(dotted),
            action=argparse.BooleanOptionalAction,
            default=None,
            help=help_text,
        )
    elif dotted == "attribution.http_url":
        group.add_argument(
            *names,
            dest=ft_dest(dotted),
            action="append",
            default=None,
            metavar="URL",
            help=help_text,
        )
    else:
        group.add_argument(
            *names, dest=ft_dest(dotted), default=None, metavar="VALUE", help=help_text
        )
