from __future__ import annotations

from resilience.service.ratelimit import RateLimiter, RateRule, retry_after_header


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_retry_after() -> None:
    clock = FakeClock()
    rl = RateLimiter({"s": RateRule(rate=2.0, burst=3)}, clock=clock)
    assert [rl.acquire("s", "c") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.acquire("s", "c") == 0.5  # one token takes 1/rate seconds
    clock.now += 0.5
    assert rl.acquire("s", "c") == 0.0
    assert rl.acquire("s", "c") > 0


def test_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    rl = RateLimiter({"s": RateRule(rate=1.0, burst=2)}, clock=clock)
    clock.now += 1000
    assert [rl.acquire("s", "c") == 0.0 for _ in range(3)] == [True, True, False]


def test_clients_and_scopes_are_independent() -> None:
    clock = FakeClock()
    rl = RateLimiter({"a": RateRule(1.0, 1), "b": RateRule(1.0, 1)}, clock=clock)
    assert rl.acquire("a", "x") == 0.0
    assert rl.acquire("a", "x") > 0
    assert rl.acquire("a", "y") == 0.0
    assert rl.acquire("b", "x") == 0.0


def test_rate_zero_is_unlimited() -> None:
    rl = RateLimiter({"s": RateRule(0.0, 1)}, clock=FakeClock())
    assert all(rl.acquire("s", "c") == 0.0 for _ in range(1000))


def test_client_table_is_bounded() -> None:
    clock = FakeClock()
    rl = RateLimiter({"s": RateRule(1.0, 1)}, clock=clock, max_clients=2)
    for client in ("a", "b", "c"):
        rl.acquire("s", client)
    assert rl.acquire("s", "a") == 0.0  # forgotten, so a fresh burst
    assert rl.acquire("s", "c") > 0


def test_retry_after_header_is_whole_seconds_at_least_one() -> None:
    assert [retry_after_header(x) for x in (0.01, 1.0, 1.2)] == ["1", "1", "2"]
