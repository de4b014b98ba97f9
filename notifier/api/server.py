"""The HTTP API on uvicorn, in the caller's event loop (beside the worker, unless not)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator

import uvicorn

from notifier.api.app import create_app
from notifier.app import App


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


async def serve_http(app: App, *, host: str, port: int, run_worker: bool) -> None:
    """Serve until SIGINT or SIGTERM."""
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
    await _Server(config).serve()
