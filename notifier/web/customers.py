"""Support: find a customer; their timeline (messages, replies, contacts) and preferences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from notifier.domain.customers import CATEGORIES
from notifier.domain.messages import ChannelName
from notifier.services import customer_records
from notifier.services.timeline import customer_timeline
from notifier.web.common import AppDep, SessionDep, render

router = APIRouter()


@router.get("/customers", response_class=HTMLResponse)
async def customer_search(
    request: Request, app: AppDep, session: SessionDep, q: str = ""
) -> Response:
    found = await customer_records.search(app.engine, q[:200], limit=50)
    return render(request, "customers.html", session, q=q, customers=found)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(
    request: Request, app: AppDep, session: SessionDep, customer_id: str
) -> Response:
    timeline = await customer_timeline(app.engine, customer_id)
    declined = await customer_records.opt_outs(app.engine, customer_id)
    replies, contacts = await customer_records.replies_and_contacts(app.engine, customer_id)
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
