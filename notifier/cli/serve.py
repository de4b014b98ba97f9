"""`notifier serve`: the HTTP API, with the worker in the same process unless --no-worker."""

from __future__ import annotations

from typing import Annotated

import typer

from notifier.cli.runtime import console, run_with_app
from notifier.runtime.app import App


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
        # Imported here: FastAPI and uvicorn would add a third to every other command's
        # start-up.
        from notifier.api.app import create_app
        from notifier.runtime.serve import listen, serve_http, startup_warnings

        sock = listen(host, port)
        for warning in startup_warnings(app.settings.api):
            console.print(warning, style="yellow")
        worker = "without a worker" if no_worker else "with the worker"
        console.print(f"serving on http://{host}:{port} {worker}; Ctrl-C to stop")
        asgi = create_app(app, run_worker=not no_worker)
        await serve_http(asgi, sock, host=host, port=port)

    run_with_app(ctx, go)
