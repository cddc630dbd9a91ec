"""Test helpers of the service: a scripted fake engine and a real server around it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from resilience.attribution import Action, Category, Verdict
from resilience.errors import LogReadError
from resilience.service.app import create_app
from resilience.service.server import BackgroundServer
from resilience.service.settings import ServiceSettings


class FakeEngine:
    """Deterministic stand-in for the rules engine: STOP if the file says "OOM", else RESTART.

    ``gate`` (when set) holds every analysis until released, to observe in-flight states.
    A file whose name starts with "unreadable" raises LogReadError.
    """

    def __init__(self, gated: bool = False) -> None:
        self.calls: Counter[tuple[str, int | None]] = Counter()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, path: Path, cycle: int | None) -> Verdict:
        with self._lock:
            self.calls[(path.name, cycle)] += 1
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise LogReadError("gate never opened")
        if path.name.startswith("unreadable"):
            raise LogReadError(f"cannot read {path}")
        stop = b"OOM" in path.read_bytes()
        return Verdict(
            cycle_id=cycle or 0,
            action=Action.STOP if stop else Action.RESTART,
            category=Category.CUDA_OOM if stop else Category.UNKNOWN,
            confidence=0.9 if stop else 0.1,
            reason=f"fake verdict for {path.name}",
            source="fake",
        )

    def many(self, paths: Sequence[Path], cycle: int | None) -> Verdict:
        verdicts = [self(p, cycle) for p in paths]
        return max(verdicts, key=lambda v: v.confidence).model_copy(
            update={"reason": f"fake verdict over {len(paths)} files"})

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def make_settings(root: Path, **overrides: object) -> ServiceSettings:
    base: dict[str, object] = {"allowed_root": root, "analyze_rate": 0, "submit_rate": 0,
                               "print_rate": 0}
    base.update(overrides)
    return ServiceSettings(**base)  # type: ignore[arg-type]


@contextmanager
def serve(settings: ServiceSettings, engine: FakeEngine) -> Iterator[httpx.Client]:
    app = create_app(settings, analyze=engine, analyze_many=engine.many)
    try:
        with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
            yield c
    finally:
        engine.gate.set()  # never leave an analysis thread parked
