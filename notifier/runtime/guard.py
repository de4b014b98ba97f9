"""Route access for the HTTP API and the console alike: each request's line of the table in
`services.access`, bound to the routes when the application is made (a module of its own:
the API's app module imports the console's package, so neither can import the other's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from notifier.services.access import ROUTES, Access, Open, route_key
from notifier.services.apikeys import Permission, allows


def access_for(request: Request) -> Access:
    """The table's line for the route this request matched (bound at startup)."""
    route = request.scope.get("route")
    lines: dict[Any, Access] = request.app.state.access
    found = lines.get(getattr(route, "endpoint", None))
    # Not reachable once `bind_access` ran; refuse rather than let a request through.
    return found if found is not None else Permission.KEYS


def refusal(role: str, request: Request) -> str | None:
    """Why `role` may not call this route, or None when it may."""
    access = access_for(request)
    if isinstance(access, Open) or allows(role, access):
        return None
    return f"the {role} role may not do this ({access})"


def _declared(dependant: Dependant) -> Iterator[Permission]:
    for dependency in dependant.dependencies:
        permission = getattr(dependency.call, "permission", None)
        if isinstance(permission, Permission):
            yield permission
        yield from _declared(dependency)


def bind_access(api: FastAPI) -> None:
    """Find every route's line in the table; refuse to start on a route without one, a
    line without a route, or an alias that says otherwise than the table."""
    lines: dict[Any, Access] = {}
    seen: set[str] = set()
    problems: list[str] = []
    for context in iter_route_contexts(api.routes):
        for method in sorted((context.methods or set()) - {"HEAD"}):
            key = route_key(method, str(context.path_format))
            seen.add(key)
            if key not in ROUTES:
                problems.append(f"{key}: no line in services.access.ROUTES")
                continue
            lines[context.endpoint] = ROUTES[key]
            dependant = getattr(context.original_route, "dependant", None)
            for permission in _declared(dependant) if dependant is not None else ():
                if permission != ROUTES[key]:
                    problems.append(f"{key}: declares {permission}, the table {ROUTES[key]}")
    problems += [f"{key}: in the table but no such route" for key in sorted(ROUTES.keys() - seen)]
    if problems:
        raise RuntimeError("route permissions: " + "; ".join(problems))
    api.state.access = lines


def same_origin(request: Request) -> bool:
    """A form with no session to hold a CSRF token (sign-in, a customer's preferences) is
    refused when its Origin header names another site (browsers send one with every POST).
    No Origin at all: not a browser's form post."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")
