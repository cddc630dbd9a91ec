"""The policy table: category (or `category.kind`) -> default action.

The table is data, overridable by a YAML/JSON file (`load_policy`). Keys are a category name
(`cuda_oom`) or a category refined by the kind of fault (`storage.no_space`); the most specific
key wins. The defaults are exactly those of ATTRIBUTION.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from resilience.errors import ConfigError

from .verdict import Action, Category

__all__ = ["DEFAULT_ACTIONS", "KINDS", "Policy", "PolicyError", "load_policy"]

R, S = Action.RESTART, Action.STOP

# Refinements of a category whose default action differs from (or documents) the category's.
KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "host": ("memory", "node", "killed", "limits"),
    "storage": ("corrupt", "no_space", "io"),
    "scheduler": ("time_limit", "node_failure", "preemption", "cancelled", "killed"),
    "numerical": ("after_checkpoint",),
})

DEFAULT_ACTIONS: Mapping[str, Action] = MappingProxyType({
    "gpu_hardware": R,
    "network": R,
    "host": R,
    "host.memory": S,  # host RAM or /dev/shm exhausted by the job itself: it will recur
    "host.limits": S,  # a per-process limit (open files) exhausted by the job: it will recur
    "cuda_oom": S,
    "user_code": S,
    "numerical": S,
    "numerical.after_checkpoint": R,  # a checkpoint was saved since the previous failure
    "rendezvous": R,
    "storage": R,  # corrupt read: RESTART once (the repeat rule stops the second one)
    "storage.no_space": S,
    "hang": R,
    "scheduler": R,
    "scheduler.time_limit": S,
    "unknown": R,
})


def _valid_keys() -> frozenset[str]:
    keys = {c.value for c in Category}
    keys |= {f"{cat}.{kind}" for cat, kinds in KINDS.items() for kind in kinds}
    return frozenset(keys)


VALID_KEYS = _valid_keys()


class PolicyError(ConfigError):
    """A policy file is missing, unparsable or names an unknown category or action."""


class Policy(BaseModel):
    """Resolved policy: the full action table plus the repeated-root limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actions: Mapping[str, Action] = Field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    repeat_limit: int = Field(default=2, ge=1)

    def action_for(self, category: Category, kind: str = "") -> Action:
        """The action for a category refined by `kind` (most specific key wins)."""
        if kind:
            specific = self.actions.get(f"{category.value}.{kind}")
            if specific is not None:
                return specific
        return self.actions.get(category.value, DEFAULT_ACTIONS[category.value])

    def key_for(self, category: Category, kind: str = "") -> str:
        """The table key that decided `action_for` (for reason strings)."""
        key = f"{category.value}.{kind}"
        return key if kind and key in self.actions else category.value


def _find_block(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept the bare table or the `fault_tolerance.attribution.policy` block of a config."""
    for name in ("fault_tolerance", "attribution", "policy"):
        inner = data.get(name)
        if isinstance(inner, Mapping):
            data = inner
    return data


def _parse_action(path: Path, key: str, value: object) -> Action:
    text = str(value).strip().upper()
    if text not in Action.__members__:
        raise PolicyError(
            f"{path}: policy key {key!r} has action {value!r}; use RESTART or STOP"
        )
    return Action(text)


def policy_from_mapping(data: Mapping[str, Any], path: Path | str = "<policy>") -> Policy:
    """Build a Policy from a parsed mapping; errors name `path`, the key and the fix."""
    path = Path(path)
    block = _find_block(data)
    raw_actions = block.get("actions", {k: v for k, v in block.items() if k != "repeat_limit"})
    if not isinstance(raw_actions, Mapping):
        raise PolicyError(f"{path}: 'actions' must be a mapping of category -> RESTART|STOP")
    actions = dict(DEFAULT_ACTIONS)
    for key, value in raw_actions.items():
        if str(key) not in VALID_KEYS:
            raise PolicyError(
                f"{path}: unknown policy key {key!r}; use one of: {', '.join(sorted(VALID_KEYS))}"
            )
        actions[str(key)] = _parse_action(path, str(key), value)
    limit = block.get("repeat_limit", 2)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise PolicyError(f"{path}: repeat_limit must be an integer >= 1, got {limit!r}")
    return Policy(actions=actions, repeat_limit=limit)


def load_policy(path: str | Path) -> Policy:
    """Read a YAML (or JSON) policy file. Raises PolicyError with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file ({exc}); pass an existing "
                          "YAML/JSON file to --policy") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise PolicyError(f"{path}: not valid YAML/JSON ({first}); fix the syntax") from exc
    if data is None:
        return Policy()
    if not isinstance(data, Mapping):
        raise PolicyError(f"{path}: expected a mapping of category -> RESTART|STOP at top level")
    return policy_from_mapping(data, path)
