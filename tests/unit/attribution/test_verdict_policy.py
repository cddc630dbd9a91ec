from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilience.attribution import (
    DEFAULT_ACTIONS,
    Action,
    Category,
    Evidence,
    Policy,
    PolicyError,
    Verdict,
    load_policy,
)
from resilience.errors import ConfigError

CONTRACT_FIELDS = ["schema", "cycle_id", "action", "category", "confidence", "culprit_ranks",
                   "culprit_nodes", "evidence", "reason", "source", "fingerprint"]


def test_verdict_json_has_exactly_the_contract_fields_and_round_trips() -> None:
    v = Verdict(cycle_id=3, action=Action.STOP, category=Category.CUDA_OOM, confidence=0.97,
                culprit_ranks=(11,), culprit_nodes=("node-0042",),
                evidence=(Evidence(rank=11, line=1834, text="torch.OutOfMemoryError: x"),),
                reason="r", fingerprint="cuda_oom:torch.OutOfMemoryError:x")
    data = json.loads(v.to_json())
    assert list(data) == CONTRACT_FIELDS
    assert data["schema"] == "resilience.verdict/1"
    assert data["evidence"] == [{"rank": 11, "line": 1834, "text": "torch.OutOfMemoryError: x"}]
    assert Verdict.model_validate_json(v.to_json()) == v


def test_category_names_are_the_fixed_set() -> None:
    assert {c.value for c in Category} == {
        "gpu_hardware", "network", "host", "cuda_oom", "user_code", "numerical", "rendezvous",
        "storage", "hang", "scheduler", "unknown"}


@pytest.mark.parametrize(("category", "kind", "action"), [
    ("gpu_hardware", "", "RESTART"), ("network", "", "RESTART"), ("host", "node", "RESTART"),
    ("host", "memory", "STOP"), ("cuda_oom", "", "STOP"), ("user_code", "", "STOP"),
    ("numerical", "", "STOP"), ("numerical", "after_checkpoint", "RESTART"),
    ("rendezvous", "", "RESTART"), ("storage", "corrupt", "RESTART"),
    ("storage", "no_space", "STOP"), ("hang", "", "RESTART"), ("scheduler", "", "RESTART"),
    ("scheduler", "time_limit", "STOP"), ("unknown", "", "RESTART"),
])
def test_default_policy_matches_attribution_md(category: str, kind: str, action: str) -> None:
    assert Policy().action_for(Category(category), kind).value == action


def test_policy_file_overrides_and_nested_block(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("fault_tolerance:\n  attribution:\n    policy:\n      repeat_limit: 3\n"
                 "      actions:\n        cuda_oom: restart\n        storage.no_space: RESTART\n")
    p = load_policy(f)
    assert p.repeat_limit == 3
    assert p.action_for(Category.CUDA_OOM) is Action.RESTART
    assert p.action_for(Category.STORAGE, "no_space") is Action.RESTART
    assert p.action_for(Category.USER_CODE) is Action.STOP  # untouched default
    flat = tmp_path / "flat.json"
    flat.write_text('{"hang": "STOP"}')
    assert load_policy(flat).action_for(Category.HANG) is Action.STOP
    assert DEFAULT_ACTIONS["hang"] is Action.RESTART  # defaults are not mutated


@pytest.mark.parametrize(("content", "needle"), [
    ("cuda_oomm: STOP\n", "unknown policy key 'cuda_oomm'"),
    ("cuda_oom: MAYBE\n", "use RESTART or STOP"),
    ("actions: [1, 2]\n", "'actions' must be a mapping"),
    ("repeat_limit: 0\n", "repeat_limit must be an integer >= 1"),
    ("a: [unclosed\n", "not valid YAML/JSON"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_bad_policy_file_gives_one_line_error_naming_path(
    tmp_path: Path, content: str, needle: str
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    with pytest.raises(PolicyError) as info:
        load_policy(f)
    msg = str(info.value)
    assert needle in msg and str(f) in msg and "\n" not in msg
    assert isinstance(info.value, ConfigError)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")
