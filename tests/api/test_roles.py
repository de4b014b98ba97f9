"""Each role against each endpoint family: 401 without a valid key, 403 for a wrong role."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest

from tests.api.conftest import ApiEnv

ROLES = ("viewer", "ops", "support", "admin")
_counter = itertools.count()


def _new_customer() -> dict[str, Any]:
    return {"id": f"new-{next(_counter)}", "name": "New One", "services": ["tv"]}


# family: (method, path, body factory or None, roles allowed)
FAMILIES: dict[str, tuple[str, str, Any, set[str]]] = {
    "incidents: read": ("GET", "/api/incidents", None, set(ROLES)),
    "incidents: report": ("GET", "/api/incidents/1/report", None, set(ROLES)),
    "incidents: declare": (
        "POST",
        "/api/incidents",
        lambda: {"title": "Down", "severity": "minor", "affects": ["tv"]},
        {"ops", "admin"},
    ),
    "incidents: update": (
        "POST",
        "/api/incidents/1/updates",
        lambda: {"message": "Still on it."},
        {"ops", "admin"},
    ),
    "customers: read": ("GET", "/api/customers/c-en", None, set(ROLES)),
    "customers: timeline": ("GET", "/api/customers/c-en/timeline", None, set(ROLES)),
    "customers: create": ("POST", "/api/customers", _new_customer, {"support", "admin"}),
    "customers: update": (
        "PATCH",
        "/api/customers/c-en",
        lambda: {"name": "Ann Lee"},
        {"support", "admin"},
    ),
    "customers: import": (
        "POST",
        "/api/customers/import",
        lambda: {"customers": [_new_customer()]},
        {"support", "admin"},
    ),
    "contacts: create": (
        "POST",
        "/api/contacts",
        lambda: {"customer_id": "c-en", "channel": "phone", "at": "2026-03-01T22:30:00Z"},
        {"support", "admin"},
    ),
    "orders: read": ("GET", "/api/orders/o-1", None, set(ROLES)),
    "orders: list": ("GET", "/api/orders?customer_id=c-en&open=true", None, set(ROLES)),
    "orders: record event": (
        "POST",
        "/api/orders/o-1/events",
        lambda: {"status": "confirmed", "customer_id": "c-en"},
        {"ops", "admin"},
    ),
    "deliveries: read": ("GET", "/api/deliveries", None, set(ROLES)),
    "deliveries: retry failed": (
        "POST",
        "/api/deliveries/retry",
        lambda: {"channel": "sms", "dry_run": True},
        {"ops", "admin"},
    ),
    "templates: read": ("GET", "/api/templates/incident_declared/sms/en", None, set(ROLES)),
    "templates: preview": (
        "GET",
        "/api/templates/incident_declared/sms/en/preview",
        None,
        set(ROLES),
    ),
    "templates: draft": (
        "POST",
        "/api/templates/preview",
        lambda: {"channel": "sms", "source": "Hello {{ customer.name }}"},
        {"support", "admin"},
    ),
    "rules: read": ("GET", "/api/rules", None, set(ROLES)),
    "rules: check": ("GET", "/api/rules/check", None, set(ROLES)),
    "api keys": ("GET", "/api/apikeys", None, {"admin"}),
    "services: read": ("GET", "/api/services", None, set(ROLES)),
    "maintenance: read": ("GET", "/api/maintenance", None, set(ROLES)),
    "maintenance: schedule": (
        "POST",
        "/api/maintenance",
        lambda: {
            "services": ["tv"],
            "starts": "2030-01-01T02:00:00Z",
            "ends": "2030-01-01T04:00:00Z",
            "message": "Upgrade",
        },
        {"ops", "admin"},
    ),
    "services: add": (
        "POST",
        "/api/services",
        lambda: {"key": f"svc-{next(_counter)}", "name": "A service"},
        {"ops", "admin"},
    ),
}


@pytest.fixture
async def roles_env(sqlite_env: ApiEnv) -> ApiEnv:
    await sqlite_env.load_customers()
    async with await sqlite_env.client("ops") as c:
        response = await c.post(
            "/api/incidents", json={"title": "Down", "severity": "minor", "affects": ["tv"]}
        )
        assert response.status_code == 201
        order = {"status": "placed", "customer_id": "c-en"}
        response = await c.post("/api/orders/o-1/events", json=order)
    assert response.status_code == 201
    return sqlite_env


async def _call(env: ApiEnv, role: str | None, family: str, token: str | None = None) -> int:
    method, path, body, _ = FAMILIES[family]
    async with await env.client(role) as c:
        if token is not None:
            c.headers["Authorization"] = f"Bearer {token}"
        response = await c.request(method, path, json=body() if body else None)
    return response.status_code


async def test_each_role_against_each_family(roles_env: ApiEnv) -> None:
    # One environment for the whole table: every mismatch is listed at once.
    wrong = []
    for family, (_, _, _, allowed) in sorted(FAMILIES.items()):
        for role in ROLES:
            status = await _call(roles_env, role, family)
            expected = (200, 201) if role in allowed else (403,)
            if status not in expected:
                wrong.append(f"{role} on {family}: {status}, expected {expected}")
    assert wrong == []


async def test_a_missing_wrong_or_revoked_key_is_401(
    roles_env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = roles_env
    caplog.set_level(logging.DEBUG)
    for family in FAMILIES:
        assert await _call(env, None, family) == 401, family
        assert await _call(env, None, family, token="ntf_" + "x" * 43) == 401, family
        assert await _call(env, None, family, token="garbage") == 401, family
    admin = await env.client("admin")
    async with admin as c:
        created = (await c.post("/api/apikeys", json={"name": "temp", "role": "admin"})).json()
        key = created["key"]
        assert await _call(env, None, "api keys", token=key) == 200
        revoked = await c.post(f"/api/apikeys/{created['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert (await c.post(f"/api/apikeys/{created['id']}/revoke")).status_code == 409
        listed = (await c.get("/api/apikeys")).json()["keys"]
    assert all("key" not in k for k in listed)
    for family in FAMILIES:
        assert await _call(env, None, family, token=key) == 401, family
    # Never a key in a log line.
    for secret in (key, *env.keys.values()):
        assert secret not in caplog.text


async def test_the_401_challenges_for_a_bearer_token(roles_env: ApiEnv) -> None:
    async with await roles_env.client(None) as c:
        response = await c.get("/api/incidents")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_permission_has_the_words_of_its_refusal() -> None:
    """A permission missing here made the console answer 500 instead of 403."""
    from notifier.services.access import DOING
    from notifier.services.apikeys import Permission

    assert set(DOING) == set(Permission)
