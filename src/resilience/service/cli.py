"""`resilience serve`: parse flags, resolve settings (flags > env > defaults), serve.

Exit codes: 2 for a bad setting (one line on stderr naming the field and the fix, no
traceback). On SIGINT/SIGTERM the server shuts down gracefully and then (uvicorn's behaviour)
re-raises the signal, so the process ends by that signal (130/143 in a shell).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from resilience.errors import ConfigError
from resilience.service.settings import ENV_PREFIX, ServiceSettings, load_settings

__all__ = ["add_arguments", "run"]

# flag field -> help. Values are parsed as strings and validated by the settings model, so a
# bad flag and a bad env var give the same one-line error.
_FLAGS: dict[str, str] = {
    "allowed_root": "directory whose regular files may be analysed (required)",
    "host": "interface to listen on (default 127.0.0.1)",
    "port": "TCP port (default 8787; 0 = pick a free one, printed at startup)",
    "log_level": "critical|error|warning|info|debug (default info)",
    "cache_file": "ledger file (JSONL journal) so a restart does not re-analyse (default: memory)",
    "compute_timeout": "seconds one analysis may run (default 60)",
    "max_wait": "cap on the ?wait= of verdict requests, seconds (default 30)",
    "workers": "analysis threads (default 4)",
    "submit_rate": "per-client submits per second (0 = unlimited; default 10)",
    "submit_burst": "per-client submit burst (default 60)",
    "analyze_rate": "per-client verdict requests per second (0 = unlimited; default 10)",
    "analyze_burst": "per-client verdict request burst (default 60)",
    "print_rate": "per-client /print requests per second (0 = unlimited; default 5)",
    "print_burst": "per-client /print burst (default 20)",
    "cache_max_entries": "ledger size bound (default 10000)",
    "cache_max_age": "seconds a ledger entry is kept (default 7 days)",
    "cache_grace": "seconds a verdict is reused without re-checking mtime/size (default 30)",
    "max_jobs": "(job, cycle) records kept for /jobs and /v1 (default 1000)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (f"Every flag can also be set as an environment variable {ENV_PREFIX}NAME "
                     f"(e.g. {ENV_PREFIX}ALLOWED_ROOT); flags win.")
    for field, help_text in _FLAGS.items():
        flag = "--" + field.replace("_", "-")
        parser.add_argument(flag, dest=field, default=None, metavar=field.upper(),
                            help=help_text)


def _check_cache_file(settings: ServiceSettings) -> None:
    path = settings.cache_file
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as exc:
        raise ConfigError(
            f"invalid setting cache_file ({ENV_PREFIX}CACHE_FILE / --cache-file): cannot write "
            f"{path} ({exc.strerror}); fix: choose a writable file"
        ) from None


def run(args: argparse.Namespace) -> int:
    from resilience.service.app import create_app  # heavy imports only when serving
    from resilience.service.server import bind_socket, serve, url_of

    try:
        settings = load_settings({f: getattr(args, f, None) for f in _FLAGS})
        _check_cache_file(settings)
        sock = bind_socket(settings.host, settings.port)
    except ConfigError as exc:
        print(f"resilience serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"resilience serve: listening on {url_of(sock)} (allowed root "
          f"{settings.allowed_root}, docs at {url_of(sock)}/docs)", flush=True)
    serve(create_app(settings), sock, settings.log_level)
    return 0
