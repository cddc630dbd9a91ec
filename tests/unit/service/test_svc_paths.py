from __future__ import annotations

import os
from pathlib import Path

import pytest

from resilience.service.errors import PathRefusedError
from resilience.service.paths import open_regular, resolve_safe


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.log").write_text("hello\n")
    (root / "sub" / "b.log").write_text("b\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "inside").symlink_to(root / "sub" / "b.log")
    (root / "dirlink").symlink_to(tmp_path)
    os.mkfifo(root / "fifo")
    return root.resolve()


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        ("", 400, "empty"),
        ("a.log\x00.txt", 400, "NUL"),
        ("../secret.txt", 400, "'..'"),
        ("sub/../a.log", 400, "'..'"),
        ("escape", 403, "outside the allowed root"),
        ("dirlink/secret.txt", 403, "outside the allowed root"),
        ("/etc/passwd", 403, "outside the allowed root"),
        ("/dev/null", 403, "outside the allowed root"),
        ("fifo", 400, "FIFO"),
        ("sub", 400, "directory"),
        ("missing.log", 404, "does not exist"),
    ],
)
def test_refusals(tree: Path, raw: str, status: int, reason: str) -> None:
    with pytest.raises(PathRefusedError) as err:
        resolve_safe(raw, tree)
    assert err.value.status == status
    assert reason in err.value.reason


@pytest.mark.parametrize("raw", ["a.log", "sub/b.log", "inside", "./a.log"])
def test_accepted_relative(tree: Path, raw: str) -> None:
    got = resolve_safe(raw, tree)
    assert got.path.is_relative_to(tree) and got.path.is_file()
    assert got.size == got.path.stat().st_size


def test_accepted_absolute_inside(tree: Path) -> None:
    assert resolve_safe(str(tree / "a.log"), tree).path == tree / "a.log"


def test_devices_inside_root_are_refused(tree: Path) -> None:
    root_dev = Path("/dev").resolve()
    with pytest.raises(PathRefusedError, match="character device"):
        resolve_safe("null", root_dev)


def test_open_regular_refuses_a_swapped_in_fifo(tree: Path) -> None:
    checked = resolve_safe("a.log", tree)
    checked.path.unlink()
    os.mkfifo(checked.path)  # swapped after the check: open must not block, must refuse
    with pytest.raises(PathRefusedError, match="FIFO"):
        open_regular(checked.path)


def test_open_regular_refuses_a_swapped_in_symlink(tree: Path) -> None:
    checked = resolve_safe("a.log", tree)
    checked.path.unlink()
    checked.path.symlink_to(tree.parent / "secret.txt")
    with pytest.raises(PathRefusedError):
        open_regular(checked.path)
