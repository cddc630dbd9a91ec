"""Running the app under uvicorn on a socket we bind ourselves.

Binding first (then handing the listening socket to uvicorn) is what makes ``--port 0`` usable:
the real port is known before the server starts, so it can be printed in the startup line, and
connections made before uvicorn accepts simply wait in the listen backlog.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from resilience.errors import ConfigError

__all__ = ["BackgroundServer", "bind_socket", "serve", "url_of"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one. Raises ConfigError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it does, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); fix: choose another "
            "--port / RESILIENCE_ATTRSVC_PORT (0 picks a free one) or --host"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(app: FastAPI, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False,
                            timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve(app: FastAPI, sock: socket.socket, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's own handlers shut it down gracefully)."""
    _server(app, log_level).run(sockets=[sock])


class BackgroundServer:
    """The app served by uvicorn in a daemon thread (tests, or a service embedded in a tool).

    ``with BackgroundServer(app) as srv: httpx.get(srv.url + "/healthz")``
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", start_timeout: float = 30.0) -> None:
        self._app = app
        self._host, self._port = host, port
        self._server = _server(app, log_level)
        self._start_timeout = start_timeout
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> BackgroundServer:
        sock = bind_socket(self._host, self._port)
        self.url = url_of(sock)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="attrsvc-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the attribution service failed to start (see its log)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the attribution service did not start in "
                                   f"{self._start_timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
