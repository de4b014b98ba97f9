"""What rules and templates see: the subject as it is now, plus the event that woke us."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.incidents import Incident
from notifier.domain.orders import Order, shipped_by_status
from notifier.store import incidents as incident_store
from notifier.store import orders as order_store


@dataclass(frozen=True, slots=True)
class Subject:
    """The current state of what a message is about."""

    type: str
    id: str
    is_open: bool
    variables: dict[str, Any]  # "incident"/"update" or "order": merged into the context
    incident: Incident | None = None
    order: Order | None = None
    shipped: bool = False  # for orders: the parcel has left at some point


async def load_subject(
    conn: AsyncConnection, subject_type: str, subject_id: str, *, update_id: int | None = None
) -> Subject:
    """The subject now. `update_id` picks the update an event is about; else the latest."""
    if subject_type == "incident":
        incident = await incident_store.get_incident(conn, int(subject_id))
        if update_id is not None:
            update = await incident_store.get_update(conn, update_id)
        else:
            updates = await incident_store.list_updates(conn, incident.id)
            update = updates[-1] if updates else None
        return Subject(
            type=subject_type,
            id=subject_id,
            is_open=incident.is_open,
            variables={
                "incident": incident.as_context(),
                "update": update.as_context() if update is not None else None,
            },
            incident=incident,
        )
    if subject_type == "order":
        order = await order_store.get_order(conn, subject_id)
        shipped = shipped_by_status(order.status)
        if shipped is None:  # delayed, delivered or returned: the history tells
            shipped = await order_store.has_shipped(conn, subject_id)
        return Subject(
            type=subject_type,
            id=subject_id,
            is_open=order.is_open,
            variables={"order": order.as_context()},
            order=order,
            shipped=shipped,
        )
    raise ValueError(f"unknown subject type {subject_type!r}")


def base_context(
    subject: Subject, event: dict[str, Any], settings: Settings, clock: Clock
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "event": event,
        "company": settings.company.model_dump(),
        "now": clock.now(),
        "incident": None,
        "update": None,
        "order": None,
        "told": None,  # operations alerts only: what the event's customer messages became
    }
    context.update(subject.variables)
    return context
