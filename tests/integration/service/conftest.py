"""Fixtures of the service's integration tests: the real engine behind a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from resilience.service.app import create_app
from resilience.service.server import BackgroundServer
from resilience.service.settings import ServiceSettings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "logs"
    r.mkdir()
    return r.resolve()


@pytest.fixture
def live(root: Path) -> Iterator[httpx.Client]:
    """`create_app` with the shipped engine, on 127.0.0.1:0, rate limits off."""
    settings = ServiceSettings(allowed_root=root, analyze_rate=0, submit_rate=0, print_rate=0)
    with BackgroundServer(create_app(settings)) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as client:
        yield client
