"""Who may call which route: one table for the HTTP API and the console.

Every route of the application has a line here, as `"METHOD /path"`: the permission a caller
(an API key, or a console session signed in with one) needs, or `Open` with the reason it
needs none. The API's key check and the console's session check both look the route up in
this table, so a console page cannot drift from the API (the console's preview once showed
a customer's contact data to a viewer the API refused). `create_app` refuses to start when a
route has no line, and the routes' own declarations (`Reader`, `Ops`, ...) must agree with
it; tests walk every route for every role.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.services.apikeys import Permission

P = Permission


@dataclass(frozen=True, slots=True)
class Open:
    """No key or session needed; `why` says what protects the route instead."""

    why: str


Access = Permission | Open

ROUTES: dict[str, Access] = {
    # Documentation and probes.
    "GET /openapi.json": Open("the API's description; no data"),
    "GET /docs": Open("the API's reference page; no data"),
    "GET /docs/assets/{name}": Open("the reference page's script and style sheet"),
    "GET /healthz": Open("liveness for monitors; no data"),
    "GET /metrics": Open("counters for monitors; no customer data"),
    # The HTTP API.
    "POST /api/incidents": P.INCIDENTS,
    "GET /api/incidents": P.READ,
    "GET /api/incidents/{incident_id}": P.READ,
    "POST /api/incidents/{incident_id}/updates": P.INCIDENTS,
    "POST /api/incidents/{incident_id}/resolve": P.INCIDENTS,
    "GET /api/incidents/{incident_id}/report": P.READ,
    "POST /api/orders/{order_id}/events": P.ORDERS,
    "GET /api/orders/{order_id}": P.READ,
    "GET /api/orders": P.READ,
    "POST /api/customers": P.CUSTOMERS,
    "PATCH /api/customers/{customer_id}": P.CUSTOMERS,
    "POST /api/customers/import": P.CUSTOMERS,
    "GET /api/customers": P.READ,
    "GET /api/customers/{customer_id}": P.READ,
    "GET /api/customers/{customer_id}/timeline": P.READ,
    "POST /api/contacts": P.CONTACTS,
    "GET /api/deliveries": P.READ,
    "GET /api/deliveries/{delivery_id}": P.READ,
    "GET /api/templates": P.READ,
    "GET /api/templates/{message}/{channel}/{locale}": P.READ,
    "GET /api/templates/{message}/{channel}/{locale}/preview": P.READ,
    "POST /api/templates/preview": P.TEMPLATES,
    "GET /api/rules": P.READ,
    "GET /api/rules/check": P.READ,
    "POST /api/apikeys": P.KEYS,
    "GET /api/apikeys": P.KEYS,
    "POST /api/apikeys/{key_id}/revoke": P.KEYS,
    # Twilio and customers.
    "POST /webhooks/twilio/status": Open("Twilio's request signature"),
    "POST /webhooks/twilio/inbound": Open("Twilio's request signature"),
    "GET /u/{token}": Open("the signed token in the link"),
    "POST /u/{token}": Open("the signed token in the link"),
    "GET /u/{token}/preferences": Open("the signed token in the link"),
    "POST /u/{token}/preferences": Open("the signed token in the link, and its Origin"),
    # The console.
    "GET /console/static/{name}": Open("the console's own script and style sheet"),
    "GET /console": Open("a redirect to sign in or to the incidents"),
    "GET /console/login": Open("the sign-in form"),
    "POST /console/login": Open("the API key posted, and its Origin"),
    "POST /console/logout": P.READ,
    "GET /console/incidents": P.READ,
    "GET /console/incidents/new": P.INCIDENTS,
    "POST /console/incidents/new": P.INCIDENTS,
    "GET /console/incidents/{incident_id}": P.READ,
    "GET /console/incidents/{incident_id}/progress": P.READ,
    "GET /console/incidents/{incident_id}/watchdog": P.READ,
    "POST /console/incidents/{incident_id}/update": P.INCIDENTS,
    "POST /console/incidents/{incident_id}/resolve": P.INCIDENTS,
    "GET /console/templates": P.READ,
    "GET /console/templates/edit": P.READ,
    "POST /console/templates/preview": P.TEMPLATES,
    "POST /console/templates/save": P.TEMPLATES,
    "POST /console/templates/restore": P.TEMPLATES,
    "GET /console/customers": P.READ,
    "GET /console/customers/{customer_id}": P.READ,
}

# What a refusal says, in the console's words ("The viewer role may not ...").
DOING: dict[Permission, str] = {
    P.READ: "read this",
    P.INCIDENTS: "declare an outage, post updates or resolve incidents",
    P.ORDERS: "record order events",
    P.CUSTOMERS: "change customers",
    P.TEMPLATES: "edit or preview draft templates",
    P.CONTACTS: "record customer contacts",
    P.KEYS: "manage API keys",
}


def route_key(method: str, path: str) -> str:
    return f"{method} {path}"


def access_of(method: str, path: str) -> Access:
    """The table's line for a route; KeyError for a route without one."""
    return ROUTES[route_key(method, path)]
