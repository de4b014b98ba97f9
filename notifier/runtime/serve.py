"""The HTTP API on uvicorn, in the caller's event loop (beside the worker, unless not)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Generator

import uvicorn

from notifier.api.app import create_app
from notifier.errors import InputError
from notifier.runtime.app import App


class _Server(uvicorn.Server):
    """uvicorn's server, minus raising the signal again once it has stopped gracefully:
    that would cancel closing the database, which still follows."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or an InputError saying why not.

    Bound here rather than by uvicorn, which logs a failure and exits after the startup
    message has already said "serving on".
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InputError(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(f"--port: cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


async def serve_http(
    app: App, sock: socket.socket, *, host: str, port: int, run_worker: bool
) -> None:
    """Serve on `sock` (from `listen`) until SIGINT or SIGTERM."""
    # uvicorn's access log would print request paths, and unsubscribe paths hold tokens:
    # the app logs each request by its route template instead.
    config = uvicorn.Config(
        create_app(app, run_worker=run_worker),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        lifespan="on",
    )
    with sock:
        await _Server(config).serve(sockets=[sock])
