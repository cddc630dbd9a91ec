"""HttpSource: the agent-side client of `resilience serve`.

``trigger`` starts a daemon thread that posts ``POST /v1/attributions`` and then long-polls
``GET /v1/attributions/{job}/{cycle}?wait=`` until a verdict, an error or the deadline; every
HTTP call has bounded connect/read timeouts. ``verdict`` only reads what the thread stored.
A service that is down or answers garbage gives one log line naming the URL and no verdict;
nothing is raised into the agent. httpx errors are translated into ``SourceError`` right at the
calls (``_call``); the thread's target is the outer shell that logs and swallows.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from pydantic import ValidationError

from resilience.attribution import Verdict
from resilience.errors import AttributionError
from resilience.sources.base import AttributionRequest

__all__ = ["HttpSource", "SourceError"]

log = logging.getLogger("resilience.sources.http")


class SourceError(AttributionError):
    """The service could not be reached or answered something that is not a verdict."""


class HttpSource:
    """An AttributionSource backed by an attribution service at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "http",
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        poll_wait: float = 10.0,
        deadline: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._poll_wait = poll_wait
        self._deadline = deadline
        self._client = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )
        self._verdicts: dict[int, Verdict] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    # -- AttributionSource -----------------------------------------------------------------

    def trigger(self, request: AttributionRequest) -> None:
        with self._lock:
            if self._closed.is_set() or request.cycle_id in self._threads:
                return
            thread = threading.Thread(target=self._work, args=(request,), daemon=True,
                                      name=f"{self.name}-cycle{request.cycle_id}")
            self._threads[request.cycle_id] = thread
        try:
            thread.start()
        except RuntimeError as exc:  # cannot start a thread: no verdict, but never raise
            log.error("%s: cannot start the request thread for cycle %d: %s",
                      self.url, request.cycle_id, exc)

    def verdict(self, cycle_id: int) -> Verdict | None:
        with self._lock:
            return self._verdicts.get(cycle_id)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout=self._connect_timeout + self._read_timeout)
        self._client.close()

    def wait_idle(self, timeout: float) -> bool:
        """Block until every triggered request finished (tests, shutdown). True if idle."""
        end = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    # -- the request thread ------------------------------------------------------------------

    def _work(self, request: AttributionRequest) -> None:
        try:
            verdict = self._attribute(request)
        except SourceError as exc:
            if self._closed.is_set():
                return
            log.warning("attribution service %s: %s; no verdict for job %s cycle %d",
                        self.url, exc, request.job_id, request.cycle_id)
            return
        except Exception:  # outer shell of the thread: a bug here must not reach the agent
            log.exception("attribution service %s: unexpected error for cycle %d",
                          self.url, request.cycle_id)
            return
        if verdict is not None:
            with self._lock:
                self._verdicts[request.cycle_id] = verdict
            log.info("attribution service %s: cycle %d -> %s (%s)", self.url,
                     request.cycle_id, verdict.action.value, verdict.category.value)

    def _attribute(self, request: AttributionRequest) -> Verdict | None:
        posted = self._call("POST", "/v1/attributions", json=request.model_dump(mode="json"))
        if posted.status_code not in (200, 202):
            raise SourceError(f"POST /v1/attributions answered {_describe(posted)}")
        path = f"/v1/attributions/{request.job_id}/{request.cycle_id}"
        end = time.monotonic() + self._deadline
        while not self._closed.is_set():
            left = end - time.monotonic()
            if left <= 0:
                raise SourceError(f"no verdict within {self._deadline:g} s")
            wait = min(self._poll_wait, left)
            got = self._call("GET", path, params={"wait": wait}, read_timeout=wait)
            if got.status_code == 200:
                return _parse(got, request.cycle_id)
            if got.status_code != 202:
                raise SourceError(f"GET {path} answered {_describe(got)}")
        return None

    def _call(self, method: str, path: str, *, json: dict[str, Any] | None = None,
              params: dict[str, float] | None = None, read_timeout: float = 0.0
              ) -> httpx.Response:
        timeout = httpx.Timeout(self._read_timeout + read_timeout, connect=self._connect_timeout)
        try:
            return self._client.request(method, path, json=json, params=params, timeout=timeout)
        except httpx.HTTPError as exc:
            raise SourceError(f"unreachable ({type(exc).__name__}: {exc})") from None


def _describe(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text[:200]!r}"


def _parse(response: httpx.Response, cycle_id: int) -> Verdict:
    try:
        verdict = Verdict.model_validate_json(response.content)
    except ValidationError as exc:
        raise SourceError(f"answered something that is not a verdict "
                          f"({exc.error_count()} validation errors): {response.text[:200]!r}"
                          ) from None
    if verdict.cycle_id != cycle_id:
        raise SourceError(f"answered a verdict for cycle {verdict.cycle_id}, not {cycle_id}")
    return verdict
