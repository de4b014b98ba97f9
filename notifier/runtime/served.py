"""The App an HTTP request is served by, as a FastAPI dependency for the API and the web
console alike (a module of its own: the API's app module imports the console's package,
so neither can import the other's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from notifier.runtime.app import App


async def get_app(request: Request) -> App:
    # async although it awaits nothing: FastAPI runs a plain function dependency in its
    # thread pool, a thread hand-over on every request.
    app: App = request.app.state.notifier
    return app


AppDep = Annotated[App, Depends(get_app)]
