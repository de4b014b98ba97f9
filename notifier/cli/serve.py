"""`notifier serve`: the HTTP API, with the worker in the same process unless --no-worker."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Generator
from typing import Annotated

import typer
import uvicorn

from notifier.api import create_app
from notifier.app import App
from notifier.cli.runtime import console, run_with_app

log = logging.getLogger(__name__)


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


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Serve only; run `notifier worker` processes apart."),
    ] = False,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json); Ctrl-C to stop."""

    async def go(app: App) -> None:
        api = create_app(app, run_worker=not no_worker)
        settings = app.settings.api
        if settings.public_base_url is None:
            console.print(
                "api.public_base_url is not set: no unsubscribe links, no SMS status "
                "callbacks, webhook signatures checked against the request's own URL",
                style="yellow",
            )
        elif settings.unsubscribe_secret is None:
            console.print("api.unsubscribe_secret is not set: no unsubscribe links", style="yellow")
        # uvicorn's access log would print request paths, and unsubscribe paths hold tokens:
        # the app logs each request by its route template instead.
        config = uvicorn.Config(
            api, host=host, port=port, access_log=False, log_config=None, lifespan="on"
        )
        worker = "without a worker" if no_worker else "with the worker"
        console.print(f"serving on http://{host}:{port} {worker}; Ctrl-C to stop")
        await _Server(config).serve()

    run_with_app(ctx, go)
