"""The serve process: an ASGI application on uvicorn, in the caller's event loop.

The application itself (the API and console, with the worker beside it unless not) is
built by the face that asks for serving (`notifier serve` passes `api.app.create_app`), so
the runtime never imports a face.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from notifier.config import ApiSettings
from notifier.errors import InputError


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


def startup_warnings(settings: ApiSettings) -> list[str]:
    """What an operator should know before the first request: features off for want of
    a setting."""
    if settings.public_base_url is None:
        return [
            "api.public_base_url is not set: no unsubscribe links, no SMS status "
            "callbacks, webhook signatures checked against the request's own URL"
        ]
    if settings.unsubscribe_secret is None:
        return ["api.unsubscribe_secret is not set: no unsubscribe links"]
    return []


async def serve_http(asgi: ASGIApp, sock: socket.socket, *, host: str, port: int) -> None:
    """Serve `asgi` on `sock` (from `listen`) until SIGINT or SIGTERM."""
    # uvicorn's access log would print request paths, and unsubscribe paths hold tokens:
    # the app logs each request by its route template instead.
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        lifespan="on",
    )
    with sock:
        await _Server(config).serve(sockets=[sock])
