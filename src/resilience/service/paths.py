"""Path safety: the service reads only regular files under ALLOWED_ROOT.

Rules, checked in this order (the first broken rule is the reason returned to the client):
empty or NUL byte -> 400; a ``..`` component -> 400 (refused before touching the disk, so a
probe cannot learn what exists outside the root); relative paths are taken relative to the
root; the path is resolved (symlinks followed) and must still lie under the resolved root ->
403; it must exist -> 404; it must be a regular file (not a directory, FIFO, socket or
device) -> 400. Only ``stat`` is used here: a FIFO is never opened, so it cannot block.

``open_regular`` re-checks at open time (``O_NOFOLLOW | O_NONBLOCK`` + ``fstat``), which
closes the window where the file is swapped for a FIFO or a symlink after the check.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from resilience.service.errors import PathRefusedError

__all__ = ["SafeFile", "open_regular", "resolve_safe"]


@dataclass(frozen=True)
class SafeFile:
    """A regular file under the root, with the mtime and size seen when it was checked."""

    path: Path
    mtime_ns: int
    size: int


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _check_syntax(raw: str) -> PurePosixPath:
    if not raw:
        raise PathRefusedError("log_path is empty")
    if "\x00" in raw:
        raise PathRefusedError("log_path contains a NUL byte")
    pure = PurePosixPath(raw)
    if ".." in pure.parts:
        raise PathRefusedError("log_path contains a '..' component")
    return pure


def resolve_safe(raw: str, root: Path) -> SafeFile:
    """Return the resolved file named by ``raw`` if it is a regular file under ``root``.

    ``root`` must already be resolved. Raises PathRefusedError with the reason and status.
    """
    pure = _check_syntax(raw)
    candidate = Path(pure) if pure.is_absolute() else root / pure
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # symlink loop, ...
        raise PathRefusedError(f"cannot resolve log_path: {exc}") from None
    if not resolved.is_relative_to(root):
        raise PathRefusedError(f"log_path is outside the allowed root {root}", status=403)
    try:
        st = resolved.stat()
    except FileNotFoundError:
        raise PathRefusedError("log_path does not exist", status=404) from None
    except PermissionError:
        raise PathRefusedError("log_path is not accessible (permission denied)", 403) from None
    except OSError as exc:
        raise PathRefusedError(f"cannot stat log_path: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise PathRefusedError(f"log_path is {_kind(st.st_mode)}, not a regular file")
    return SafeFile(resolved, st.st_mtime_ns, st.st_size)


def open_regular(path: Path) -> int:
    """Open ``path`` read-only without following a final symlink or blocking on a FIFO.

    Returns the file descriptor (caller closes). Raises PathRefusedError.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PathRefusedError(f"cannot open log_path: {exc.strerror}", status=409) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise PathRefusedError(f"log_path became {_kind(mode)}", status=409)
    return fd
