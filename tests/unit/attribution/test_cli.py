from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilience.cli import main

from .conftest import CORPUS

OOM_LOG = str(CORPUS / "logs" / "oom_red_herring_watchdog.log")
XID_LOG = str(CORPUS / "logs" / "gpu_xid79_fallen_off_bus.log")


def test_json_one_object_per_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribute", "--json", OOM_LOG, XID_LOG]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["category"] for line in out] == ["cuda_oom", "gpu_hardware"]


def test_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribute", OOM_LOG]) == 0
    out = capsys.readouterr().out
    assert "action:    STOP" in out and "category:  cuda_oom" in out and "ranks 3" in out
    assert out.count("\n  L") == 3 and "reason:" in out


def test_unreadable_input_exit_2_but_others_reported(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.log")
    assert main(["attribute", "--json", missing, OOM_LOG]) == 2
    captured = capsys.readouterr()
    assert missing in captured.err and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert json.loads(captured.out)["action"] == "STOP"


def test_bad_policy_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text("cuda_oom: PERHAPS\n")
    assert main(["attribute", "--policy", str(pol), OOM_LOG]) == 2
    err = capsys.readouterr().err
    assert str(pol) in err and "RESTART or STOP" in err


def test_policy_changes_action_and_cycle_flag(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text("actions:\n  cuda_oom: RESTART\n")
    assert main(["attribute", "--json", "--policy", str(pol), OOM_LOG]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "RESTART"
    multi = str(CORPUS / "logs" / "multi_cycle_repeated_network.log")
    assert main(["attribute", "--json", "--cycle", "0", multi]) == 0
    v = json.loads(capsys.readouterr().out)
    assert (v["cycle_id"], v["action"]) == (0, "RESTART")
