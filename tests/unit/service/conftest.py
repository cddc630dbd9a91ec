"""Fixtures for the service's unit tests (helpers live in svc_fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from svc_fakes import FakeEngine, make_settings, serve


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "logs"
    r.mkdir()
    (r / "ok.log").write_text("step 1\nstep 2\n")
    (r / "oom.log").write_text("torch.OutOfMemoryError: CUDA OOM\n")
    return r


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(root: Path, engine: FakeEngine) -> Iterator[httpx.Client]:
    """A real uvicorn server on 127.0.0.1:0 (in a thread) around the fake engine."""
    with serve(make_settings(root), engine) as c:
        yield c
