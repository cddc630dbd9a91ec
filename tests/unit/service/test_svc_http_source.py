"""HttpSource against scripted transports (httpx.MockTransport): no network, no patches."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from resilience.attribution import Action, Category, Verdict
from resilience.sources import AttributionRequest, AttributionSource
from resilience.sources.http import HttpSource

URL = "http://attrsvc.test:8787"
REQ = AttributionRequest(job_id="job-1", cycle_id=4, log_paths=["/logs/cycle_4/rank_0.log"],
                         user="ana", node="node-3")
VERDICT = Verdict(cycle_id=4, action=Action.STOP, category=Category.CUDA_OOM, confidence=0.9,
                  reason="rank 0 OOM")

Handler = Callable[[httpx.Request], httpx.Response]


def source(handler: Handler, **kw: float) -> HttpSource:
    return HttpSource(URL, transport=httpx.MockTransport(handler), **kw)


def scripted(*gets: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    answers = list(gets)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(202, json={"status": "pending"})
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return handle, seen


def run(src: HttpSource) -> None:
    src.trigger(REQ)
    assert src.wait_idle(timeout=10)


def test_is_an_attribution_source() -> None:
    assert isinstance(source(scripted(httpx.Response(200))[0]), AttributionSource)


def test_posts_then_polls_until_the_verdict() -> None:
    pending = httpx.Response(202, json={"status": "pending"})
    handler, seen = scripted(pending, pending, httpx.Response(200, json=VERDICT.model_dump()))
    src = source(handler)
    run(src)
    assert src.verdict(4) == VERDICT and src.verdict(5) is None
    assert [r.method for r in seen] == ["POST", "GET", "GET", "GET"]
    assert seen[0].url.path == "/v1/attributions"
    assert seen[1].url.path == "/v1/attributions/job-1/4" and "wait=" in str(seen[1].url)
    src.close()


@pytest.mark.parametrize(
    ("answer", "logged"),
    [
        (httpx.Response(200, text="<html>proxy error</html>"), "not a verdict"),
        (httpx.Response(200, json={"schema": "resilience.verdict/1", "action": "MAYBE"}),
         "not a verdict"),
        (httpx.Response(200, json=VERDICT.model_copy(update={"cycle_id": 3}).model_dump()),
         "cycle 3, not 4"),
        (httpx.Response(500, text="boom"), "HTTP 500"),
    ],
)
def test_garbage_is_logged_and_gives_no_verdict(
    caplog: pytest.LogCaptureFixture, answer: httpx.Response, logged: str
) -> None:
    src = source(scripted(answer)[0])
    with caplog.at_level(logging.WARNING, logger="resilience.sources.http"):
        run(src)
    assert src.verdict(4) is None
    [record] = caplog.records
    assert logged in record.getMessage() and URL in record.getMessage()
    src.close()


def test_transport_error_is_one_line_naming_the_url(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    src = source(refuse)
    with caplog.at_level(logging.WARNING, logger="resilience.sources.http"):
        run(src)
    assert src.verdict(4) is None
    [record] = caplog.records
    assert URL in record.getMessage() and "ConnectError" in record.getMessage()
    assert "\n" not in record.getMessage()
    src.close()


def test_deadline_bounds_polling(caplog: pytest.LogCaptureFixture) -> None:
    src = source(scripted(httpx.Response(202, json={"status": "pending"}))[0],
                 poll_wait=0.01, deadline=0.05)
    with caplog.at_level(logging.WARNING, logger="resilience.sources.http"):
        run(src)
    assert src.verdict(4) is None and "no verdict within" in caplog.text
    src.close()


def test_second_trigger_of_a_cycle_is_ignored() -> None:
    handler, seen = scripted(httpx.Response(200, json=VERDICT.model_dump()))
    src = source(handler)
    run(src)
    run(src)
    assert [r.method for r in seen] == ["POST", "GET"]
    src.close()


def test_trigger_after_close_does_nothing() -> None:
    handler, seen = scripted(httpx.Response(200, json=VERDICT.model_dump()))
    src = source(handler)
    src.close()
    src.trigger(REQ)
    assert src.wait_idle(timeout=1) and seen == [] and src.verdict(4) is None
