"""Read the ``fault_tolerance:`` block of a YAML file (``--ft-cfg-path``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from resilience.errors import ConfigError

__all__ = ["load_ft_block"]


def load_ft_block(path: Path) -> dict[str, Any]:
    """The block as a dict; a missing file, bad YAML or no block is a ConfigError."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read --ft-cfg-path {str(path)!r}: {exc.strerror}; pass an existing YAML file"
        ) from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{at}; fix the syntax") from exc
    if not isinstance(doc, dict) or "fault_tolerance" not in doc:
        raise ConfigError(
            f"{path}: no 'fault_tolerance:' block; put the settings under a top-level "
            f"'fault_tolerance:' key"
        )
    block = doc["fault_tolerance"]
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(
            f"{path}: 'fault_tolerance' must be a mapping of settings, got {type(block).__name__}"
        )
    return {str(k).replace("-", "_"): v for k, v in block.items()}
