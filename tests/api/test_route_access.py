"""Every route of the API and of the console, for every role, against the one table
(`services.access.ROUTES`): walked from the application's own route list, so a new route
is either in the table and checked here, or the application refuses to start."""

from __future__ import annotations

import re
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.routing import iter_route_contexts

from notifier.api import create_app
from notifier.api.deps import Reader, require
from notifier.services.access import ROUTES, Open, route_key
from notifier.services.apikeys import Permission, allows, create_key
from notifier.store.apikeys import ApiKey
from tests.api.conftest import BASE, ApiEnv

ROLES = ("viewer", "ops", "support", "admin")
_CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')


async def _setup(env: ApiEnv) -> dict[str, str]:
    await env.load_customers()
    async with await env.client("ops") as c:
        declared = await c.post(
            "/api/incidents", json={"title": "Down", "severity": "minor", "affects": ["tv"]}
        )
        assert declared.status_code == 201
        ordered = await c.post(
            "/api/orders/o-1/events", json={"status": "placed", "customer_id": "c-en"}
        )
        assert ordered.status_code == 201
    victim, _ = await create_key(env.app.engine, name="victim", role="viewer", now=env.clock.now())
    return {
        "incident_id": str(declared.json()["id"]),
        "order_id": "o-1",
        "customer_id": "c-en",
        "delivery_id": "1",
        "message": "incident_declared",
        "channel": "sms",
        "locale": "en",
        "key_id": str(victim.id),
        "token": "t" * 20,
        "name": "console.css",
    }


async def _console(env: ApiEnv, role: str) -> tuple[httpx.AsyncClient, str]:
    """A client signed in to the console with a key of `role`, and its CSRF token."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(env.api), base_url=BASE)
    signed = await client.post("/console/login", data={"key": await env.key(role)})
    assert signed.status_code == 303, signed.text
    page = await client.get("/console/incidents")
    found = _CSRF.search(page.text)
    assert found, page.text[:300]
    return client, found.group(1)


def _routes(env: ApiEnv) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(env.api.routes):
        for method in sorted((context.methods or set()) - {"HEAD"}):
            found.append((method, str(context.path_format)))
    return found


async def _call(
    env: ApiEnv, role: str | None, method: str, template: str, values: dict[str, str]
) -> httpx.Response:
    path = template.format(**values)
    if template.startswith("/console"):
        if role is None:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(env.api), base_url=BASE)
            csrf = ""
        else:
            client, csrf = await _console(env, role)
        try:
            data = {"csrf": csrf} if method == "POST" else None
            return await client.request(method, path, data=data)
        finally:
            await client.aclose()
    async with await env.client(role) as c:
        body: Any = {} if method in ("POST", "PATCH") else None
        return await c.request(method, path, json=body)


async def test_every_route_of_api_and_console_for_every_role(sqlite_env: ApiEnv) -> None:
    values = await _setup(sqlite_env)
    routes = _routes(sqlite_env)
    assert len(routes) > 50 and any(p.startswith("/console/") for _, p in routes)
    wrong: list[str] = []
    for method, template in routes:
        access = ROUTES.get(route_key(method, template))
        if access is None:
            wrong.append(f"{method} {template}: no line in the table")
            continue
        if isinstance(access, Open):
            assert access.why, template
            continue
        anonymous = await _call(sqlite_env, None, method, template, values)
        console = template.startswith("/console")
        expected_anonymous = 303 if console else 401
        if anonymous.status_code != expected_anonymous:
            wrong.append(f"anonymous on {method} {template}: {anonymous.status_code}")
        for role in ROLES:
            response = await _call(sqlite_env, role, method, template, values)
            status = response.status_code
            if allows(role, access):
                # Signing out ends on the sign-in page; anything else sent there was refused.
                to_login = response.headers.get("location") == "/console/login"
                refused = status in (401, 403) or (
                    status == 303 and to_login and template != "/console/logout"
                )
                if refused:
                    wrong.append(f"{role} on {method} {template}: {status}, should pass")
            elif status != 403:
                wrong.append(f"{role} on {method} {template}: {status}, should be 403")
    assert wrong == []


async def test_the_console_preview_is_refused_to_a_viewer_and_an_ops_key(
    sqlite_env: ApiEnv,
) -> None:
    await sqlite_env.load_customers()
    for role in ("viewer", "ops"):
        client, csrf = await _console(sqlite_env, role)
        form = {
            "csrf": csrf,
            "path": "incident_declared/sms.en.j2",
            "source": "{{ customer.phone }}",
            "customer": "c-en",
        }
        try:
            response = await client.post("/console/templates/preview", data=form)
        finally:
            await client.aclose()
        assert response.status_code == 403, (role, response.text[:200])
        assert "+12015550123" not in response.text


# At module level: the routes' annotations are strings (`from __future__`), resolved here.
KeysAdmin = Annotated[ApiKey, Depends(require(Permission.KEYS))]


def test_an_app_with_a_route_missing_from_the_table_refuses_to_start(
    sqlite_env: ApiEnv,
) -> None:
    extra = APIRouter()

    @extra.get("/api/secret-new-thing")
    async def new_thing(key: Reader) -> dict[str, str]:
        return {}

    from notifier.api import app as app_module

    original = app_module.ROUTERS
    app_module.ROUTERS = (*original, extra)
    try:
        with pytest.raises(RuntimeError, match="GET /api/secret-new-thing: no line"):
            create_app(sqlite_env.app, run_worker=False)
    finally:
        app_module.ROUTERS = original


def test_a_route_declaring_other_than_the_table_refuses_to_start(sqlite_env: ApiEnv) -> None:
    extra = APIRouter()

    # The table says READ for this route; the route says KEYS: one of them is wrong.
    @extra.get("/api/rules/check")
    async def check_again(key: KeysAdmin) -> dict[str, str]:
        return {}

    from notifier.api import app as app_module

    original = app_module.ROUTERS
    app_module.ROUTERS = (extra, *original)
    try:
        with pytest.raises(RuntimeError, match="declares apikeys:admin, the table read"):
            create_app(sqlite_env.app, run_worker=False)
    finally:
        app_module.ROUTERS = original
