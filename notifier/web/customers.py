"""Support: find a customer; their timeline (messages, replies, contacts) and preferences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from notifier.domain.customers import CATEGORIES
from notifier.domain.messages import ChannelName
from notifier.services.timeline import customer_timeline
from notifier.store.contacts import contacts_of
from notifier.store.customers import search_customers
from notifier.store.inbound import inbound_of
from notifier.store.preferences import opt_out_choices
from notifier.web.common import AppDep, SessionDep, render

router = APIRouter()


@router.get("/customers", response_class=HTMLResponse)
async def customer_search(
    request: Request, app: AppDep, session: SessionDep, q: str = ""
) -> Response:
    async with app.engine.connect() as conn:
        found = await search_customers(conn, q[:200], limit=50)
    return render(request, "customers.html", session, q=q, customers=found)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(
    request: Request, app: AppDep, session: SessionDep, customer_id: str
) -> Response:
    timeline = await customer_timeline(app.engine, customer_id)
    async with app.engine.connect() as conn:
        declined = await opt_out_choices(conn, customer_id)
        contacts = await contacts_of(conn, customer_id)
        replies = await inbound_of(conn, customer_id)
    preferences: list[dict[str, Any]] = [
        {
            "channel": channel.value,
            "categories": {
                category: not ({(channel.value, "*"), (channel.value, category)} & declined)
                for category in CATEGORIES
            },
        }
        for channel in ChannelName
    ]
    events: list[dict[str, Any]] = [
        {"time": e["time"], "kind": "message", "entry": e} for e in timeline["entries"]
    ]
    events += [{"time": r.received_at, "kind": "reply", "entry": r} for r in replies]
    events += [{"time": c.at, "kind": "contact", "entry": c} for c in contacts]
    events.sort(key=lambda e: e["time"], reverse=True)
    return render(
        request,
        "customer.html",
        session,
        customer=timeline["customer"],
        events=events,
        preferences=preferences,
        categories=CATEGORIES,
    )
