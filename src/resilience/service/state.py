"""The service's shared parts, built once per app lifetime (in the lifespan) and injected."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from resilience.service.analysis import AnalyzeFn, AnalyzeManyFn, Analyzer
from resilience.service.jobs import JobRegistry
from resilience.service.ledger import Ledger
from resilience.service.ratelimit import RateLimiter, RateRule
from resilience.service.settings import ServiceSettings
from resilience.service.stats import Stats

__all__ = ["ServiceState", "build_state"]


@dataclass(frozen=True)
class ServiceState:
    settings: ServiceSettings
    analyzer: Analyzer
    ledger: Ledger
    stats: Stats
    limiter: RateLimiter
    jobs: JobRegistry
    executor: ThreadPoolExecutor

    def close(self) -> None:
        # Running analyses cannot be interrupted; do not wait for them on shutdown.
        self.executor.shutdown(wait=False, cancel_futures=True)


def rate_rules(s: ServiceSettings) -> dict[str, RateRule]:
    return {
        "submit": RateRule(s.submit_rate, s.submit_burst),
        "analyze": RateRule(s.analyze_rate, s.analyze_burst),
        "print": RateRule(s.print_rate, s.print_burst),
    }


def build_state(settings: ServiceSettings, analyze: AnalyzeFn, analyze_many: AnalyzeManyFn
                ) -> ServiceState:
    stats = Stats()
    ledger = Ledger(
        settings.cache_file,
        max_entries=settings.cache_max_entries,
        max_age=settings.cache_max_age,
        grace=settings.cache_grace,
    )
    executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="attrsvc-analysis")
    analyzer = Analyzer(analyze, analyze_many, ledger, stats, executor, settings.compute_timeout)
    return ServiceState(
        settings=settings,
        analyzer=analyzer,
        ledger=ledger,
        stats=stats,
        limiter=RateLimiter(rate_rules(settings)),
        jobs=JobRegistry(settings.max_jobs),
        executor=executor,
    )
