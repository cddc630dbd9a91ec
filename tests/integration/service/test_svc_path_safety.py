"""Path traversal table against the real server: each refusal is a 4xx JSON with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

CASES = [
    # (log_path relative to a fixture tree, or absolute; status; words in the reason)
    ("../outside.log", 400, "'..'"),
    ("cycle_0/../../outside.log", 400, "'..'"),
    ("rank\x00.log", 400, "NUL"),
    ("escape.log", 403, "outside the allowed root"),
    ("fifo", 400, "FIFO"),
    ("/dev/null", 403, "outside the allowed root"),
    ("/etc/passwd", 403, "outside the allowed root"),
    ("{outside}", 403, "outside the allowed root"),
    ("cycle_0", 400, "directory"),
    ("nope.log", 404, "does not exist"),
    ("", 400, "empty"),
]


@pytest.fixture
def tree(root: Path) -> Path:
    (root / "cycle_0").mkdir()
    (root / "cycle_0" / "rank_0.log").write_text("[rank0]: step 1\n")
    outside = root.parent / "outside.log"
    outside.write_text("secret\n")
    (root / "escape.log").symlink_to(outside)
    os.mkfifo(root / "fifo")
    return root


@pytest.mark.parametrize(("raw", "status", "reason"), CASES)
@pytest.mark.parametrize("endpoint", ["/logs", "/print"])
def test_refused_with_reason(live: httpx.Client, tree: Path, endpoint: str, raw: str,
                             status: int, reason: str) -> None:
    raw = raw.format(outside=tree.parent / "outside.log")
    got = live.get(endpoint, params={"log_path": raw})
    assert got.status_code == status, got.text
    body = got.json()
    assert body["error"] == "path_refused" and reason in body["reason"]


@pytest.mark.parametrize(("raw", "status", "reason"), CASES[:4])
def test_refused_on_submit_too(live: httpx.Client, tree: Path, raw: str, status: int,
                               reason: str) -> None:
    got = live.post("/logs", json={"log_path": raw, "user": "u", "job_id": "j"})
    assert got.status_code == status and reason in got.json()["reason"]
    assert live.get("/jobs").json() == []


def test_good_paths_relative_and_absolute(live: httpx.Client, tree: Path) -> None:
    rel = live.get("/print", params={"log_path": "cycle_0/rank_0.log"})
    absolute = live.get("/print", params={"log_path": str(tree / "cycle_0" / "rank_0.log")})
    assert rel.status_code == absolute.status_code == 200
    assert rel.text == absolute.text == "[rank0]: step 1\n"
    assert live.get("/stats").json()["counters"]["refused_paths"] == 0
